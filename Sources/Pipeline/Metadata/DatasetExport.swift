import Foundation
import Ledger

/// The joined metadata (`instance_overview`) as CSV (RFC 4180) or JSON Lines: what
/// `dicomdrop export` prints and each bucket directory's `manifest.csv` holds.
public enum DatasetExport {
    public enum Format: String, Sendable, CaseIterable {
        case csv, jsonl
    }

    /// Writes the rows of `selection` to `output`, a line at a time. `jsonColumns` are text
    /// columns holding JSON arrays (multi-valued attributes, `outputs`), written into JSON
    /// Lines as arrays rather than as strings.
    static func write(_ selection: Ledger.OverviewSelection, from ledger: Ledger, format: Format, jsonColumns: Set<String>,
                      to output: @escaping @Sendable (Data) throws -> Void) throws(Ledger.LedgerError) {
        let names = LockedBox<[String]>([])
        try ledger.forEachOverviewRow(selection) { columns, values in
            if !columns.isEmpty {
                names.value = columns
                if format == .csv { try output(Data(csvLine(columns.map { $0 }).utf8)) }
                return
            }
            let line: String = switch format {
            case .csv: csvLine(values.map { $0?.text ?? "" })
            case .jsonl: jsonLine(names.value, values, jsonColumns: jsonColumns)
            }
            try output(Data(line.utf8))
        }
    }

    /// The public entry: every instance, or one bucket's, with the catalog's JSON columns.
    public static func write(bucket: String?, from ledger: Ledger, format: Format, extraColumns: [String],
                             to output: @escaping @Sendable (Data) throws -> Void) throws(Ledger.LedgerError) {
        let catalog = MetadataCatalog(extraColumns: extraColumns)
        // A ledger no daemon has opened yet has the tables without their columns and view.
        try ledger.prepareMetadataColumns(catalog.columns)
        let json = Set(catalog.attributes.filter(\.multiValued).map(\.keyword)).union(["outputs"])
        try writeIncludingPlainImages(.instances(bucket: bucket), from: ledger, format: format, jsonColumns: json, to: output)
    }

    /// One RFC 4180 record: a field with a comma, quote, CR or LF is quoted, its quotes
    /// doubled; records end with CRLF.
    ///
    /// The test is on UTF-8 bytes, not Characters: comparing Characters is a string
    /// comparison per character (it was the top of a manifest's profile), and a comma that a
    /// combining mark joins into one Character must still be quoted.
    static func csvLine(_ fields: [String]) -> String {
        fields.map { field in
            field.utf8.contains(where: { $0 == 0x2C || $0 == 0x22 || $0 == 0x0D || $0 == 0x0A })
                ? "\"" + field.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : field
        }.joined(separator: ",") + "\r\n"
    }

    static func jsonLine(_ names: [String], _ values: [MetadataValue?], jsonColumns: Set<String>) -> String {
        let members = zip(names, values).map { name, value in
            let encoded: String = switch value {
            case nil: "null"
            case .integer(let number)?: "\(number)"
            case .real(let number)?: number.isFinite ? "\(number)" : "null"
            case .text(let text)? where jsonColumns.contains(name) && text.hasPrefix("["): text
            case .text(let text)?: JSONArray.quoted(text)
            }
            return JSONArray.quoted(name) + ":" + encoded
        }
        return "{" + members.joined(separator: ",") + "}\n"
    }
}

/// A value one closure sets and a later call of it reads (the column names of an export).
final class LockedBox<Value: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: Value
    init(_ value: Value) { stored = value }
    var value: Value {
        get { lock.withLock { stored } }
        set { lock.withLock { stored = newValue } }
    }

    /// Changes the value in place. `value.append(x)` goes through the getter and the setter:
    /// the getter's copy shares the buffer, so the append copies all of it every time, and a
    /// manifest built line by line that way cost O(lines²).
    func modify<Result>(_ body: (inout Value) throws -> Result) rethrows -> Result {
        try lock.withLock { try body(&stored) }
    }
}
