import DICOM
import Foundation
import Testing

/// docs/CONFORMANCE.md states what the reader supports; these tests keep it true.
@Suite struct ConformanceDocumentTests {
    static var document: String {
        let url = Corpus.root.deletingLastPathComponent().appendingPathComponent("docs/CONFORMANCE.md")
        return (try? String(contentsOf: url, encoding: .utf8)) ?? ""
    }

    @Test func everyRegisteredTransferSyntaxIsListedWithItsName() {
        let document = Self.document
        for syntax in TransferSyntax.registry {
            let name = syntax.name.replacingOccurrences(of: " (retired)", with: "")
            #expect(document.contains("| \(name)") && document.contains("| \(syntax.uid) |"), "\(syntax.uid) \(syntax.name)")
        }
    }

    /// The verdict counts the document reports, keyed by the verdict text.
    static func documentedCounts() -> [String: Int] {
        var counts: [String: Int] = [:]
        for line in document.split(separator: "\n") where line.hasPrefix("| ") {
            let cells = line.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
            if cells.count == 2, let count = Int(cells[1]) { counts[cells[0]] = count }
        }
        return counts
    }
}
