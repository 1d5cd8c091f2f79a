import Foundation
import Ledger
import Synchronization
import Watcher

/// What the daemon is doing now, in one place: written by the scheduling loop and the unit
/// runs, read by the status server, the progress bar and the systemd notifier; the events it
/// is told about go to whoever subscribed (webhooks) and to the metrics. Never holds patient
/// data: unit names are folder names of the drop directory, shown as the ledger shows them.
public final class LiveState: Sendable {
    public struct Snapshot: Sendable, Equatable {
        /// inotify or poll, and why.
        public var watcher: String = ""
        public var unitStates: [String: UnitState] = [:]
        /// The unit being processed and since when.
        public var currentRun: CurrentRun?
        /// Units waiting or settling, and ready ones not yet started.
        public var pendingUnits = 0
        public var readyUnits = 0
        /// Totals since start.
        public var runs = RunCountsByOutcome()
        public var files = RunCounts()
        /// The last poll pass or rescan.
        public var lastPass: Pass?
        public var inotifyOverflows = 0
        /// Why processing is paused (the output filesystem refuses writes) and since when;
        /// nil while it runs.
        public var paused: Pause?
        /// The queues, as they are when the snapshot is taken: files being processed and
        /// waiting for a worker, batches waiting to be committed.
        public var filesInHand = 0
        public var filesWaitingForAWorker = 0
        public var batchesWaitingToCommit = 0
        /// Files and bytes of the runs since start: their changed files, and those handled.
        public var progress = Progress()
        /// The start-up catch-up is over: every unit pending at start has run (or none was).
        public var caughtUp = false
        /// The scheduling loop's last turn (its 100 ms tick) or the last file a run handled
        /// (a run holds the loop): a watchdog's sign of life.
        public var lastActivity: Date?
        /// The scheduler's 100 ms timer, which keeps running while a run holds the loop (a
        /// large file may take minutes): the process's tasks are alive.
        public var lastTimerTick: Date?
        /// When the change source (inotify or poll) ended, which it does only on shutdown
        /// or failure; nil while it runs (or before it starts).
        public var changeSourceEnded: Date?
        public let started = Date()

        /// Runs started since start and their changed files, and how far they got. A run's
        /// totals join when it starts (its files are listed then).
        public struct Progress: Sendable, Equatable {
            public var runsStarted = 0
            public var filesTotal = 0
            public var filesDone = 0
            public var bytesTotal: Int64 = 0
            public var bytesDone: Int64 = 0
        }

        public struct CurrentRun: Sendable, Equatable {
            public let unit: String
            public let trigger: RunTrigger
            public let started: Date
        }

        public struct Pause: Sendable, Equatable {
            public let reason: String
            public let since: Date
        }

        public struct Pass: Sendable, Equatable {
            public let at: Date
            public let seconds: Double
            public let files: Int
        }

        public init() {}
    }

    /// Runs ended since start, by outcome.
    public struct RunCountsByOutcome: Sendable, Equatable {
        public var done = 0, interrupted = 0, failed = 0, paused = 0

        mutating func add(_ outcome: RunOutcome) {
            switch outcome {
            case .done: done += 1
            case .interrupted: interrupted += 1
            case .failed: failed += 1
            case .paused: paused += 1
            }
        }
    }

    private let state = Mutex(Snapshot())
    private let listeners = Mutex<[@Sendable (DaemonEvent) -> Void]>([])
    private let workers: WorkerPool?
    private let commits: LedgerCommitQueue?
    public let metrics: DaemonMetrics

    public init(workers: WorkerPool? = nil, commits: LedgerCommitQueue? = nil, metrics: DaemonMetrics = DaemonMetrics()) {
        self.workers = workers
        self.commits = commits
        self.metrics = metrics
    }

    /// `listener` is called with every event from now on, on the thread that saw it: it must
    /// return at once (hand the event over, never deliver it there).
    public func subscribe(_ listener: @escaping @Sendable (DaemonEvent) -> Void) {
        listeners.withLock { $0.append(listener) }
    }

    func post(_ event: DaemonEvent) {
        for listener in listeners.withLock({ $0 }) { listener(event) }
    }

    public var snapshot: Snapshot {
        var snapshot = state.withLock { $0 }
        if let workers { (snapshot.filesInHand, snapshot.filesWaitingForAWorker) = workers.depth }
        snapshot.batchesWaitingToCommit = commits?.pendingBatches ?? 0
        return snapshot
    }

    func update(_ body: (inout Snapshot) -> Void) {
        state.withLock { body(&$0) }
    }

    func record(_ summary: RunSummary) {
        metrics.record(summary)
        for event in DaemonEvent.events(of: summary) { post(event) }
        update { snapshot in
            snapshot.runs.add(summary.outcome)
            snapshot.files.seen += summary.counts.seen
            snapshot.files.new += summary.counts.new
            snapshot.files.duplicate += summary.counts.duplicate
            snapshot.files.skipped += summary.counts.skipped
            snapshot.files.failed += summary.counts.failed
            snapshot.currentRun = nil
        }
    }

    /// A walk of the drop tree: a poll pass, or a full pass (start-up, rescan, after an overflow).
    func record(_ pass: DropIndex.Pass, kind: String) {
        metrics.recordPass(kind: kind, seconds: pass.seconds)
        update { $0.lastPass = Snapshot.Pass(at: Date(), seconds: pass.seconds, files: pass.files) }
    }

    func recordOverflow() {
        metrics.inotifyOverflows.increment()
        update { $0.inotifyOverflows += 1 }
        post(DaemonEvent(kind: .overflow, detail: "the inotify event queue overflowed; a full rescan catches up"))
    }

    func recordPause(reason: String) {
        update { $0.paused = Snapshot.Pause(reason: reason, since: Date()) }
        post(DaemonEvent(kind: .diskFull, detail: reason))
    }

    func runStarting(files: Int, bytes: Int64) {
        update {
            $0.progress.runsStarted += 1
            $0.progress.filesTotal += files
            $0.progress.bytesTotal += bytes
        }
    }

    func fileHandled(bytes: Int64) {
        update {
            $0.progress.filesDone += 1
            $0.progress.bytesDone += bytes
            $0.lastActivity = Date()
        }
    }
}
