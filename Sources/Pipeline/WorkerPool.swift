import Foundation
import CLinux
import ServiceLifecycle
import Synchronization

/// The workers that process files, as a service: `count` threads of their own, each taking
/// one job at a time from a queue. File work reads and writes with blocking system calls
/// and runs for tens of milliseconds to seconds; on threads of its own it never holds one of
/// the cooperative pool's threads (one per core), which stay free for the scheduling loop,
/// the change source and, later, the status server.
///
/// `perform` suspends its caller (no thread held) until a worker has run the job. A graceful
/// shutdown stops the pool taking jobs, lets the jobs already taken finish, then ends the
/// threads; the scheduler, shut down before the pool, has by then stopped giving it any.
/// Without a service group (a test that runs a unit directly), the threads end when the
/// pool is released.
public final class WorkerPool: Service, Sendable {
    /// The threads' side, kept apart so that the threads do not keep the pool alive.
    private final class Core: Sendable {
        struct Queue {
            var jobs: [@Sendable () -> Void] = []
            var head = 0
            var running = 0
            var closed = false
            var threadsLeft: Int
            var whenIdle: [CheckedContinuation<Void, Never>] = []

            var waiting: Int { jobs.count - head }
        }
        let queue: Mutex<Queue>
        let wakeUp = DispatchSemaphore(value: 0)

        init(threads: Int) { queue = Mutex(Queue(threadsLeft: threads)) }

        /// One worker thread: takes jobs until the pool is closed and its queue empty.
        func work() {
            while true {
                wakeUp.wait()
                let job = queue.withLock { queue -> (@Sendable () -> Void)? in
                    guard queue.head < queue.jobs.count else { return nil }
                    let job = queue.jobs[queue.head]
                    queue.head += 1
                    if queue.head == queue.jobs.count { queue.jobs.removeAll(keepingCapacity: true); queue.head = 0 }
                    queue.running += 1
                    return job
                }
                guard let job else {
                    // Woken with nothing to do: the pool closed.
                    let resumed = queue.withLock { queue -> [CheckedContinuation<Void, Never>] in
                        queue.threadsLeft -= 1
                        guard queue.threadsLeft == 0 else { return [] }
                        defer { queue.whenIdle.removeAll() }
                        return queue.whenIdle
                    }
                    for continuation in resumed { continuation.resume() }
                    return
                }
                job()  // counts itself out of `running` before it hands its result over
            }
        }

        func close() {
            let threads = queue.withLock { queue -> Int in
                guard !queue.closed else { return 0 }
                queue.closed = true
                return queue.threadsLeft
            }
            // One wake-up per thread beyond the jobs still queued: each thread ends on an
            // empty queue, after the queued jobs are taken.
            for _ in 0..<threads { wakeUp.signal() }
        }
    }

    private let core: Core
    /// How many jobs run at once.
    public let count: Int

    /// How much nicer than the rest of the process the workers are.
    static let niceIncrement: Int32 = 5

    /// `name`: the threads are named `name-1`, `name-2` ... (as `top -H` and `perf` show
    /// them; Linux keeps 15 bytes).
    public init(count: Int, name: String = "worker") {
        self.count = max(1, count)
        core = Core(threads: self.count)
        for number in 1...self.count {
            let thread = Thread { [core] in
                _ = dd_name_this_thread("\(name)-\(number)")
                // Seconds of CPU per file: below everything that answers in milliseconds
                // (the scheduling loop, the commit thread, the status server). On an idle
                // machine this costs no throughput.
                _ = dd_lower_this_thread_priority(WorkerPool.niceIncrement)
                core.work()
            }
            thread.start()
        }
    }

    deinit { core.close() }

    /// False once a shutdown has begun.
    public var isAcceptingJobs: Bool { core.queue.withLock { !$0.closed } }

    /// Jobs being run and jobs waiting for a worker.
    public var depth: (running: Int, waiting: Int) { core.queue.withLock { ($0.running, $0.waiting) } }

