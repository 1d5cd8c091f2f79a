import Foundation
import Ledger

/// Plain images in the manifests and `dicomdrop export`: after the DICOM instances' rows, one
/// row per plain image with the columns it shares with them (`name`, `bucket`, `Rows`,
/// `Columns`, the quality features ...), then `kind`, `source` and its `metadata.csv`
/// columns, as given. In CSV those columns are added to the header (empty in DICOM rows),
/// a CSV column whose name the header already has (any case) prefixed with `csv.`; without a
/// plain image the output is what it was. In JSON Lines each plain image's line has only its
/// own members.
extension DatasetExport {
    static func writeIncludingPlainImages(_ selection: Ledger.OverviewSelection, from ledger: Ledger, format: Format,
                                          jsonColumns: Set<String>,
                                          to output: @escaping @Sendable (Data) throws -> Void) throws(Ledger.LedgerError) {
        let plain = try ledger.plainImageExportRows(selection)
        guard !plain.isEmpty else {
            try write(selection, from: ledger, format: format, jsonColumns: jsonColumns, to: output)
            return
        }
        var seenKeys: Set<String> = []
        let keys = plain.flatMap { $0.columns.map(\.name) }.filter { seenKeys.insert($0).inserted }
        let names = LockedBox<[String]>([])
        let added = LockedBox<[String]>([])
        try ledger.forEachOverviewRow(selection) { columns, values in
            if !columns.isEmpty {
                var taken = Set(columns.map { $0.lowercased() })
                var extra = ["kind", "source"].filter { taken.insert($0).inserted }
                for key in keys {
                    let name = taken.contains(key.lowercased()) ? "csv." + key : key
                    taken.insert(name.lowercased())
                    extra.append(name)
                }
                names.value = columns
                added.value = extra
                if format == .csv { try output(Data(csvLine(columns + extra).utf8)) }
                return
            }
            let line: String = switch format {
            case .csv: csvLine(values.map { $0?.text ?? "" } + Array(repeating: "", count: added.value.count))
            case .jsonl: jsonLine(names.value, values, jsonColumns: jsonColumns)
            }
            try output(Data(line.utf8))
        }
        let fixed = names.value
        let extra = added.value
        // The CSV columns' names in the header, by the CSV's own name.
        let renamed = Dictionary(uniqueKeysWithValues: zip(keys, extra.suffix(keys.count)))
        do {
            for row in plain {
                let csvValues = Dictionary(row.columns.map { ($0.name, $0.value) }, uniquingKeysWith: { first, _ in first })
                let kind = row.values["kind"], source = row.values["source"]
                switch format {
                case .csv:
                    var fields = fixed.map { row.values[$0]?.text ?? "" }
                    for name in extra {
                        switch name {
                        case "kind": fields.append(kind?.text ?? "")
                        case "source": fields.append(source?.text ?? "")
                        default: fields.append(keys.first { renamed[$0] == name }.flatMap { csvValues[$0] } ?? "")
                        }
                    }
                    try output(Data(csvLine(fields).utf8))
                case .jsonl:
                    let present = fixed.filter { row.values[$0] != nil }
                    let members = present + ["kind", "source"] + row.columns.map { renamed[$0.name] ?? $0.name }
                    let values: [MetadataValue?] = present.map { row.values[$0] } + [kind, source]
                        + row.columns.map { MetadataValue.text($0.value) }
                    try output(Data(jsonLine(members, values, jsonColumns: jsonColumns).utf8))
                }
            }
        } catch {
            throw .database("\(error)")
        }
    }
}
