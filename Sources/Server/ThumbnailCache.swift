import Foundation
import Imaging
import Synchronization

/// Thumbnails made on request and kept in memory, least recently used dropped first once
/// they hold more than `capacityBytes`. Keyed by the file, its size and mtime and the size
/// asked for: a reprocessed image gets a new thumbnail.
final class ThumbnailCache: Sendable {
    struct Key: Hashable {
        let path: String
        let size: Int64
        let modifiedSeconds: Int
        let modifiedNanoseconds: Int
        let longestSide: Int
    }

    private struct Entries {
        var items: [Key: (png: Data, used: UInt64)] = [:]
        var bytes = 0
        var clock: UInt64 = 0
    }

    private let entries = Mutex(Entries())
    let capacityBytes: Int

    init(capacityBytes: Int = 64 << 20) {
        self.capacityBytes = capacityBytes
    }

    /// The thumbnail of the PNG at `path` (absolute, already checked to be an output).
    func thumbnail(of path: String, longestSide: Int) throws -> Data {
        var status = stat()
        guard stat(path, &status) == 0 else { throw CocoaError(.fileNoSuchFile) }
        let key = Key(path: path, size: Int64(status.st_size), modifiedSeconds: status.st_mtim.tv_sec,
                      modifiedNanoseconds: status.st_mtim.tv_nsec, longestSide: longestSide)
        if let hit = entries.withLock({ state -> Data? in
            state.clock += 1
            guard let entry = state.items[key] else { return nil }
            state.items[key] = (entry.png, state.clock)
            return entry.png
        }) {
            return hit
        }
        let png = try Thumbnail.make(from: try Data(contentsOf: URL(fileURLWithPath: path)), longestSide: longestSide)
        entries.withLock { state in
            state.clock += 1
            if let old = state.items.updateValue((png, state.clock), forKey: key) { state.bytes -= old.png.count }
            state.bytes += png.count
            while state.bytes > capacityBytes, let oldest = state.items.min(by: { $0.value.used < $1.value.used }) {
                state.items[oldest.key] = nil
                state.bytes -= oldest.value.png.count
            }
        }
        return png
    }
}
