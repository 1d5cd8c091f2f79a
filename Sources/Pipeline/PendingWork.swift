import Foundation
import Ledger

/// Compares the drop tree with the ledger: the units with a file that is new, changed
/// (fingerprint differs) or gone. This is the start-up catch-up and the periodic rescan;
/// it stats every file and hashes none.
public enum PendingWork {
    public static func units(in tree: DropTree, ledger: Ledger) throws(Ledger.LedgerError) -> [String] {
        let known = try ledger.sources()
        var pending: Set<String> = []
        var seen: Set<String> = []
        for file in tree.allFiles() {
            seen.insert(file.path)
            if known[file.path]?.fingerprint != file.fingerprint { pending.insert(file.unit) }
        }
        for (path, record) in known where !seen.contains(path) {
            pending.insert(record.unit)
        }
        return pending.sorted()
    }
}
