import Synchronization

/// Lookup tables over every stored value that Bits Stored allows, kept for the images that
/// map their stored values the same way: a series shares one rescale and one window, and
/// each of its images would otherwise find its stored range (a pass over the pixels) and
/// compute a table of that range (a display value per stored value) for itself.
///
/// Only transforms that do not depend on the frame are shared: a rescale and a window (the
/// frame's range is not used), not a LUT (its entries would be part of the key) and not the
/// frame's own range. A key's table is built when the key comes a second time, so that a
/// drop whose every image has its own window builds no full table (65,536 entries for 16
/// bits, where one image's range is a few thousand values) for nothing.
final class RenderTables: Sendable {
    struct Key: Hashable, Sendable {
        let slope: Double
        let intercept: Double
        let center: Double
        let width: Double
        let function: String
        let inverted: Bool
        let bitsStored: Int
        let isSigned: Bool
        let bitDepth: Int

        /// The key of `transform` on stored values of `bitsStored` bits, or nil when the
        /// mapping depends on more than these numbers.
        init?(_ transform: GrayscaleTransform, bitsStored: Int, isSigned: Bool, bitDepth: Int) {
            guard case .rescale(let slope, let intercept) = transform.modality,
                  case .window(let center, let width, let function) = transform.voi,
                  (1...16).contains(bitsStored) else { return nil }
            (self.slope, self.intercept, self.center, self.width, self.function) = (slope, intercept, center, width, function)
            (self.inverted, self.bitsStored, self.isSigned, self.bitDepth) = (transform.inverted, bitsStored, isSigned, bitDepth)
        }

        /// The smallest stored value, the first entry of the table.
        var lowest: Int32 { isSigned ? -(Int32(1) << Int32(bitsStored - 1)) : 0 }
        var entries: Int { 1 << bitsStored }
    }

    /// Output values for the stored values `key.lowest` on, one per value: bytes for 8-bit
    /// renders, words for 16-bit ones.
    enum Table: Sendable {
        case bytes([UInt8])
        case words([UInt16])
    }

    /// A table as the cache keeps it: in two arrays, the unused one empty (a table is never
    /// empty: it has an entry per stored value Bits Stored allows), not as a `Table`.
    /// An enum whose cases each hold one array keeps its case in spare bits of the array's
    /// pointer, which LeakSanitizer cannot follow: the kept 16-bit tables showed as leaked at
    /// the end of every fuzz-pixels campaign, and a real leak of them would have looked the
    /// same. In plain fields it sees them reachable, and would report any table that is not.
    private struct Kept {
        var bytes: [UInt8] = []
        var words: [UInt16] = []

        init(_ table: Table) {
            switch table {
            case .bytes(let values): bytes = values
            case .words(let values): words = values
            }
        }

        var table: Table { words.isEmpty ? .bytes(bytes) : .words(words) }
    }

    /// Tables kept at most; past that they are all dropped and built again as keys return.
    static let capacity = 32

    private struct State {
        var tables: [Key: Kept] = [:]
        var seen: Set<Key> = []
        var builds = 0
    }

    private let state = Mutex(State())

    /// The process's tables: every worker renders through them.
    static let shared = RenderTables()

    /// The table of `key`: kept from an earlier image, built now by `build` when the key
    /// was seen once before, nil the first time (the caller renders from its own range).
    func table(for key: Key, build: (Key) -> Table) -> Table? {
        let (kept, seenBefore) = state.withLock { state -> (Table?, Bool) in
            if let kept = state.tables[key] { return (kept.table, true) }
            if state.seen.contains(key) { return (nil, true) }
            if state.seen.count >= 8 * Self.capacity { state.seen.removeAll() }
            state.seen.insert(key)
            return (nil, false)
        }
        if let kept { return kept }
        guard seenBefore else { return nil }
        // Built outside the lock: two workers may both build the same table once.
        let table = build(key)
        state.withLock { state in
            if state.tables.count >= Self.capacity { state.tables.removeAll() }
            state.tables[key] = Kept(table)
            state.builds += 1
        }
        return table
    }

    /// Tables built so far (tests).
    var builds: Int { state.withLock { $0.builds } }

    /// Whether the table of `key` is kept (tests).
    func holds(_ key: Key) -> Bool { state.withLock { $0.tables[key] != nil } }
}
