import Foundation

/// A CSV file read by RFC 4180 (as Python's csv module and pandas write it): a header row,
/// fields separated by commas, quoted fields holding commas, line breaks and doubled quotes;
/// a UTF-8 byte order mark is dropped; lines end with CRLF or LF. A row shorter than the
/// header lacks the last columns' values (absent, as pandas reads them); a row longer than
/// it is an error, as are an unterminated quote, text after a closing quote, an empty or
/// repeated column name, and bytes that are not UTF-8.
struct CSVTable: Sendable, Equatable {
    struct Row: Sendable, Equatable {
        /// The line the row starts on (the header is line 1).
        let line: Int
        /// One value per column present in the row, in the header's order.
        let values: [String]
    }

    let header: [String]
    let rows: [Row]

    /// Why a CSV file cannot be read, with the line (1-based) where it went wrong.
    enum Failure: Error, Sendable, Equatable, CustomStringConvertible {
        /// The file could not be read: the system's reason.
        case unreadable(String)
        case notUTF8
        case empty
        case unterminatedQuote(line: Int)
        case textAfterQuote(line: Int)
        case tooManyFields(line: Int, fields: Int, columns: Int)
        case badColumnName(String, reason: String)

        var description: String {
            switch self {
            case .unreadable(let reason): "cannot be read: \(reason)"
            case .notUTF8: "not UTF-8 text"
            case .empty: "no header row"
            case .unterminatedQuote(let line): "line \(line): a quoted field is never closed (a quote inside a field must be doubled)"
            case .textAfterQuote(let line): "line \(line): text after a closing quote (a quote inside a field must be doubled, and the field quoted)"
            case .tooManyFields(let line, let fields, let columns): "line \(line): \(fields) fields, the header has \(columns) columns"
            case .badColumnName(let name, let reason): "column \"\(name)\": \(reason)"
            }
        }
    }

    /// The value of `column` in `row`, nil when the row is too short to have it.
    func value(_ column: Int, in row: Row) -> String? {
        column < row.values.count ? row.values[column] : nil
    }

    init(parsing data: Data) throws(Failure) {
        var bytes = data[...]
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { bytes = bytes.dropFirst(3) }
        guard let text = String(validating: bytes, as: UTF8.self) else { throw .notUTF8 }
        var records = try Self.records(text)
        // A last line that is empty (a file ending in a line break) is no record; blank lines
        // within are skipped, as Python's csv module does.
        records.removeAll { $0.fields == [""] }
        guard let first = records.first else { throw .empty }
        header = first.fields.map { $0.trimmingCharacters(in: .whitespaces) }
        var seen: Set<String> = []
        for name in header {
            if name.isEmpty { throw .badColumnName(name, reason: "an empty column name") }
            if !seen.insert(name).inserted { throw .badColumnName(name, reason: "named twice in the header") }
        }
        var rows: [Row] = []
        for record in records.dropFirst() {
            if record.fields.count > header.count {
                throw .tooManyFields(line: record.line, fields: record.fields.count, columns: header.count)
            }
            rows.append(Row(line: record.line, values: record.fields))
        }
        self.rows = rows
    }

    /// The records of the text with the line each starts on.
    private static func records(_ text: String) throws(Failure) -> [(line: Int, fields: [String])] {
        var records: [(line: Int, fields: [String])] = []
        var fields: [String] = []
        var field = ""
        var line = 1, recordLine = 1
        var quoted = false, afterQuote = false
        var scalars = text.unicodeScalars.makeIterator()
        var pending: Unicode.Scalar?
        func endRecord() {
            fields.append(field)
            records.append((recordLine, fields))
            fields = []
            field = ""
            afterQuote = false
        }
        while let scalar = pending ?? scalars.next() {
            pending = nil
            if quoted {
                if scalar == "\"" {
                    let next = scalars.next()
                    if next == "\"" {
                        field.unicodeScalars.append("\"")
                    } else {
                        quoted = false
                        afterQuote = true
                        pending = next
                    }
                } else {
                    if scalar == "\n" { line += 1 }
                    field.unicodeScalars.append(scalar)
                }
                continue
            }
            switch scalar {
            case ",":
                fields.append(field)
                field = ""
                afterQuote = false
            case "\r":
                let next = scalars.next()
                if next != "\n" { pending = next }
                endRecord()
                line += 1
                recordLine = line
            case "\n":
                endRecord()
                line += 1
                recordLine = line
            case "\"" where field.isEmpty && !afterQuote:
                quoted = true
            default:
                if afterQuote { throw .textAfterQuote(line: line) }
                field.unicodeScalars.append(scalar)
            }
        }
        if quoted { throw .unterminatedQuote(line: recordLine) }
        if !field.isEmpty || !fields.isEmpty || afterQuote { endRecord() }
        return records
    }
}
