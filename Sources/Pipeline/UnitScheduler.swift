import Ledger
import Watcher

/// Moves the units of the drop directory through their states, by the clock the caller
/// supplies: pure logic, tested without processes, disks or real time.
///
///     touched ──> waiting ──(quiet for settle_seconds)──> settling ──(two equal stat passes)──> ready
///        ^                                                   │ changed: back to waiting         │
///        └───────────────── done / failed <── processing <───┴──────────────────────────────────┘
///
/// A unit whose files vanished before it settled is forgotten. Units are handed out one at a
/// time, oldest ready first; a unit touched while it is processed waits again afterwards.
public struct UnitScheduler: Sendable {
    private var tracker: SettleTracker<[DroppedFile], RunTrigger>
    /// Every unit this process has seen, in its current state.
    public private(set) var states: [String: UnitState] = [:]
    private var ready: [(unit: String, trigger: RunTrigger)] = []
    private var touchedWhileProcessing: [String: RunTrigger] = [:]
    /// State changes not yet written to the ledger, in order.
    private var unwritten: [(unit: String, state: UnitState)] = []

    public init(settleSeconds: Double) {
        tracker = SettleTracker(settleSeconds: settleSeconds)
    }

    /// Units waiting or settling (not yet ready).
    public var pendingCount: Int { tracker.pendingUnits.count }
    /// Units ready and not yet handed out.
    public var readyCount: Int { ready.count }
    /// Nothing waits, settles, is ready or is being processed.
    public var isIdle: Bool { tracker.pendingUnits.isEmpty && ready.isEmpty && !states.values.contains(.processing) }

    /// Something changed under `unit`: its quiet period starts again.
    public mutating func touch(_ unit: String, reason: RunTrigger, at now: Double) {
        if states[unit] == .processing {
            if touchedWhileProcessing[unit] == nil { touchedWhileProcessing[unit] = reason }
            return
        }
        if let queued = ready.firstIndex(where: { $0.unit == unit }) { ready.remove(at: queued) }
        tracker.touch(unit, reason: reason, at: now)
        set(unit, .waiting)
    }

    /// When the next stat pass is due (the daemon wakes for it); nil when nothing is pending.
    public var nextCheck: Double? { tracker.nextCheck }

    /// When `unit`'s next stat pass is due (O(1): looked at on every event).
    public func nextCheck(of unit: String) -> Double? { tracker.nextCheck(of: unit) }

    /// Units due for a stat pass now.
    public func unitsToCheck(at now: Double) -> [String] {
        tracker.unitsToCheck(at: now)
    }

    /// What a stat pass of a unit led to.
    public enum Observation: Sendable, Equatable {
        /// Gone before it settled, never recorded: forgotten.
        case gone
        /// Still settling (first pass, or the files changed between passes).
        case settling
        /// Settled: queued to be processed.
        case ready
    }

    /// Reports a stat pass of `unit`: its files now, and whether the ledger knows any of its
    /// files (a unit that was processed and then deleted still needs a run to forget them).
    public mutating func observe(_ unit: String, files: [DroppedFile], recorded: Bool, at now: Double) -> Observation {
        if files.isEmpty && !recorded {
            tracker.forget(unit)
            states[unit] = nil
            unwritten.removeAll { $0.unit == unit }
            return .gone
        }
        guard let trigger = tracker.observe(unit, snapshot: files, at: now) else {
            set(unit, .settling)
            return .settling
        }
        ready.append((unit, trigger))
        return .ready
    }

    /// The next ready unit, now processing.
    public mutating func next() -> (unit: String, trigger: RunTrigger)? {
        guard !ready.isEmpty else { return nil }
        let next = ready.removeFirst()
        states[next.unit] = .processing  // the run writes it to the ledger itself
        return next
    }

    /// A run ended. A unit touched meanwhile waits again; an interrupted one goes back to
    /// waiting at the next start (its run wrote that), a paused one until its caller
    /// touches it again.
    public mutating func finished(_ unit: String, outcome: RunOutcome, at now: Double) {
        states[unit] = switch outcome {
        case .done: .done
        case .failed: .failed
        case .interrupted, .paused: .waiting
        }
        if let reason = touchedWhileProcessing.removeValue(forKey: unit) {
            touch(unit, reason: reason, at: now)
        }
    }

    /// State changes since the last call (waiting and settling: processing, done and failed
    /// are written by the run itself, in its own transactions).
    public mutating func takeUnwrittenStates() -> [(unit: String, state: UnitState)] {
        defer { unwritten.removeAll() }
        return unwritten
    }

    private mutating func set(_ unit: String, _ state: UnitState) {
        guard states[unit] != state else { return }
        states[unit] = state
        unwritten.append((unit, state))
    }
}
