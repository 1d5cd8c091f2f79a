import Foundation
import Ledger

/// A plain image's JSON sidecar (`<name>.json` beside `<name>.png`): what the file was, its
/// `metadata.csv` row as given (strings, in the header's order), and the quality verdict.
enum PlainImageSidecar {
    static func json(_ image: PlainImageRecord, quality: ImageQualityRecord) -> Data {
        func number(_ value: Double?) -> String {
            guard let value, value.isFinite else { return "null" }
            return "\(value)"
        }
        let features = quality.features.sorted { $0.key < $1.key }.map { JSONArray.quoted($0.key) + ":" + number($0.value) }
        var members = [
            ("kind", JSONArray.quoted(image.kind)),
            // Within its unit: the outputs leave the drop's folder names to the ledger.
            ("source", JSONArray.quoted(image.source.split(separator: "/", maxSplits: 1).last.map(String.init) ?? image.source)),
            ("width", "\(image.width)"),
            ("height", "\(image.height)"),
            ("bit_depth", "\(image.bitDepth)"),
            ("color", JSONArray.quoted(image.color)),
            ("csv", image.row.map { JSONArray.quoted($0.csv.split(separator: "/", maxSplits: 1).last.map(String.init) ?? $0.csv) } ?? "null"),
            ("csv_line", image.row.map { "\($0.line)" } ?? "null"),
            ("columns", image.row?.columns ?? "null"),
        ]
        members.append(("quality", "{" + [
            "\"suboptimal\":\(quality.suboptimal)",
            "\"reason\":" + (quality.reason.map(JSONArray.quoted) ?? "null"),
            "\"model_score\":" + number(quality.modelScore),
            "\"features\":{" + features.joined(separator: ",") + "}",
        ].joined(separator: ",") + "}"))
        return Data(("{" + members.map { JSONArray.quoted($0.0) + ":" + $0.1 }.joined(separator: ",") + "}\n").utf8)
    }
}
