@preconcurrency import Glibc
import Foundation

/// Writes outputs so that a crash leaves the old file or the new one, never half of one:
/// bytes go to a temporary name in the destination folder, then `rename(2)` moves them into
/// place. Temporaries carry a marker so that start-up can sweep any a crash left behind.
struct OutputWriter: Sendable {
    static let temporaryMarker = ".dicomdrop-tmp-"
    let root: URL

    struct Failure: Error, CustomStringConvertible {
        let path: String
        let reason: String
        var description: String { "cannot write \(path): \(reason)" }
    }

    /// Writes `data` to `relative` (under the output root) atomically.
    func write(_ data: Data, to relative: String) throws(Failure) {
        let destination = root.appendingPathComponent(relative)
        let folder = destination.deletingLastPathComponent()
        do {
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        } catch {
            throw Failure(path: folder.path, reason: "\(error)")
        }
        let temporary = folder.appendingPathComponent(Self.temporaryMarker + UUID().uuidString + "-" + destination.lastPathComponent)
        guard FileManager.default.createFile(atPath: temporary.path, contents: data) else {
            throw Failure(path: temporary.path, reason: String(cString: strerror(errno)))
        }
        guard rename(temporary.path, destination.path) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(temporary.path)
            throw Failure(path: destination.path, reason: reason)
        }
    }

    func remove(_ relative: String) {
        unlink(root.appendingPathComponent(relative).path)
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
