import Foundation
import Ledger
import Logging

/// Fills the metadata tables for content processed before they existed: each processed
/// content without an instance row gets its rows from its JSON sidecar, which holds the
/// same de-identified dataset the tables are made from. Nothing is dropped or re-rendered;
/// a sidecar that is gone or unreadable is reported, and `--reprocess` fills its rows.
struct MetadataBackfill {
    let ledger: Ledger
    let output: URL
    let catalog: MetadataCatalog
    let logger: Logger

    /// Rows written per transaction.
    static let batchSize = 256

    /// Returns how many instances got rows, and the sidecars that could not be read.
    @discardableResult
    func run() throws(Ledger.LedgerError) -> (filled: Int, unreadable: [String]) {
        var filled = 0
        var unreadable: [String] = []
        var after = ""
        while true {
            let page = try ledger.contentsWithoutMetadata(after: after, limit: Self.batchSize)
            guard let last = page.last else { break }
            after = last.sha256
            var rows: [(sha256: String, metadata: InstanceMetadata)] = []
            for content in page {
                let url = output.appendingPathComponent(content.sidecar)
                do {
                    let attributes = try SidecarAttributes(json: Data(contentsOf: url))
                    let name = String(content.sidecar.split(separator: "/").last?.dropLast(".json".count) ?? "")
                    rows.append((content.sha256, catalog.metadata(of: attributes, name: name)))
                } catch {
                    unreadable.append(content.sidecar)
                }
            }
            try ledger.recordMetadata(rows)
            filled += rows.count
        }
        if filled > 0 { logger.info("metadata tables: filled the rows of \(filled) instance(s) processed before the tables existed, from their JSON sidecars") }
        if !unreadable.isEmpty {
            let shown = unreadable.prefix(5).joined(separator: ", ")
            logger.warning("metadata tables: \(unreadable.count) JSON sidecar(s) could not be read (\(shown)\(unreadable.count > 5 ? ", ..." : "")): dicomdrop --reprocess FOLDER fills their rows")
        }
        return (filled, unreadable)
    }
}