    /// Runs `job` on a worker and returns its result; nil when the pool has shut down and
    /// took the job no more.
    public func perform<R: Sendable>(_ job: @escaping @Sendable () -> R) async -> R? {
        await withCheckedContinuation { (continuation: CheckedContinuation<R?, Never>) in
            let accepted = core.queue.withLock { queue -> Bool in
                guard !queue.closed else { return false }
                queue.jobs.append { [core] in
                    let result = job()
                    // Out of `running` before the caller hears of it, so that a caller who
                    // has every result sees an idle pool.
                    core.queue.withLock { $0.running -= 1 }
                    continuation.resume(returning: result)
                }
                return true
            }
            if accepted { core.wakeUp.signal() } else { continuation.resume(returning: nil) }
        }
    }

    /// Until a graceful shutdown; then takes no new job, finishes the ones taken, and
    /// returns once every thread has ended.
    public func run() async throws {
        try? await gracefulShutdown()
        await shutDown()
    }

    /// Takes no new job and waits until the jobs taken are done and the threads ended.
    public func shutDown() async {
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            let finished = core.queue.withLock { queue -> Bool in
                if queue.threadsLeft == 0 { return true }
                queue.whenIdle.append(done)
                return false
            }
            if finished { done.resume() }
            core.close()
        }
    }
}

extension WorkerPool {
    /// Runs `transform` over `items` on the worker pool and hands each result to `consume`
    /// on the caller's side, one at a time, as it arrives (nil: not run, because the pool
    /// had shut down or the task was cancelled before a worker took it up).
    ///
    /// Twice as many jobs as workers are handed over, so that a worker finishing one finds
    /// the next queued instead of waiting for this side to wake up and hand it one: with
    /// exactly one per worker, those wake-ups cost 5% of a 2,000-file run on two cores. A
    /// job is a few items in a row when there are many (`itemsPerJob`): each job costs a task,
    /// a hand-over to a worker thread and a wake-up back, per job rather than per file.
    /// A queued file costs nothing until a worker takes it (it is read then). Once the task is
    /// cancelled (SIGTERM), what a worker holds finishes, the files not yet started (queued,
    /// or later in a job under way) are given back unread, and nothing new starts.
    ///
    /// Setting `stop` does the same as cancelling, without cancelling the caller.
    func parallelForEach<T: Sendable, R: Sendable>(_ items: [T], stop stopping: StopFlag = StopFlag(),
                                                   _ transform: @escaping @Sendable (T) -> R,
                                                   consume: (T, R?) async -> Void) async {
        guard !items.isEmpty else { return }
        let perJob = Self.itemsPerJob(items: items.count, workers: count)
        await withTaskCancellationHandler {
            await withTaskGroup(of: (Range<Int>, [R?]).self) { group in
                var next = 0
                func startNext() {
                    let range = next..<min(next + perJob, items.count)
                    group.addTask { [self] in
                        let results = await perform { range.map { stopping.isSet ? nil : transform(items[$0]) } }
                        return (range, results ?? Array(repeating: nil, count: range.count))
                    }
                    next = range.upperBound
                }
                for _ in 0..<(2 * count) where next < items.count { startNext() }
                while let (range, results) = await group.next() {
                    if next < items.count && !Task.isCancelled && !stopping.isSet { startNext() }
                    for (index, result) in zip(range, results) { await consume(items[index], result) }
                }
            }
        } onCancel: {
            stopping.set()
        }
    }

    /// Items per job: up to four, when every worker still gets at least four jobs' worth
    /// (so a small unit is spread over the workers one file a job).
    /// farm-bench on 2,000 CT/MR files: see docs/PERFORMANCE.md.
    static func itemsPerJob(items: Int, workers: Int) -> Int {
        max(1, min(4, items / (4 * max(1, workers))))
    }
}
