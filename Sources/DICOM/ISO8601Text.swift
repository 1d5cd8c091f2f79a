/// DICOM's DA, TM and DT values as ISO 8601 text, which SQLite's date functions and every
/// other tool read. A value that is not in the standard's form is kept as it is, so
/// nothing is lost to a guess.
public enum ISO8601Text {
    /// `20240115` → `2024-01-15` (also the old `2024.01.15`).
    public static func date(_ value: String) -> String {
        let digits = value.filter { $0 != "." }
        guard digits.count == 8, digits.allSatisfy(\.isASCIIDigit) else { return value }
        let characters = Array(digits)
        return String(characters[0..<4]) + "-" + String(characters[4..<6]) + "-" + String(characters[6..<8])
    }

    /// `101530.25` → `10:15:30.25`; `1015` → `10:15` (also the old `10:15:30`).
    public static func time(_ value: String) -> String {
        let parts = value.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        let whole = parts[0].filter { $0 != ":" }
        guard [2, 4, 6].contains(whole.count), whole.allSatisfy(\.isASCIIDigit),
              parts.count == 1 || (!parts[1].isEmpty && parts[1].allSatisfy(\.isASCIIDigit)) else { return value }
        let characters = Array(whole)
        let pairs = stride(from: 0, to: characters.count, by: 2).map { String(characters[$0..<$0 + 2]) }
        return pairs.joined(separator: ":") + (parts.count == 2 ? "." + parts[1] : "")
    }

    /// `20240115101530.25+0100` → `2024-01-15T10:15:30.25+01:00`; the parts a value has.
    public static func dateTime(_ value: String) -> String {
        var body = Substring(value)
        var offset = ""
        if let sign = body.dropFirst(4).lastIndex(where: { $0 == "+" || $0 == "-" }) {
            let zone = body[body.index(after: sign)...]
            guard zone.count == 4, zone.allSatisfy(\.isASCIIDigit) else { return value }
            offset = String(body[sign]) + zone.prefix(2) + ":" + zone.suffix(2)
            body = body[..<sign]
        }
        let whole = body.prefix { $0 != "." }
        guard [4, 6, 8, 10, 12, 14].contains(whole.count), whole.allSatisfy(\.isASCIIDigit) else { return value }
        let characters = Array(whole)
        var text = String(characters[0..<4])
        if characters.count >= 6 { text += "-" + String(characters[4..<6]) }
        if characters.count >= 8 { text += "-" + String(characters[6..<8]) }
        if characters.count > 8 { text += "T" + time(String(characters[8...]) + body.dropFirst(whole.count)) }
        else if body.count > whole.count { return value }
        return text + offset
    }
}

extension Character {
    var isASCIIDigit: Bool { ("0"..."9").contains(self) }
}
