import Foundation
import Ledger
import Logging

/// Each bucket directory's `manifest.csv`: one row per image in it, written again from the
/// ledger after every run that changed the directory, by rename (readers see the old file
/// or the new one, never half of one).
struct ManifestWriter: Sendable {
    static let fileName = "manifest.csv"

    let ledger: Ledger
    let writer: OutputWriter
    let logger: Logger

    /// Writes the manifests of `directories` (relative to the output directory); a
    /// directory left without images loses its manifest.
    func refresh(_ directories: Set<String>) {
        for directory in directories.sorted() {
            let path = directory + "/" + Self.fileName
            let text = LockedBox(Data())
            let rows = LockedBox(0)
            do {
                try DatasetExport.writeIncludingPlainImages(.manifest(directory: directory), from: ledger, format: .csv, jsonColumns: []) { line in
                    text.modify { $0.append(line) }
                    rows.modify { $0 += 1 }
                }
            } catch {
                logger.error("\(path): not written: \(error)")
                continue
            }
            if rows.value <= 1 {
                writer.remove(path)
                continue
            }
            do {
                try writer.write(text.value, to: path)
            } catch {
                logger.error("\(path): not written: \(error)")
            }
        }
    }
}
