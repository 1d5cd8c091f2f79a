import Ledger
import Shared
import Watcher

// The Watcher module stats files and the Ledger keeps what it recorded: one type,
// `FileStamp` (Shared), which the ledger calls a fingerprint.

extension DroppedFile {
    var fingerprint: Fingerprint { stamp }
}

extension DropTree {
    /// A fresh stat of one file, or nil if it is gone or no longer a regular file.
    func fingerprint(of path: String) -> Fingerprint? { stamp(of: path) }
}

extension Ledger {
    /// What the ledger recorded of every path: the seed of a full pass.
    func recordedStamps() throws(LedgerError) -> [String: FileStamp] {
        try fingerprints()
    }
}
