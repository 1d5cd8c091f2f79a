@preconcurrency import Glibc
import CLinux
import Foundation
import Shared
import Synchronization

/// Writes outputs so that a crash leaves the old file or the new one, never half of one:
/// bytes go to an unnamed file (O_TMPFILE) in the destination folder that is linked into
/// place once complete, or, to replace an existing output or where the filesystem has no
/// unnamed files, to a temporary name that `rename(2)` moves into place. Temporaries carry
/// a marker so that start-up can sweep any a crash left behind.
///
/// Durability is per batch, not per file: `makeDurable()` (one `syncfs`) runs before the
/// ledger commits the rows that point at the outputs, so a power cut never leaves a ledger
/// row whose output is empty, at the price of one filesystem sync per batch instead of an
/// fsync per file.
struct OutputWriter: Sendable {
    static let temporaryMarker = ".dicomdrop-tmp-"
    let root: URL
    /// Folders known to exist, so that each is created (and stat-ed) once per process.
    private let madeFolders = FolderCache()
    private let unnamedFiles: UnnamedFileSupport

    /// `useUnnamedFiles: false` writes as on a filesystem without O_TMPFILE.
    init(root: URL, useUnnamedFiles: Bool = true) {
        self.root = root
        self.unnamedFiles = UnnamedFileSupport(available: useUnnamedFiles)
    }

    struct Failure: Error, Equatable, CustomStringConvertible {
        let path: String
        let reason: String
        /// The system's error number when a system call on the output refused (ENOSPC ...);
        /// nil when the bytes to write could not be made.
        var code: Int32? = nil
        var description: String { "cannot write \(path): \(reason)" }

        init(path: String, reason: String, code: Int32? = nil) {
            self.path = path
            self.reason = reason
            self.code = code
        }

        init(path: String, refusal: Refusal) {
            self.init(path: path, reason: refusal.reason, code: refusal.code)
        }

        /// The system refused with `code` (errno).
        init(path: String, code: Int32) {
            self.init(path: path, refusal: .system(code))
        }

        /// The output filesystem takes no more writes (no space, over quota, read-only):
        /// not the file's fault, so the file is not recorded as failed; processing pauses
        /// until the filesystem takes writes again (`OutputPause`).
        var outputFilesystemRefuses: Bool { code.map(Self.refusingCodes.contains) ?? false }
        static let refusingCodes: Set<Int32> = [ENOSPC, EDQUOT, EROFS]
    }

    /// Why bytes did not reach an output file.
    struct Refusal: Error {
        let reason: String
        /// As in `Failure.code`.
        let code: Int32?

        static func system(_ code: Int32) -> Refusal { Refusal(reason: String(cString: strerror(code)), code: code) }
        /// The bytes could not be made (the source could not be read again ...).
        static func other(_ reason: String) -> Refusal { Refusal(reason: reason, code: nil) }
    }

    /// Writes `data` to `relative` (under the output root) atomically.
    func write(_ data: Data, to relative: String) throws(Failure) {
        try write(to: relative) { descriptor in Self.writeAll(data, to: descriptor) }
    }

    /// Writes to `relative` (under the output root) atomically what `contents` writes to the
    /// descriptor it is given (in pieces: a file too large to hold); `contents` returns nil,
    /// or why it failed. The descriptor is at offset 0 and may be written with `pwrite`.
    func write(to relative: String, contents: (Int32) -> Refusal?) throws(Failure) {
        let destination = root.path + "/" + relative
        let slash = destination.lastIndex(of: "/")!
        let folder = String(destination[..<slash])
        let name = destination[destination.index(after: slash)...]
        if !madeFolders.contains(folder) {
            if let failure = Self.makeFolder(folder) { throw failure }
            madeFolders.insert(folder)
        }
        if unnamedFiles.available, try writeUnnamed(contents, folder: folder, destination: destination, name: name) { return }
        let temporary = folder + "/" + Self.temporaryMarker + UUID().uuidString + "-" + name
        var descriptor = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        if descriptor < 0 && errno == ENOENT {
            // Someone removed the folder while we run: make it again.
            _ = Self.makeFolder(folder)
            descriptor = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        }
        guard descriptor >= 0 else { throw Failure(path: temporary, code: errno) }
        var failure = contents(descriptor)
        if close(descriptor) != 0 && failure == nil { failure = .system(errno) }
        if let failure {
            unlink(temporary)
            throw Failure(path: temporary, refusal: failure)
        }
        try Self.rename(temporary, to: destination)
    }

