@preconcurrency import Glibc
import CLinux
import Foundation
import Synchronization

/// Writes outputs so that a crash leaves the old file or the new one, never half of one:
/// bytes go to a temporary name in the destination folder, then `rename(2)` moves them into
/// place. Temporaries carry a marker so that start-up can sweep any a crash left behind.
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

    init(root: URL) { self.root = root }

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
        let temporary = folder + "/" + Self.temporaryMarker + UUID().uuidString + "-" + name
        var descriptor = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        if descriptor < 0 && errno == ENOENT {
            // Someone removed the folder while we run: make it again.
            try? FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            descriptor = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        }
        guard descriptor >= 0 else { throw Failure(path: temporary, reason: String(cString: strerror(errno))) }
        var failure: String?
        data.withUnsafeBytes { bytes in
            var offset = 0
            while offset < bytes.count {
                let written = Glibc.write(descriptor, bytes.baseAddress! + offset, bytes.count - offset)
                if written < 0 {
                    if errno == EINTR { continue }
                    failure = String(cString: strerror(errno))
                    return
                }
                offset += written
            }
        }
        if close(descriptor) != 0 && failure == nil { failure = String(cString: strerror(errno)) }
        if let failure {
            unlink(temporary)
            throw Failure(path: temporary, reason: failure)
        }
        guard rename(temporary, destination) == 0 else {
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
