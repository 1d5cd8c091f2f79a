import Foundation
import Testing

/// The pydicom and pydicom-data test files (`make corpus`) and pydicom's reading of each
/// (`scripts/pydicom-oracle`): real files no one on this team wrote.
enum Corpus {
    static let root = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("corpus")
    static let files = root.appendingPathComponent("files")

    struct OracleEntry: Sendable {
        let path: String
        /// pydicom's dcmread() accepted the file without force=True.
        let readByPydicom: Bool
        let forced: Bool
        let json: JSONValue?
        let frameHashes: [String]?
        var url: URL { files.appendingPathComponent(path) }
    }

    /// Every corpus file with pydicom's verdict, sorted by path. Fails loudly when the
    /// corpus was not fetched: a conformance run over zero files proves nothing.
    static func oracle() throws -> [OracleEntry] {
        let url = root.appendingPathComponent("oracle.json")
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw CorpusMissing(path: url.path)
        }
        guard case .object(let document) = try JSONValue(parsing: data),
              case .object(let entries)? = document["files"] else {
            throw CorpusMissing(path: url.path)
        }
        return entries.keys.sorted().compactMap { path in
            guard case .object(let entry)? = entries[path] else { return nil }
            var hashes: [String]?
            if case .array(let values)? = entry["frames"] {
                hashes = values.compactMap { if case .string(let hash) = $0 { return hash } else { return nil } }
            }
            return OracleEntry(path: path, readByPydicom: entry["read"] == .string("ok"),
                               forced: entry["forced"] != nil, json: entry["json"], frameHashes: hashes)
        }
    }

    struct CorpusMissing: Error, CustomStringConvertible {
        let path: String
        var description: String { "\(path) is missing: run `make corpus` (scripts/fetch-corpus, scripts/pydicom-oracle)" }
    }
}

/// A parsed JSON document, comparable with numbers compared by value (1.50 == 1.5).
enum JSONValue: Equatable, Sendable {
    case null
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    init(parsing data: Data) throws {
        self.init(any: try JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed]))
    }

    init(any value: Any) {
        switch value {
        case is NSNull: self = .null
        case let number as NSNumber: self = .number(number.doubleValue)
        case let string as String: self = .string(string)
        case let array as [Any]: self = .array(array.map(JSONValue.init(any:)))
        case let object as [String: Any]: self = .object(object.mapValues(JSONValue.init(any:)))
        default: self = .string(String(describing: value))
        }
    }

    subscript(key: String) -> JSONValue? {
        if case .object(let object) = self { return object[key] }
        return nil
    }
}
