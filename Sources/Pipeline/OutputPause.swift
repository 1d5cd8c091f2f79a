import Ledger

/// Holds processing while the output filesystem refuses writes (full, over quota,
/// read-only) and says when to try again: pure logic over the caller's clock and the free
/// space it measures, tested without a full disk.
///
/// A pause is said once, when it starts; retries that pause again are quiet; it ends when a
/// retried unit runs without pausing. A retry comes when the output's free space has grown
/// by `gainToRetry` since the last attempt (someone freed space), or `retrySeconds` after it
/// whatever the free space says (a read-only remount or a quota shows none).
struct OutputPause: Sendable {
    static let gainToRetry: UInt64 = 256 << 10
    static let retrySeconds = 60.0

    /// The unit whose run paused, and what had started it: run again on retry.
    private(set) var held: (unit: String, trigger: RunTrigger)?
    /// When the pause began (nil: not paused).
    private(set) var since: Double?
    /// The unit handed back by the last retry: its run without a pause ends the pause.
    private var retried: String?
    private var freeAtLastAttempt: UInt64?
    private var lastAttempt = 0.0

    /// Nothing may run: the output refused and no retry is due yet.
    var isHolding: Bool { held != nil }
    /// From the first refusal until a retried unit runs through.
    var isPaused: Bool { since != nil }

    /// A run of `unit` paused at `now`, `free` bytes being free on the output. True when
    /// this starts a pause (say so), false when a retry paused again.
    mutating func paused(unit: String, trigger: RunTrigger, free: UInt64?, at now: Double) -> Bool {
        held = (unit, trigger)
        freeAtLastAttempt = free
        lastAttempt = now
        guard since == nil else { return false }
        since = now
        return true
    }

    /// The unit to run again now, if a retry is due (the hold is released), else nil.
    mutating func retry(free: UInt64?, at now: Double) -> (unit: String, trigger: RunTrigger)? {
        guard let held else { return nil }
        let freed = if let free, let before = freeAtLastAttempt { free >= before + Self.gainToRetry } else { false }
        guard freed || now - lastAttempt >= Self.retrySeconds else { return nil }
        self.held = nil
        retried = held.unit
        return held
    }

    /// A run of `unit` ended without pausing. When it is the retried unit, the pause is over:
    /// returns how long it lasted.
    mutating func ranThrough(_ unit: String, at now: Double) -> Double? {
        guard let since, held == nil, unit == retried else { return nil }
        self.since = nil
        retried = nil
        return now - since
    }
}
