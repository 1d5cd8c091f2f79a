/// What a stat of a file says about its content without reading it: if all three are
/// unchanged since the last look, its content is taken as unchanged. The Watcher's walks
/// make them; the ledger keeps them as each source's fingerprint.
///
/// Not the device number (`st_dev`): a NAS remounted after a reboot, or an NFS client that
/// numbers its devices itself, gets another one for the same files. Inode numbers come from
/// the server (NFS fileid, SMB's serverino; FUSE passes them through) and survive a remount.
public struct FileStamp: Sendable, Hashable {
    public var inode: UInt64
    public var size: Int64
    public var modifiedNanoseconds: Int64

    public init(inode: UInt64, size: Int64, modifiedNanoseconds: Int64) {
        self.inode = inode
        self.size = size
        self.modifiedNanoseconds = modifiedNanoseconds
    }
}
