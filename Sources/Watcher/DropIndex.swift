import Dispatch
import Foundation
import Shared
import Synchronization

/// The stamps of every file under the drop directory as the last pass saw them, in memory:
/// what a poll pass compares a fresh walk with, so that a pass reads no table and hashes
/// nothing. Seeded from the ledger at start-up and at each full rescan (the ledger says what
/// was recorded), updated by each pass (what has been seen and handed to the scheduler).
///
/// Passes run one at a time on a queue of their own: a walk of a large NAS tree is seconds
/// of blocking `lstat` calls, kept off the cooperative pool and the scheduling loop.
public final class DropIndex: Sendable {
    public let tree: DropTree
    private let stamps = Mutex<[String: FileStamp]>([:])
    private let queue = DispatchQueue(label: "dicomdrop.drop-index")

    public init(tree: DropTree) {
        self.tree = tree
    }

    /// What one pass found.
    public struct Pass: Sendable, Equatable {
        /// Units with a file that is new, changed or gone since the index last saw it.
        public var changedUnits: [String]
        public var files: Int
        public var seconds: Double
    }

    /// Walks the tree and compares it with the index (after replacing the index with
    /// `seed`, if given), then keeps the walk as the new index.
    public func pass(reseedingWith seed: [String: FileStamp]? = nil) async -> Pass {
        await withCheckedContinuation { continuation in
            queue.async { [self] in continuation.resume(returning: passNow(reseedingWith: seed)) }
        }
    }

    /// The pass itself, on the caller's thread.
    func passNow(reseedingWith seed: [String: FileStamp]?) -> Pass {
        let start = ContinuousClock.now
        let files = tree.allFiles()
        var fresh: [String: FileStamp] = [:]
        fresh.reserveCapacity(files.count)
        var changed: Set<String> = []
        var known = stamps.withLock { current in
            // Taken out, so that the comparison does not hold the lock.
            defer { current = [:] }
            return seed ?? current
        }
        for file in files {
            fresh[file.path] = file.stamp
            if known.removeValue(forKey: file.path) != file.stamp { changed.insert(file.unit) }
        }
        // What the index knew and the walk did not see: gone.
        for path in known.keys { changed.insert(Self.unit(of: path)) }
        stamps.withLock { $0 = fresh }
        let elapsed = ContinuousClock.now - start
        return Pass(changedUnits: changed.sorted(), files: files.count,
                    seconds: elapsed.inSeconds)
    }

    /// Files the index holds.
    public var count: Int { stamps.withLock { $0.count } }

    static func unit(of path: String) -> String {
        String(path.prefix { $0 != "/" })
    }
}
