import CLinux
import Dispatch
import Foundation
import Ledger
import Shared
import Logging
@testable import Pipeline
import ServiceLifecycle
import Synchronization
import Testing

/// The worker pool and the commit queue as services: where their work runs, how much at
/// once, and what a graceful shutdown does to work in hand.
func currentThreadName() -> String {
    var name = [CChar](repeating: 0, count: 16)
    _ = dd_this_thread_name(&name, name.count)
    return String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

struct WorkerPoolTests {
    final class Tally: Sendable {
        struct Seen { var running = 0, started = 0, most = 0, insideTask = 0, names: Set<String> = [] }
        let state = Mutex(Seen())
    }

    /// Jobs run on the pool's own threads (never inside a task, so never on a cooperative
    /// pool thread), at most `count` at once, and each caller gets its own job's result.
    @Test func jobsRunOnThePoolsOwnThreadsAtMostCountAtOnce() async throws {
        let pool = WorkerPool(count: 2, name: "test-worker")
        let seen = Tally()
        let results = await withTaskGroup(of: Int?.self) { group in
            for number in 0..<12 {
                group.addTask {
                    await pool.perform {
                        let insideTask = withUnsafeCurrentTask { $0 != nil }
                        seen.state.withLock {
                            $0.running += 1
                            $0.started += 1
                            $0.most = max($0.most, $0.running)
                            if insideTask { $0.insideTask += 1 }
                            $0.names.insert(currentThreadName())
                        }
                        // Each job waits for a second one to run beside it (jobs come in
                        // pairs: twelve of them), so that two at once is certain to be
                        // reached and a third would be seen; minutes of patience for a
                        // test process whose tasks wait behind other suites.
                        let deadline = ContinuousClock.now + .seconds(300)
                        while seen.state.withLock({ $0.running < 2 && $0.started < 12 }) && ContinuousClock.now < deadline {
                            usleep(1_000)
                        }
                        usleep(5_000)
                        seen.state.withLock { $0.running -= 1 }
                        return number * number
                    }
                }
            }
            var results: [Int?] = []
            for await result in group { results.append(result) }
            return results
        }
        #expect(results.compactMap { $0 }.sorted() == (0..<12).map { $0 * $0 })
        let final = seen.state.withLock { $0 }
        #expect(final.most == 2, "two at once, never more")
        #expect(final.insideTask == 0)
        #expect(final.names.allSatisfy { $0.hasPrefix("test-worker-") } && !final.names.isEmpty, "\(final.names)")
        #expect(pool.depth == (running: 0, waiting: 0))
    }

    /// parallelForEach hands every item to `consume` once, with its own result, whether its
    /// job held one item or several; small lists go one item a job, so both workers get one.
    @Test func parallelForEachConsumesEveryItemOnceWithItsOwnResult() async {
        let pool = WorkerPool(count: 2, name: "test-worker")
        #expect(WorkerPool.itemsPerJob(items: 3, workers: 2) == 1)
        #expect(WorkerPool.itemsPerJob(items: 16, workers: 2) == 2)
        #expect(WorkerPool.itemsPerJob(items: 2_000, workers: 2) == 4)
        for count in [1, 2, 3, 7, 16, 33, 101, 1_000] {
            var consumed: [Int: Int?] = [:]
            await pool.parallelForEach(Array(0..<count), { $0 * 3 + 1 }) { item, result in
                #expect(consumed[item] == nil, "item \(item) of \(count) consumed twice")
                consumed[item] = result
            }
            #expect(consumed.count == count)
            #expect(consumed.allSatisfy { $0.value == $0.key * 3 + 1 }, "\(count) items")
        }
    }

    /// A stop set while results come in: no item starts after a worker has seen it, the
    /// items of a job under way that had not started come back nil (not run), and nothing
    /// new is handed out, so at most the jobs in hand finish.
    @Test func aStopLeavesTheItemsNotStartedUnrun() async {
        let pool = WorkerPool(count: 2, name: "test-worker")
        let stop = StopFlag()
        let ran = Mutex<[Int]>([])
        var consumed: [Int: Int?] = [:]
        await pool.parallelForEach(Array(0..<400), stop: stop, { item in
            ran.withLock { $0.append(item) }
            return item
        }) { item, result in
            consumed[item] = result
            if consumed.count == 10 { stop.set() }
        }
        let started = Set(ran.withLock { $0 })
        // Every result given is an item that ran, and every item that ran is given.
        #expect(consumed.allSatisfy { ($0.value != nil) == started.contains($0.key) })
        #expect(consumed.compactMap { $0.value }.count == started.count)
        // Ten consumed, then at most the jobs in hand: four jobs of four items.
        #expect(started.count <= 10 + 2 * 2 * WorkerPool.itemsPerJob(items: 400, workers: 2) + 4, "\(started.count) ran")
        #expect(consumed.count < 400)
    }

    /// A graceful shutdown of a group holding the commit queue and the pool, in the daemon's
    /// order: the pool refuses new jobs at once, but the job it holds finishes and its
    /// caller gets the result; meanwhile the commit queue, shut down after the pool, still
    /// commits; once the group has ended, the queue refuses a run's batches.
    @Test func aGracefulShutdownFinishesTheJobInHandAndStopsThePoolBeforeTheCommitQueue() async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("dicomdrop-pool-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: root) }
        let ledger = try Ledger(path: root.appendingPathComponent("ledger.sqlite"))
        let pool = WorkerPool(count: 1)
        let commits = LedgerCommitQueue()
        let gate = DispatchSemaphore(value: 0)
        let inHand = Task { await pool.perform { gate.wait(); return 42 } }
        // Minutes of patience: when other suites hold the cooperative pool's threads with
        // long synchronous tests, this test's tasks wait their turn; each wait ends as soon
        // as its condition holds.
        let deadline = ContinuousClock.now + .seconds(300)
        while pool.depth.running == 0 && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(5)) }
        try #require(pool.depth.running == 1)

        let group = ServiceGroup(configuration: ServiceGroupConfiguration(
            services: [.init(service: commits), .init(service: pool)], logger: Logger(label: "test")))
        let running = Task { try await group.run() }
        await group.triggerGracefulShutdown()
        while pool.isAcceptingJobs && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(5)) }
        // A job handed to a pool still open would queue behind the one on the gate for ever.
        try #require(!pool.isAcceptingJobs, "the group's graceful shutdown reached the pool")
        #expect(await pool.perform { 7 } == nil, "a shutting-down pool takes no new job")

        // The pool is still draining (its job waits on the gate): the commit queue commits.
        func batch(_ path: String) -> LedgerBatch {
            LedgerBatch(sources: [SourceRecord(path: path, unit: "u", fingerprint: Fingerprint(inode: 1, size: 1, modifiedNanoseconds: 0),
                                               sha256: String(repeating: "c", count: 64))])
        }
        let during = commits.session { (batch) throws(Ledger.LedgerError) in try ledger.record(contents: [], sources: batch.sources) }
        during.submit(batch("u/during"))
        try await during.finish()
        #expect(try ledger.sources().keys.sorted() == ["u/during"])

        gate.signal()
        #expect(await inHand.value == 42, "the job in hand finished and its caller got the result")
        try await running.value
        #expect(pool.depth == (running: 0, waiting: 0))

        let after = commits.session { (batch) throws(Ledger.LedgerError) in try ledger.record(contents: [], sources: batch.sources) }
        after.submit(batch("u/after"))
        await #expect(throws: Ledger.LedgerError.self) { try await after.finish() }
        #expect(try ledger.sources().keys.sorted() == ["u/during"])
    }
}

/// File names that are not valid UTF-8 survive the round trip to a String and back.
struct RawPathTests {
    @Test func namesThatAreNotUTF8RoundTripAndValidNamesAreUntouched() {
        let latin1: [UInt8] = [0x53, 0x74, 0xFC, 0x64, 0x79]                       // "Stüdy" in Latin-1
        let mixed: [UInt8] = [0xC3, 0xA9, 0xFF, 0x2F, 0xE2, 0x82, 0xAC, 0xE2, 0x82]  // é, a stray byte, /, €, a cut €
        for bytes in [latin1, mixed, Array("plain/é€😀\nname".utf8), []] {
            let name = RawPath.string(fromBytes: bytes)
            #expect(RawPath.bytes(of: name) == bytes)
        }
        #expect(RawPath.string(fromBytes: Array("plain/é€😀".utf8)) == "plain/é€😀")
        #expect(RawPath.display(RawPath.string(fromBytes: latin1)) == "St\\xFCdy")
        #expect(RawPath.string(fromBytes: mixed).hasPrefix("é"), "the valid sequences stay what they are")
        let opened = RawPath.withSystemPath(RawPath.string(fromBytes: latin1)) { strlen($0) }
        #expect(opened == latin1.count)
    }
}
