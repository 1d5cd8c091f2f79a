import Foundation

/// RFC 4180 CSV, as spreadsheets and pandas write it: a header line, fields separated by
/// commas, quoted fields that may hold commas, doubled quotes and line breaks; CRLF or LF
/// line ends; a UTF-8 byte order mark ignored. Each record keeps the line it starts on, so
/// that a problem can be reported by line number.
struct CSVRecords {
    enum Failure: Error, Equatable, CustomStringConvertible {
        case notUTF8
        case unterminatedQuote(line: Int)
        case textAfterQuote(line: Int)
        case noHeader

        var description: String {
            switch self {
            case .notUTF8: "is not UTF-8 text"
            case .unterminatedQuote(let line): "line \(line): a quoted field is never closed"
            case .textAfterQuote(let line): "line \(line): text after a closing quote (a quote inside a field must be doubled)"
            case .noHeader: "has no header line"
            }
        }
    }

    /// The header's names, trimmed.
    let header: [String]
    /// Each record after the header, with the line it starts on (from 1; the header is line 1).
    let records: [(line: Int, fields: [String])]

    init(_ data: Data) throws(Failure) {
        guard var text = String(validating: data, as: UTF8.self) else { throw .notUTF8 }
        if text.hasPrefix("\u{FEFF}") { text.removeFirst() }
        var rows: [(line: Int, fields: [String])] = []
        var fields: [String] = [], field = ""
        var line = 1, recordLine = 1
        var quoted = false, afterQuote = false, fieldStarted = false
        var scalars = text.unicodeScalars.makeIterator()
        var pending: Unicode.Scalar? = nil
        func endRecord() {
            fields.append(field)
            // A blank line is no record.
            if !(fields.count == 1 && fields[0].isEmpty) { rows.append((recordLine, fields)) }
            fields = []; field = ""; fieldStarted = false; afterQuote = false
        }
        while let scalar = pending ?? scalars.next() {
            pending = nil
            if quoted {
                if scalar == "\"" {
                    if let next = scalars.next() {
                        if next == "\"" { field.unicodeScalars.append("\"") } else { quoted = false; afterQuote = true; pending = next }
                    } else {
                        quoted = false; afterQuote = true
                    }
                } else {
                    if scalar == "\n" { line += 1 }
                    field.unicodeScalars.append(scalar)
                }
                continue
            }
            switch scalar {
            case ",":
                fields.append(field); field = ""; fieldStarted = false; afterQuote = false
            case "\r":
                continue  // CRLF: the LF ends the record; a lone CR is dropped
            case "\n":
                endRecord()
                line += 1
                recordLine = line
            case "\"" where !fieldStarted && !afterQuote:
                quoted = true; fieldStarted = true
            default:
                if afterQuote { throw .textAfterQuote(line: line) }
                field.unicodeScalars.append(scalar); fieldStarted = true
            }
        }
        if quoted { throw .unterminatedQuote(line: recordLine) }
        if fieldStarted || !fields.isEmpty || afterQuote { endRecord() }
        guard let first = rows.first else { throw .noHeader }
        header = first.fields.map { $0.trimmingCharacters(in: .whitespaces) }
        records = Array(rows.dropFirst())
    }
}