    /// Writes through an unnamed file (O_TMPFILE) linked into place: one name operation under
    /// the folder's lock (the link), where a named temporary takes two (create, rename), and
    /// a crash leaves nothing to sweep. False when the named-temporary way must be taken: no
    /// O_TMPFILE on this filesystem, no /proc to link through, or the folder gone meanwhile.
    private func writeUnnamed(_ contents: (Int32) -> Refusal?, folder: String, destination: String, name: Substring) throws(Failure) -> Bool {
        let descriptor = dd_open_unnamed(folder, 0o644)
        guard descriptor >= 0 else {
            let error = errno
            if error == EOPNOTSUPP || error == EISDIR || error == EINVAL {
                unnamedFiles.available = false  // some network mounts, old kernels
            } else if error != ENOENT {
                throw Failure(path: folder, code: error)
            }
            return false
        }
        var isOpen = true
        defer { if isOpen { close(descriptor) } }
        if let failure = contents(descriptor) { throw Failure(path: destination, refusal: failure) }
        if dd_link_unnamed(descriptor, destination) != 0 {
            let error = errno
            guard error == EEXIST else {
                if error == ENOENT && access("/proc/self/fd", F_OK) != 0 { unnamedFiles.available = false }
                return false
            }
            // Replacing an output (a reprocess): linked under a temporary name, then renamed
            // over the old one, which stays whole until then.
            let temporary = folder + "/" + Self.temporaryMarker + UUID().uuidString + "-" + name
            guard dd_link_unnamed(descriptor, temporary) == 0 else { return false }
            try Self.rename(temporary, to: destination)
        }
        isOpen = false
        // Filesystems with O_TMPFILE report write errors at write(2); still, a failed close
        // takes back the output it would have left.
        guard close(descriptor) == 0 else {
            let error = errno
            unlink(destination)
            throw Failure(path: destination, code: error)
        }
        return true
    }

    /// Makes `folder` and its missing parents; nil, or why not with the system's error number
    /// (ENOSPC on a full filesystem: a folder needs a block too).
    static func makeFolder(_ folder: String) -> Failure? {
        FileSystemCalls.makeFolders(folder).map { Failure(path: $0.path, code: $0.code) }
    }

    /// Writes every byte, or says why not.
    static func writeAll(_ data: Data, to descriptor: Int32) -> Refusal? {
        data.withUnsafeBytes { bytes in FileSystemCalls.writeAll(bytes, to: descriptor).map { .system($0) } }
    }

    private static func rename(_ temporary: String, to destination: String) throws(Failure) {
        guard Glibc.rename(temporary, destination) == 0 else {
            let error = errno
            unlink(temporary)
            throw Failure(path: destination, code: error)
        }
    }

    func remove(_ relative: String) {
        unlink(root.appendingPathComponent(relative).path)
    }

    /// Flushes everything written so far to stable storage (one `syncfs` of the output
    /// filesystem). Call before recording outputs in the ledger.
    func makeDurable() throws(Failure) {
        var descriptor = open(root.path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if descriptor < 0 && errno == ENOENT {
            // The output directory was removed while the daemon runs and this batch wrote no
            // file that would have made it again (only non-DICOM files): make it, as a
            // write would, rather than fail every run until a restart.
            try? FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
            descriptor = open(root.path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        }
        guard descriptor >= 0 else { throw Failure(path: root.path, code: errno) }
        defer { close(descriptor) }
        guard dd_syncfs(descriptor) == 0 else {
            let error = errno
            throw Failure(path: root.path, reason: "syncfs: " + String(cString: strerror(error)), code: error)
        }
    }

    /// Bytes free on the output filesystem for writers without privilege; nil when it
    /// cannot say.
    var freeBytes: UInt64? {
        var status = statvfs()
        guard statvfs(root.path, &status) == 0 else { return nil }
        return UInt64(status.f_bavail) * UInt64(status.f_frsize)
    }

    /// Deletes temporaries a crash left behind; returns how many.
    @discardableResult
    func sweepTemporaries() -> Int {
        var removed = 0
        sweep(folder: root.path, removed: &removed)
        return removed
    }

    /// `readdir` with its entry types: no `stat` and no `String` per output, only per folder
    /// and per temporary. A FileManager walk of 200,000 outputs was half of a restart's CPU
    /// over 100,000 files (scripts/bench-targets). Symbolic links are not followed.
    private func sweep(folder: String, removed: inout Int) {
        guard let directory = RawPath.withSystemPath(folder, { opendir($0) }) else { return }
        defer { closedir(directory) }
        while let entry = readdir(directory) {
            let type = entry.pointee.d_type
            let startsWithDot = withUnsafeBytes(of: entry.pointee.d_name) { $0[0] == UInt8(ascii: ".") }
            // Outputs are files not named with a dot: the common case costs nothing more.
            guard startsWithDot || type == UInt8(DT_DIR) || type == UInt8(DT_UNKNOWN) else { continue }
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in RawPath.string(fromBytes: raw.prefix { $0 != 0 }) }
            if name == "." || name == ".." { continue }
            let path = folder + "/" + name
            if name.hasPrefix(Self.temporaryMarker) {
                _ = RawPath.withSystemPath(path) { unlink($0) }
                removed += 1
            } else if type == UInt8(DT_DIR) || (type == UInt8(DT_UNKNOWN) && isFolder(path)) {
                sweep(folder: path, removed: &removed)
            }
        }
    }

    private func isFolder(_ path: String) -> Bool {
        var status = stat()
        return RawPath.withSystemPath(path) { lstat($0, &status) } == 0 && status.st_mode & S_IFMT == S_IFDIR
    }
}

/// A set of folder paths shared by the parallel workers.
final class FolderCache: Sendable {
    private let folders = Mutex<Set<String>>([])
    func contains(_ folder: String) -> Bool { folders.withLock { $0.contains(folder) } }
    func insert(_ folder: String) { _ = folders.withLock { $0.insert(folder) } }
}

/// Whether the output filesystem takes O_TMPFILE; found out by the first write.
final class UnnamedFileSupport: Sendable {
    private let flag: Atomic<Bool>
    init(available: Bool) { flag = Atomic(available) }
    var available: Bool {
        get { flag.load(ordering: .relaxed) }
        set { flag.store(newValue, ordering: .relaxed) }
    }
}
