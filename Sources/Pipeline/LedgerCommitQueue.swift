import Dispatch
import Ledger
import ServiceLifecycle
import Shared
import Synchronization

/// One batch of a run's results, committed together.
struct LedgerBatch: Sendable {
    var pseudonyms: Set<PseudonymMapping> = []
    var contents: [ContentRecord] = []
    var sources: [SourceRecord] = []
    /// Files that could not be read (after retries).
    var unreadable: [UnreadableRecord] = []
    /// Outputs the batch's contents had before a reprocess and no longer have: removed once
    /// the batch is committed, never before.
    var staleOutputs: [String] = []

    var isEmpty: Bool { pseudonyms.isEmpty && contents.isEmpty && sources.isEmpty && unreadable.isEmpty && staleOutputs.isEmpty }
}

/// The ledger's commits as a service: one thread of its own on which every batch is made
/// durable and recorded, in order, so that the `syncfs` and the SQLite transaction of one
/// batch overlap the workers' processing of the next. Run inline, they blocked one of the
/// cooperative pool's threads (one per core) for the whole sync: measured, that cost 7% of a
/// 2,000-file run on two cores.
///
/// Each run commits through a `Session` of its own (its commit closure, its first failure,
/// its backlog). A graceful shutdown commits what was submitted and then refuses new
/// sessions' batches; the scheduler, shut down before the queue, has by then closed its run.
public final class LedgerCommitQueue: Service, Sendable {
    private let queue = DispatchQueue(label: "dicomdrop.ledger-commits")
    private let closed = Mutex(false)
    private let waiting = Mutex(0)

    public init() {}

    /// Batches submitted by any run and not yet committed.
    public var pendingBatches: Int { waiting.withLock { $0 } }

    /// A run's commits: `commit` is how one batch is recorded.
    func session(maximumPending: Int = 4, commit: @escaping @Sendable (LedgerBatch) throws(Ledger.LedgerError) -> Void) -> Session {
        Session(queue: queue, isClosed: { [self] in closed.withLock { $0 } },
                countPending: { [self] change in waiting.withLock { $0 += change } },
                maximumPending: maximumPending, commit: commit)
    }

    /// Until a graceful shutdown; then commits what was submitted, refuses what comes after,
    /// and returns.
    public func run() async throws {
        try? await gracefulShutdown()
        closed.withLock { $0 = true }
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in queue.async { done.resume() } }
    }

    /// One run's batches, committed in order. After a failure, later batches are dropped and
    /// `finish()` reports the first failure. At most `maximumPending` batches wait: a disk
    /// slower than the workers holds the run back (`waitForRoom`) instead of letting the
    /// ledger fall ever further behind the outputs.
    final class Session: Sendable {
        private let queue: DispatchQueue
        private let isClosed: @Sendable () -> Bool
        private let countPending: @Sendable (Int) -> Void
        private let failure = Mutex<Ledger.LedgerError?>(nil)
        private let commit: @Sendable (LedgerBatch) throws(Ledger.LedgerError) -> Void
        private let maximumPending: Int
        private struct Backlog {
            var pending = 0
            var waiting: [CheckedContinuation<Void, Never>] = []
        }
        private let backlog = Mutex(Backlog())

        fileprivate init(queue: DispatchQueue, isClosed: @escaping @Sendable () -> Bool,
                         countPending: @escaping @Sendable (Int) -> Void, maximumPending: Int,
                         commit: @escaping @Sendable (LedgerBatch) throws(Ledger.LedgerError) -> Void) {
            self.queue = queue
            self.isClosed = isClosed
            self.countPending = countPending
            self.maximumPending = max(1, maximumPending)
            self.commit = commit
        }

        /// Whether a batch has failed; the run stops handing over new ones.
        var hasFailed: Bool { failure.withLock { $0 != nil } }

        /// Batches submitted and not yet committed (or dropped), and callers of `waitForRoom`
        /// held back.
        var pendingBatches: Int { backlog.withLock { $0.pending } }
        var heldBack: Int { backlog.withLock { $0.waiting.count } }

        func submit(_ batch: LedgerBatch) {
            guard !batch.isEmpty else { return }
            guard !isClosed() else {
                fail(.database("the commit queue has shut down; the batch's files stay pending"))
                return
            }
            backlog.withLock { $0.pending += 1 }
            countPending(1)
            queue.async { [self] in
                defer { countPending(-1) }
                if !hasFailed {
                    do throws(Ledger.LedgerError) {
                        try commit(batch)
                    } catch {
                        fail(error)
                    }
                }
                let resumed = backlog.withLock { backlog -> [CheckedContinuation<Void, Never>] in
                    backlog.pending -= 1
                    guard backlog.pending < maximumPending else { return [] }
                    defer { backlog.waiting.removeAll() }
                    return backlog.waiting
                }
                for continuation in resumed { continuation.resume() }
            }
        }

        private func fail(_ error: Ledger.LedgerError) {
            failure.withLock { if $0 == nil { $0 = error } }
        }

        /// Returns once fewer than `maximumPending` batches wait, without holding a pool thread.
        func waitForRoom() async {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let hasRoom = backlog.withLock { backlog -> Bool in
                    if backlog.pending < maximumPending { return true }
                    backlog.waiting.append(continuation)
                    return false
                }
                if hasRoom { continuation.resume() }
            }
        }

        /// Waits, without holding a pool thread, until every submitted batch is committed.
        func finish() async throws(Ledger.LedgerError) {
            await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
                queue.async { done.resume() }
            }
            if let error = failure.withLock({ $0 }) { throw error }
        }
    }
}
