@preconcurrency import Glibc
import CLinux
import Foundation

/// Whether inotify can see every change under a folder. It cannot on network and FUSE
/// filesystems: the kernel raises events only for writes made through this machine's own
/// mount, so files written by the NAS itself or by another host arrive in silence.
public struct FilesystemKind: Sendable, Equatable, CustomStringConvertible {
    /// The filesystem's name: from `statfs`'s magic number, or the mount table's type.
    public let name: String
    /// Where it is mounted, when it was found in the mount table.
    public let mountPoint: String?
    /// Other hosts may write to it without this machine being told.
    public let isShared: Bool

    public var description: String { mountPoint.map { "\(name) at \($0)" } ?? name }

    /// `statfs` magic numbers (linux/magic.h and the filesystems' own headers) of
    /// filesystems whose writes may come from elsewhere.
    static let sharedMagic: [Int: String] = [
        0x6969: "nfs", 0x517B: "smb", 0xFF53_4D42: "cifs", 0xFE53_4D42: "smb2", 0x6573_5546: "fuse",
        0x0102_1997: "9p", 0x00C3_6400: "ceph", 0x5346_414F: "afs", 0x7375_7245: "coda", 0x564C: "ncp",
        0x7461_636F: "ocfs2", 0x0116_1970: "gfs2", 0x0BD0_0BD0: "lustre", 0x5346_4846: "wslfs", 0x6B41_4653: "kafs",
    ]

    /// Mount-table types (the third field of /proc/self/mountinfo after the separator) of
    /// the same filesystems; `fuse.<name>` covers every FUSE filesystem (sshfs, bindfs,
    /// glusterfs, s3fs, rclone ...).
    static func isSharedType(_ type: String) -> Bool {
        let shared: Set<String> = ["nfs", "nfs4", "cifs", "smb", "smb3", "smbfs", "9p", "ceph", "glusterfs", "afs",
                                   "coda", "ncpfs", "ocfs2", "gfs2", "lustre", "fuse", "fuseblk", "davfs", "virtiofs"]
        return shared.contains(type) || type.hasPrefix("fuse.")
    }

    /// The filesystem of `path`, by `statfs`.
    public static func of(path: String) -> FilesystemKind? {
        var type: UInt = 0
        guard dd_filesystem_type(path, &type) == 0 else { return nil }
        let magic = Int(UInt32(truncatingIfNeeded: type))
        if let name = sharedMagic[magic] { return FilesystemKind(name: name, mountPoint: nil, isShared: true) }
        return FilesystemKind(name: String(format: "0x%x", magic), mountPoint: nil, isShared: false)
    }

    /// Filesystems mounted strictly below `path` that inotify cannot see into, from the
    /// mount table (a NAS share mounted inside a local drop directory).
    public static func sharedMounts(below path: String, mountInfo: String? = nil) -> [FilesystemKind] {
        let text = mountInfo ?? ((try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8)) ?? "")
        let prefix = path.hasSuffix("/") ? path : path + "/"
        var found: [FilesystemKind] = []
        for line in text.split(separator: "\n") {
            // id parent major:minor root mount-point options [optional fields] - type source super-options
            let fields = line.split(separator: " ", omittingEmptySubsequences: false)
            guard fields.count > 4, let separator = fields.firstIndex(of: "-"), separator + 1 < fields.count else { continue }
            let mountPoint = unescapeMountField(String(fields[4]))
            let type = String(fields[separator + 1])
            if mountPoint.hasPrefix(prefix), isSharedType(type) {
                found.append(FilesystemKind(name: type, mountPoint: mountPoint, isShared: true))
            }
        }
        return found
    }

    /// The mount table writes space, tab, newline and backslash as octal escapes.
    static func unescapeMountField(_ field: String) -> String {
        guard field.contains("\\") else { return field }
        var bytes: [UInt8] = []
        var utf8 = Array(field.utf8)[...]
        while let byte = utf8.popFirst() {
            if byte == UInt8(ascii: "\\"), utf8.count >= 3, let value = UInt8(String(decoding: utf8.prefix(3), as: UTF8.self), radix: 8) {
                bytes.append(value)
                utf8 = utf8.dropFirst(3)
            } else {
                bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

/// How changes under the drop directory are noticed (`watch.mode`).
public enum WatchMode: String, Sendable, CaseIterable {
    /// inotify on local filesystems, poll where inotify cannot see other hosts' writes.
    case auto
    /// Kernel events only (and the periodic rescan).
    case inotify
    /// A walk every `poll_seconds` compared with the in-memory index.
    case poll
}

/// The watcher `auto` chose for a drop directory, and why (logged at start-up).
public struct WatcherChoice: Sendable, Equatable {
    public let mode: WatchMode
    public let reason: String

    public init(mode: WatchMode, reason: String) {
        self.mode = mode
        self.reason = reason
    }

    /// Resolves `auto` by looking at the drop directory's filesystem and at the mounts below it.
    public static func choose(_ requested: WatchMode, drop: String, mountInfo: String? = nil) -> WatcherChoice {
        switch requested {
        case .inotify: return WatcherChoice(mode: .inotify, reason: "watch.mode is inotify")
        case .poll: return WatcherChoice(mode: .poll, reason: "watch.mode is poll")
        case .auto: break
        }
        if let kind = FilesystemKind.of(path: drop), kind.isShared {
            return WatcherChoice(mode: .poll, reason: "the drop directory is on \(kind.name), where inotify does not see other hosts' writes")
        }
        let below = FilesystemKind.sharedMounts(below: drop, mountInfo: mountInfo)
        if !below.isEmpty {
            let list = below.prefix(3).map(\.description).joined(separator: ", ")
            return WatcherChoice(mode: .poll, reason: "\(list) \(below.count == 1 ? "is" : "are") mounted below the drop directory, where inotify does not see other hosts' writes")
        }
        let kind = FilesystemKind.of(path: drop)
        return WatcherChoice(mode: .inotify, reason: "the drop directory is on a local filesystem (statfs type \(kind?.name ?? "unknown"))")
    }
}
