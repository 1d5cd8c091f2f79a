import Foundation
import Ledger
import Watcher

/// The `metadata.csv` files of one unit, read at the start of its run, and the row each file
/// of the unit has. An image belongs to the nearest `metadata.csv` above it (in its folder or
/// a parent folder within the unit); a row names its image relative to the CSV's folder, by
/// the first column called `filename`, `file_name`, `file`, `image` or `path` (any case; else
/// the first column), prefixed by a `folder` column when there is one (the COVID chest X-ray
/// dataset's layout). A name that is no relative path found there is looked up by its last
/// component, when exactly one image below the CSV has it.
struct PlainDatasets: Sendable {
    static let fileName = "metadata.csv"
    /// What counts as an image file for the extra-image report: by name, since the report is
    /// made before anything is read. Processing itself goes by the first bytes.
    static let imageExtensions: Set<String> = ["png", "jpg", "jpeg", "jpe"]
    static let fileColumns = ["filename", "file_name", "file", "image", "path"]

    /// One CSV: its rows, or why it cannot be read.
    struct Table: Sendable {
        let path: String
        let table: CSVTable?
        let failure: CSVTable.Failure?
    }

    /// The CSVs by path (relative to the drop directory).
    let tables: [String: Table]
    /// The row of each image a row names, by path.
    let rows: [String: PlainImageRow]
    /// Each row's columns, by path, for the filters.
    let columns: [String: [String: String]]
    let problems: [PlainImageProblem]
    /// Files whose content is known but whose row changed: processed again.
    var reevaluate: Set<String> = []

    static let none = PlainDatasets(tables: [:], rows: [:], columns: [:], problems: [])

    /// Reads the unit's CSVs (`read` gives a file's bytes by its path relative to the drop
    /// directory) and matches their rows with `files`.
    static func read(unit: String, files: [String], read: (String) throws -> Data) -> PlainDatasets {
        let csvPaths = files.filter { ($0 as NSString).lastPathComponent == fileName }
        guard !csvPaths.isEmpty else { return .none }
        var tables: [String: Table] = [:]
        var rows: [String: PlainImageRow] = [:]
        var columns: [String: [String: String]] = [:]
        var problems: [PlainImageProblem] = []
        let folders = Dictionary(uniqueKeysWithValues: csvPaths.map { (Self.folder(of: $0), $0) })
        /// The CSV an image belongs to: the nearest above it.
        func owner(of path: String) -> String? {
            var folder = Self.folder(of: path)
            while true {
                if let csv = folders[folder] { return csv }
                if folder.isEmpty { return nil }
                folder = Self.folder(of: folder)
            }
        }
        var filesByCSV: [String: [String]] = [:]
        for file in files where !folders.values.contains(file) {
            if let csv = owner(of: file) { filesByCSV[csv, default: []].append(file) }
        }
        for csvPath in csvPaths.sorted() {
            let table: CSVTable
            do throws(CSVTable.Failure) {
                let data: Data
                do { data = try read(csvPath) } catch { throw .unreadable("\(error)") }
                table = try CSVTable(parsing: data)
            } catch {
                tables[csvPath] = Table(path: csvPath, table: nil, failure: error)
                problems.append(PlainImageProblem(unit: unit, kind: .badCSV, name: csvPath, csv: csvPath, line: nil, detail: "\(error)"))
                continue
            }
            tables[csvPath] = Table(path: csvPath, table: table, failure: nil)
            let folder = Self.folder(of: csvPath)
            let below = filesByCSV[csvPath] ?? []
            let present = Set(below)
            let byLastComponent = Dictionary(grouping: below) { ($0 as NSString).lastPathComponent }
            let lowered = table.header.map { $0.lowercased() }
            let fileColumn = fileColumns.lazy.compactMap { lowered.firstIndex(of: $0) }.first ?? 0
            let folderColumn = lowered.firstIndex(of: "folder")
            var named: Set<String> = []
            for row in table.rows {
                let written = (table.value(fileColumn, in: row) ?? "").trimmingCharacters(in: .whitespaces)
                let prefix = folderColumn.flatMap { table.value($0, in: row) }?.trimmingCharacters(in: .whitespaces) ?? ""
                let relative = prefix.isEmpty ? written : prefix + "/" + written
                guard !written.isEmpty else {
                    problems.append(PlainImageProblem(unit: unit, kind: .missingImage, name: "(line \(row.line))", csv: csvPath, line: row.line,
                                                      detail: "the row names no file (column \(table.header[fileColumn]) is empty)"))
                    continue
                }
                let candidate = folder.isEmpty ? relative : folder + "/" + relative
                let path: String?
                if present.contains(candidate) {
                    path = candidate
                } else if let matches = byLastComponent[(written as NSString).lastPathComponent], matches.count == 1 {
                    path = matches[0]
                } else {
                    path = nil
                }
                guard let path else {
                    problems.append(PlainImageProblem(unit: unit, kind: .missingImage, name: relative, csv: csvPath, line: row.line,
                                                      detail: "no such image below \(folder.isEmpty ? "the drop directory" : folder)"))
                    continue
                }
                guard named.insert(path).inserted else {
                    problems.append(PlainImageProblem(unit: unit, kind: .duplicateRow, name: relative, csv: csvPath, line: row.line,
                                                      detail: "\(path) is named by an earlier row, which is used"))
                    continue
                }
                let pairs = zip(table.header, row.values).map { ($0, $1) }
                rows[path] = PlainImageRow(csv: csvPath, line: row.line,
                                           columns: "{" + pairs.map { JSONArray.quoted($0) + ":" + JSONArray.quoted($1) }.joined(separator: ",") + "}")
                columns[path] = Dictionary(pairs, uniquingKeysWith: { first, _ in first })
            }
            for file in below.sorted() where !named.contains(file)
                && imageExtensions.contains((file as NSString).pathExtension.lowercased()) {
                problems.append(PlainImageProblem(unit: unit, kind: .extraImage, name: file, csv: csvPath, line: nil,
                                                  detail: "no row of \(csvPath) names it: processed without CSV columns"))
            }
        }
        return PlainDatasets(tables: tables, rows: rows, columns: columns, problems: problems)
    }

    /// The folder of a path relative to the drop directory ("" at the top).
    static func folder(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "" }
        return String(path[..<slash])
    }
}
