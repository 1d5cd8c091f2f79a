import Foundation

/// One frame's quality verdict and features, as the JSON sidecar's private element
/// (0099,1003) holds it: an array of these, keys sorted, absent optionals left out.
struct QualityFrameReport: Encodable, Sendable {
    let frame: Int
    let suboptimal: Bool
    let reason: String?
    let modelScore: Double?
    let features: [String: Double]

    /// The reports as JSON text: the bytes `JSONEncoder` with `.sortedKeys` writes, built
    /// by hand because Foundation's encoder cost about 2% of a CT file's CPU (the issue's
    /// "JSON without Foundation's encoders on the hot path"). A value JSON cannot hold
    /// (NaN, infinity) makes the encoder throw, and the text is then "[]", as before.
    static func json(_ reports: [QualityFrameReport]) -> String {
        var text = "["
        for (position, report) in reports.enumerated() {
            if position > 0 { text += "," }
            text += "{\"features\":{"
            for (index, key) in report.features.keys.sorted().enumerated() {
                guard let number = number(report.features[key]!) else { return "[]" }
                if index > 0 { text += "," }
                appendString(key, to: &text)
                text += ":" + number
            }
            text += "},\"frame\":\(report.frame)"
            if let score = report.modelScore {
                guard let number = number(score) else { return "[]" }
                text += ",\"modelScore\":" + number
            }
            if let reason = report.reason {
                text += ",\"reason\":"
                appendString(reason, to: &text)
            }
            text += report.suboptimal ? ",\"suboptimal\":true}" : ",\"suboptimal\":false}"
        }
        return text + "]"
    }

    /// Swift's shortest round-trip form, without a trailing ".0", as `JSONEncoder` writes.
    private static func number(_ value: Double) -> String? {
        guard value.isFinite else { return nil }
        let text = value.description
        return text.hasSuffix(".0") ? String(text.dropLast(2)) : text
    }

    /// A JSON string with `JSONEncoder`'s escapes: quote, backslash and slash, the short
    /// forms of backspace, form feed, newline, carriage return and tab, `\u00xx` for the
    /// other control characters.
    private static func appendString(_ value: String, to text: inout String) {
        text += "\""
        var plain = true
        for byte in value.utf8 where byte < 0x20 || byte == 0x22 || byte == 0x5C || byte == 0x2F { plain = false; break }
        if plain {
            text += value
        } else {
            for scalar in value.unicodeScalars {
                switch scalar {
                case "\"": text += "\\\""
                case "\\": text += "\\\\"
                case "/": text += "\\/"
                case "\u{8}": text += "\\b"
                case "\u{C}": text += "\\f"
                case "\n": text += "\\n"
                case "\r": text += "\\r"
                case "\t": text += "\\t"
                case "\u{0}"..."\u{1F}":
                    let hex = String(scalar.value, radix: 16)
                    text += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                default: text.unicodeScalars.append(scalar)
                }
            }
        }
        text += "\""
    }
}
