import Dispatch
import Ledger
import Shared
import Synchronization

/// One batch of a run's results, committed together.
struct LedgerBatch: Sendable {
    var pseudonyms: Set<PseudonymMapping> = []
    var contents: [ContentRecord] = []
    var sources: [SourceRecord] = []
    /// Outputs the batch's contents had before a reprocess and no longer have: removed once
    /// the batch is committed, never before.
    var staleOutputs: [String] = []

    var isEmpty: Bool { pseudonyms.isEmpty && contents.isEmpty && sources.isEmpty && staleOutputs.isEmpty }
}

/// Commits a run's batches in order on a thread of its own, so that the `syncfs` and the
/// SQLite transaction of one batch overlap the workers' processing of the next. Run inline,
/// they blocked one of the cooperative pool's threads (one per core) for the whole sync:
/// measured, that cost 7% of a 2,000-file run on two cores.
///
/// Each batch keeps the order that makes a crash safe: pseudonyms on record, then outputs
/// durable, then the ledger rows that name them. After a failure, later batches are dropped
/// and `finish()` reports the first failure. At most `maximumPending` batches wait: a disk
/// slower than the workers holds the run back (`waitForRoom`) instead of letting the ledger
/// fall ever further behind the outputs.
final class LedgerCommitQueue: Sendable {
    private let queue = DispatchQueue(label: "dicomdrop.ledger-commits")
    private let failure = Mutex<Ledger.LedgerError?>(nil)
    private let commit: @Sendable (LedgerBatch) throws(Ledger.LedgerError) -> Void
    private let maximumPending: Int
    private struct Backlog {
        var pending = 0
        var waiting: [CheckedContinuation<Void, Never>] = []
    }
    private let backlog = Mutex(Backlog())

    init(maximumPending: Int = 4, commit: @escaping @Sendable (LedgerBatch) throws(Ledger.LedgerError) -> Void) {
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
        backlog.withLock { $0.pending += 1 }
        queue.async { [self] in
            if !hasFailed {
                do throws(Ledger.LedgerError) {
                    try commit(batch)
                } catch {
                    failure.withLock { if $0 == nil { $0 = error } }
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
