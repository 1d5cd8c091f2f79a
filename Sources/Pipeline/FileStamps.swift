import Ledger
import Watcher

// The Watcher module stats files (FileStamp), the Ledger keeps what it recorded
// (Fingerprint): the same three values, converted here and nowhere else.

extension Fingerprint {
    init(_ stamp: FileStamp) {
        self.init(inode: stamp.inode, size: stamp.size, modifiedNanoseconds: stamp.modifiedNanoseconds)
    }

    var stamp: FileStamp { FileStamp(inode: inode, size: size, modifiedNanoseconds: modifiedNanoseconds) }
}

extension DroppedFile {
    var fingerprint: Fingerprint { Fingerprint(stamp) }
}

extension DropTree {
    /// A fresh stat of one file, or nil if it is gone or no longer a regular file.
    func fingerprint(of path: String) -> Fingerprint? { stamp(of: path).map(Fingerprint.init) }
}

extension Ledger {
    /// What the ledger recorded of every path, as stamps: the seed of a full rescan.
    func recordedStamps() throws(LedgerError) -> [String: FileStamp] {
        try sources().mapValues(\.fingerprint.stamp)
    }
}
