import Foundation
import Ledger
import Synchronization
import Watcher

/// What the daemon is doing now, in one place: read by the log today and by a status
/// server later, written only by the scheduling loop. Never holds patient data: unit names
/// are folder names of the drop directory, shown as the ledger shows them.
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
    private let workers: WorkerPool?
    private let commits: LedgerCommitQueue?

    public init(workers: WorkerPool? = nil, commits: LedgerCommitQueue? = nil) {
        self.workers = workers
        self.commits = commits
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

    func record(_ pass: DropIndex.Pass) {
        update { $0.lastPass = Snapshot.Pass(at: Date(), seconds: pass.seconds, files: pass.files) }
    }
}
