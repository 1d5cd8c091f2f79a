import Foundation
import Ledger
import Logging

/// Each bucket directory's `manifest.csv`: one row per image in it, written again from the
/// ledger by rename (readers see the old file or the new one, never half of one).
///
/// What to write is the ledger's stale marks (`Ledger.staleManifests`), not a list in
/// memory: runs mark the directories they change when they close, and the daemon writes them
/// once the scheduler is idle, so a burst of runs into one directory rewrites its manifest
/// once, and a crash in between leaves the marks for the next start.
struct ManifestWriter: Sendable {
    static let fileName = "manifest.csv"

    let ledger: Ledger
    let writer: OutputWriter
    let logger: Logger

    /// Writes the manifests marked stale (those of `directories` only, when given), then
    /// clears their marks; a manifest that could not be written keeps its mark and is tried
    /// again by the next call. True when every one was written and its mark cleared.
    @discardableResult
    func writeStale(in directories: Set<String>? = nil) -> Bool {
        do {
            return try ledger.whileWritingManifests { writeStaleHoldingLock(in: directories) }
        } catch {
            logger.error("manifests not written: \(error)")
            return false
        }
    }

    private func writeStaleHoldingLock(in directories: Set<String>?) -> Bool {
        let stale: [Ledger.StaleManifest]
        do {
            stale = try ledger.staleManifests().filter { directories?.contains($0.directory) ?? true }
        } catch {
            logger.error("manifests not written: \(error)")
            return false
        }
        let written = stale.filter { write($0.directory) }
        do {
            try ledger.clearStaleManifests(written)
        } catch {
            // Written all the same; the marks left make the next call write them again.
            logger.error("manifests written but not recorded as written: \(error)")
            return false
        }
        return written.count == stale.count
    }

    /// Marks the manifests of `directories` stale and writes them.
    func refresh(_ directories: Set<String>) {
        do {
            try ledger.markManifestsStale(directories)
        } catch {
            logger.error("manifests not written: \(error)")
            return
        }
        writeStale(in: directories)
    }

    /// Writes one directory's manifest (relative to the output directory); a directory left
    /// without images loses its manifest. False when it could not.
    private func write(_ directory: String) -> Bool {
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
            return false
        }
        if rows.value <= 1 {
            writer.remove(path)
            return true
        }
        do {
            try writer.write(text.value, to: path)
            return true
        } catch {
            logger.error("\(path): not written: \(error)")
            return false
        }
    }
}
