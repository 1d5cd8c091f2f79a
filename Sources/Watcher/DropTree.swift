@preconcurrency import Glibc
import Foundation
import Shared

extension FileStamp {
    init(_ status: stat) {
        self.init(inode: UInt64(status.st_ino), size: Int64(status.st_size),
                  modifiedNanoseconds: Int64(status.st_mtim.tv_sec) * 1_000_000_000 + Int64(status.st_mtim.tv_nsec))
    }
}

/// One file under the drop directory, as a stat pass saw it.
public struct DroppedFile: Sendable, Equatable {
    /// Relative to the drop directory.
    public let path: String
    /// The top-level entry it belongs to.
    public let unit: String
    public let stamp: FileStamp

    public init(path: String, unit: String, stamp: FileStamp) {
        self.path = path
        self.unit = unit
        self.stamp = stamp
    }
}

/// Walks the drop directory. Units are its top-level entries: a folder with everything
/// below it, or a loose file on its own. Dot files and the temporary names copy tools use
/// while writing are not files yet.
public struct DropTree: Sendable {
    public let root: URL

    public init(root: URL) { self.root = root }

    /// Names a copy in progress goes by: hidden files (Foundation's atomic writes, rsync's
    /// `.name.XXXXXX`), and the common partial-download suffixes.
    public static func isTemporaryName(_ name: String) -> Bool {
        name.hasPrefix(".") || name.hasSuffix("~") || name.hasSuffix(".part") || name.hasSuffix(".partial")
            || name.hasSuffix(".crdownload") || name.hasSuffix(".tmp")
    }

    /// The top-level units present now, sorted.
    public func units() -> [String] {
        Self.names(in: root.path).filter { !Self.isTemporaryName($0) }.sorted()
    }

    /// The entries of a directory (not `.` and `..`), names not valid UTF-8 kept by `RawPath`.
    private static func names(in directoryPath: String) -> [String] {
        guard let directory = RawPath.withSystemPath(directoryPath, { opendir($0) }) else { return [] }
        defer { closedir(directory) }
        var names: [String] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in RawPath.string(fromBytes: raw.prefix { $0 != 0 }) }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    /// Every regular file of a unit with its fingerprint, sorted by path. A unit that
    /// vanished gives no files.
    public func files(inUnit unit: String) -> [DroppedFile] {
        var result: [DroppedFile] = []
        walk(relative: unit, unit: unit, into: &result)
        return result.sorted { $0.path < $1.path }
    }

    /// Every file of every unit: what the start-up catch-up and the periodic rescan compare
    /// with the ledger.
    public func allFiles() -> [DroppedFile] {
        units().flatMap(files(inUnit:))
    }

    private func walk(relative: String, unit: String, into result: inout [DroppedFile]) {
        let absolute = absolutePath(of: relative)
        var status = stat()
        guard RawPath.withSystemPath(absolute, { lstat($0, &status) }) == 0 else { return }
        switch status.st_mode & S_IFMT {
        case S_IFREG:
            result.append(DroppedFile(path: relative, unit: unit, stamp: FileStamp(status)))
        case S_IFDIR:
            walkDirectory(absolute: absolute, relative: relative, unit: unit, into: &result)
        default:
            return  // symlinks, sockets, devices: never followed, never read
        }
    }

    /// The entries of one directory, each stat'ed by its name relative to the open
    /// directory (`fstatat`) rather than by its absolute path: a full pass over a
    /// 100,000-file drop spent a tenth of its CPU resolving the same leading directories
    /// again for every file, and as much turning each path into a C string. Its
    /// subdirectories are walked after it is closed, so a deep tree holds one descriptor.
    private func walkDirectory(absolute: String, relative: String, unit: String, into result: inout [DroppedFile]) {
        // O_NOFOLLOW: a directory swapped for a symlink since it was stat'ed is not entered.
        let opened = RawPath.withSystemPath(absolute) { open($0, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) }
        guard opened >= 0 else { return }
        guard let directory = fdopendir(opened) else { close(opened); return }
        let descriptor = dirfd(directory)
        var subdirectories: [String] = []
        while let entry = readdir(directory) {
            withUnsafeBytes(of: entry.pointee.d_name) { raw in
                let name = RawPath.string(fromBytes: raw.prefix { $0 != 0 })
                // The temporary names copy tools write under; "." and ".." are dot names too.
                if Self.isTemporaryName(name) { return }
                var status = stat()
                let found = raw.withMemoryRebound(to: CChar.self) { fstatat(descriptor, $0.baseAddress!, &status, AT_SYMLINK_NOFOLLOW) }
                guard found == 0 else { return }
                switch status.st_mode & S_IFMT {
                case S_IFREG: result.append(DroppedFile(path: relative + "/" + name, unit: unit, stamp: FileStamp(status)))
                case S_IFDIR: subdirectories.append(name)
                default: return  // symlinks, sockets, devices: never followed, never read
                }
            }
        }
        closedir(directory)
        for name in subdirectories {
            walkDirectory(absolute: absolute + "/" + name, relative: relative + "/" + name, unit: unit, into: &result)
        }
    }

    /// The path of an entry given relative to the drop directory, as system calls take it.
    public func absolutePath(of relative: String) -> String {
        root.path + "/" + relative
    }

    /// A fresh stat of one file, or nil if it is gone or no longer a regular file.
    public func stamp(of path: String) -> FileStamp? {
        var status = stat()
        guard RawPath.withSystemPath(absolutePath(of: path), { lstat($0, &status) }) == 0,
              status.st_mode & S_IFMT == S_IFREG else { return nil }
        return FileStamp(status)
    }
}
