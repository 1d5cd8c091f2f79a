@preconcurrency import Glibc
import CLinux
import Foundation
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

    struct Failure: Error, CustomStringConvertible {
        let path: String
        let reason: String
        var description: String { "cannot write \(path): \(reason)" }
    }

    /// Writes `data` to `relative` (under the output root) atomically.
    func write(_ data: Data, to relative: String) throws(Failure) {
        let destination = root.path + "/" + relative
        let slash = destination.lastIndex(of: "/")!
        let folder = String(destination[..<slash])
        let name = destination[destination.index(after: slash)...]
        if !madeFolders.contains(folder) {
            do {
                try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            } catch {
                throw Failure(path: folder, reason: "\(error)")
            }
            madeFolders.insert(folder)
        }
        if unnamedFiles.available {
            let descriptor = dd_open_unnamed(folder, 0o644)
            if descriptor >= 0 {
                defer { close(descriptor) }
                if let failure = Self.writeAll(data, to: descriptor) { throw Failure(path: destination, reason: failure) }
                // One name operation under the folder's lock (the link), where a named
                // temporary takes two (create, rename); and a crash leaves nothing to sweep.
                if dd_link_unnamed(descriptor, destination) == 0 { return }
                guard errno == EEXIST else { throw Failure(path: destination, reason: String(cString: strerror(errno))) }
                // Replacing an output (a reprocess): linked under a temporary name, then
                // renamed over the old one, which stays whole until then.
                let temporary = folder + "/" + Self.temporaryMarker + UUID().uuidString + "-" + name
                guard dd_link_unnamed(descriptor, temporary) == 0 else {
                    throw Failure(path: temporary, reason: String(cString: strerror(errno)))
                }
                try Self.rename(temporary, to: destination)
                return
            }
            if errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL {
                // The filesystem has no unnamed files (some network mounts): named temporaries.
                unnamedFiles.available = false
            } else if errno != ENOENT {
                throw Failure(path: folder, reason: String(cString: strerror(errno)))
            }
        }
        let temporary = folder + "/" + Self.temporaryMarker + UUID().uuidString + "-" + name
        var descriptor = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        if descriptor < 0 && errno == ENOENT {
            // Someone removed the folder while we run: make it again.
            try? FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            descriptor = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        }
        guard descriptor >= 0 else { throw Failure(path: temporary, reason: String(cString: strerror(errno))) }
        var failure = Self.writeAll(data, to: descriptor)
        if close(descriptor) != 0 && failure == nil { failure = String(cString: strerror(errno)) }
        if let failure {
            unlink(temporary)
            throw Failure(path: temporary, reason: failure)
        }
        try Self.rename(temporary, to: destination)
    }

    /// Writes every byte, or says why not.
    private static func writeAll(_ data: Data, to descriptor: Int32) -> String? {
        data.withUnsafeBytes { bytes in
            var offset = 0
            while offset < bytes.count {
                let written = Glibc.write(descriptor, bytes.baseAddress! + offset, bytes.count - offset)
                if written < 0 {
                    if errno == EINTR { continue }
                    return String(cString: strerror(errno))
                }
                offset += written
            }
            return nil
        }
    }

    private static func rename(_ temporary: String, to destination: String) throws(Failure) {
        guard Glibc.rename(temporary, destination) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(temporary)
            throw Failure(path: destination, reason: reason)
        }
    }

    func remove(_ relative: String) {
        unlink(root.appendingPathComponent(relative).path)
    }

    /// Flushes everything written so far to stable storage (one `syncfs` of the output
    /// filesystem). Call before recording outputs in the ledger.
    func makeDurable() throws(Failure) {
        let descriptor = open(root.path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard descriptor >= 0 else { throw Failure(path: root.path, reason: String(cString: strerror(errno))) }
        defer { close(descriptor) }
        guard dd_syncfs(descriptor) == 0 else { throw Failure(path: root.path, reason: "syncfs: " + String(cString: strerror(errno))) }
    }

    /// Deletes temporaries a crash left behind; returns how many.
    @discardableResult
    func sweepTemporaries() -> Int {
        guard let enumerator = FileManager.default.enumerator(atPath: root.path) else { return 0 }
        var removed = 0
        while let relative = enumerator.nextObject() as? String {
            if (relative as NSString).lastPathComponent.hasPrefix(Self.temporaryMarker) {
                unlink(root.appendingPathComponent(relative).path)
                removed += 1
            }
        }
        return removed
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
