/// Decides when a unit of the drop directory is ready: nothing under it has changed for
/// `settleSeconds`, and two stat passes in a row, `recheckSeconds` apart, saw the same files
/// with the same sizes and modification times. A file still being copied is never read. The
/// first pass is made `recheckSeconds` before the quiet period ends, so that the second,
/// confirming one falls on its end: a quiet unit is ready `settleSeconds` after its last
/// change, not a recheck later. With `settleSeconds` 0 the first stat pass decides.
///
/// A unit still being written is not walked at every change: once a pass has seen it, the
/// next pass after a change waits `firstBackoffSeconds`, doubled at every pass that finds
/// the unit changed again, up to the recheck. A copy of N files with `settle_seconds` of a
/// second or less (where the first pass comes with the change) made a walk of the unit per
/// batch of events, O(N^2) stats (2,000 files copied one by one: 5.6 s of CPU); now about
/// log2(copy time / 10 ms) walks plus one per recheck. A unit that changed for a moment is
/// ready about 10 ms after `settleSeconds`; one that changed for longer, at most a recheck
/// after.
///
/// Pure logic over times and snapshots the caller supplies, so it can be tested without
/// clocks or disks. `Reason` records what first made a unit pending (start-up, inotify, rescan).
public struct SettleTracker<Snapshot: Equatable & Sendable, Reason: Sendable>: Sendable {
    public let settleSeconds: Double
    /// Time between the two stat passes: the quiet period, a second at most. A writer that
    /// pauses for less than this between writes is always caught growing.
    public let recheckSeconds: Double
    /// The wait, after a pass, before the next pass of a unit that changed meanwhile.
    public static var firstBackoffSeconds: Double { 0.01 }

    struct Pending: Sendable {
        var reason: Reason
        var lastChange: Double
        var nextCheck: Double
        var snapshot: Snapshot?
        /// When the unit's last stat pass was made; nil before its first.
        var lastPass: Double?
        /// How long after `lastPass` a change may bring the next pass: 0 until a pass has
        /// found the unit changed since the one before, then doubling up to the recheck.
        var backoff: Double = 0
    }

    private var pending: [String: Pending] = [:]

    public init(settleSeconds: Double) {
        self.settleSeconds = settleSeconds
        recheckSeconds = max(0.1, min(settleSeconds, 1))
    }

    public var pendingUnits: [String] { pending.keys.sorted() }

    /// When the next stat pass of any unit is due; nil when none is pending.
    public var nextCheck: Double? { pending.values.map(\.nextCheck).min() }

    /// When `unit`'s next stat pass is due; nil when it is not pending.
    public func nextCheck(of unit: String) -> Double? { pending[unit]?.nextCheck }

    /// The first pass after a change: a recheck before the quiet period ends (at once for a
    /// quiet period of a second or less, which has no `waiting` part then).
    private func firstCheck(after change: Double) -> Double {
        change + max(0, settleSeconds - recheckSeconds)
    }

    /// Something changed under `unit`: its quiet period starts again. The first reason stays.
    public mutating func touch(_ unit: String, reason: Reason, at now: Double) {
        if var entry = pending[unit] {
            entry.lastChange = now
            entry.nextCheck = firstCheck(after: now)
            if let lastPass = entry.lastPass {
                // Changed since a pass: still being written, so not walked again at once.
                entry.nextCheck = max(entry.nextCheck, lastPass + max(entry.backoff, Self.firstBackoffSeconds))
            }
            entry.snapshot = nil
            pending[unit] = entry
        } else {
            pending[unit] = Pending(reason: reason, lastChange: now, nextCheck: firstCheck(after: now), snapshot: nil)
        }
    }

    /// Units due for a stat pass now.
    public func unitsToCheck(at now: Double) -> [String] {
        pending.filter { $0.value.nextCheck <= now }.keys.sorted()
    }

    /// Reports a stat pass of `unit`. Returns the reason it became pending when the unit is
    /// ready (the snapshot equals the previous pass's), and forgets it; otherwise keeps the
    /// snapshot and schedules the next pass.
    public mutating func observe(_ unit: String, snapshot: Snapshot, at now: Double) -> Reason? {
        guard var entry = pending[unit] else { return nil }
        // settle_seconds: 0 asks for no settling (a drop filled before the daemon looks, as
        // in a benchmark): one stat pass is enough.
        if settleSeconds == 0 || entry.snapshot == snapshot {
            pending[unit] = nil
            return entry.reason
        }
        if entry.lastPass != nil && entry.snapshot == nil {
            // Touched since the previous pass: the unit is busy, and its passes back off.
            entry.backoff = min(recheckSeconds, max(Self.firstBackoffSeconds, 2 * entry.backoff))
        }
        entry.lastPass = now
        entry.snapshot = snapshot
        // Never before the quiet period's end, even when a pass came early.
        entry.nextCheck = max(now + recheckSeconds, entry.lastChange + settleSeconds)
        pending[unit] = entry
        return nil
    }

    public mutating func forget(_ unit: String) {
        pending[unit] = nil
    }
}
