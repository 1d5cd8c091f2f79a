import Config
import Foundation
import Ledger
import Logging
@testable import Pipeline
import Synchronization
import Testing
import Watcher

/// Collects log messages, so that a test can count what the daemon said.
final class CollectedLog: @unchecked Sendable {
    let messages = Mutex<[String]>([])

    var logger: Logger {
        Logger(label: "test") { [self] _ in Handler(log: self) }
    }

    func count(containing text: String) -> Int { messages.withLock { $0.filter { $0.contains(text) }.count } }

    struct Handler: LogHandler {
        let log: CollectedLog
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .info
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        func log(level: Logger.Level, message: Logger.Message, metadata: Logger.Metadata?, source: String,
                 file: String, function: String, line: UInt) {
            log.messages.withLock { $0.append(message.description) }
        }

        func log(event: LogEvent) {
            log.messages.withLock { $0.append(event.message.description) }
        }
    }
}

/// The scheduling loop without a process: real folders, a real ledger, events sent by hand
/// as a change source would send them.
@Suite struct SchedulerServiceTests {
    /// The loop runs in this test process, on the same cooperative pool as the CPU-bound
    /// suites beside it: it can wait minutes for a thread. The waits end as soon as their
    /// condition holds.
    static let patience = 300.0

    private let root = FileManager.default.temporaryDirectory.appendingPathComponent("scheduler-\(UUID().uuidString)")

    private func makeService(log: CollectedLog, pollSeconds: Double = 10, rescanSeconds: Double = 3600,
                             settleSeconds: Double = 0.2) throws -> (SchedulerService, Ledger, LiveState) {
        var configuration = WatchConfiguration(drop: root.appendingPathComponent("drop"), output: root.appendingPathComponent("out"),
                                               database: root.appendingPathComponent("ledger.sqlite"),
                                               deidentification: DeidentificationConfiguration(defaultsIn: root),
                                               settleSeconds: settleSeconds, rescanSeconds: rescanSeconds, workers: 1)
        configuration.pollSeconds = pollSeconds
        try FileManager.default.createDirectory(at: configuration.drop, withIntermediateDirectories: true)
        // No output directory yet: a batch of non-DICOM files writes none, and the commit
        // must make the directory its syncfs needs rather than fail.
        let ledger = try Ledger(path: configuration.database)
        let processor = try UnitProcessor(configuration: configuration, ledger: ledger, logger: log.logger)
        let live = LiveState()
        let service = SchedulerService(processor: processor, index: DropIndex(tree: DropTree(root: configuration.drop)),
                                       live: live, logger: log.logger, touchTrigger: .inotify)
        return (service, ledger, live)
    }

    private func drop(_ text: String, at relative: String) throws {
        let url = root.appendingPathComponent("drop/\(relative)")
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(text.utf8).write(to: url)
    }

    private func waitUntil(seconds: Double, _ condition: () throws -> Bool) async rethrows -> Bool {
        let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
        while ContinuousClock.now < deadline {
            if try condition() { return true }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return try condition()
    }

    /// Events were lost: the loop says so once, with the sysctl, and a full pass finds what
    /// they would have said.
    @Test func anOverflowIsLoggedOnceWithItsRemedyAndAFullPassFindsTheUnit() async throws {
        defer { try? FileManager.default.removeItem(at: root) }
        let log = CollectedLog()
        let (service, ledger, live) = try makeService(log: log)
        let loop = Task { try await service.run() }
        defer { loop.cancel() }
        #expect(await waitUntil(seconds: Self.patience) { log.count(containing: "pending at start-up") == 1 })
        try drop("not an image", at: "lost-events/a.txt")
        service.report(.overflow)
        #expect(await waitUntil(seconds: Self.patience) { (try? ledger.state(of: "lost-events")) == .done }, "\(log.messages.withLock { $0 })")
        #expect(try ledger.runs(of: "lost-events").map(\.trigger) == [.rescan])
        try drop("not an image either", at: "more-lost-events/b.txt")
        service.report(.overflow)
        #expect(await waitUntil(seconds: Self.patience) { (try? ledger.state(of: "more-lost-events")) == .done })
        #expect(log.count(containing: "sysctl fs.inotify.max_queued_events") == 1, "logged once")
        #expect(live.snapshot.inotifyOverflows == 2)
        #expect(live.snapshot.runs.done == 2)
        #expect(live.snapshot.unitStates["more-lost-events"] == .done)
    }

    /// No event at all (a network mount's writes, a lost queue nobody noticed): the periodic
    /// rescan finds the unit on its own, and finds nothing to do on unchanged files.
    @Test func thePeriodicRescanFindsWhatNoEventSaid() async throws {
        defer { try? FileManager.default.removeItem(at: root) }
        let log = CollectedLog()
        let (service, ledger, live) = try makeService(log: log, rescanSeconds: 0.5)
        let loop = Task { try await service.run() }
        defer { loop.cancel() }
        #expect(await waitUntil(seconds: Self.patience) { log.count(containing: "pending at start-up") == 1 })
        try drop("no event will say so", at: "silent/a.txt")
        #expect(await waitUntil(seconds: Self.patience) { (try? ledger.state(of: "silent")) == .done }, "\(log.messages.withLock { $0 })")
        #expect(try ledger.runs(of: "silent").map(\.trigger) == [.rescan])
        // Later passes see the same fingerprints: no second run.
        let passes = live.snapshot.lastPass?.at
        #expect(await waitUntil(seconds: Self.patience) { live.snapshot.lastPass?.at != passes })
        #expect(try ledger.runs(of: "silent").count == 1)
    }

    /// After the watch limit is hit, folders inotify cannot watch are found by polling.
    @Test func afterTheWatchLimitIsReachedPollPassesFindNewFolders() async throws {
        defer { try? FileManager.default.removeItem(at: root) }
        let log = CollectedLog()
        let (service, ledger, live) = try makeService(log: log, pollSeconds: 0.3)
        let loop = Task { try await service.run() }
        defer { loop.cancel() }
        // Past the start-up pass, which would otherwise find the folder itself on a loaded machine.
        #expect(await waitUntil(seconds: Self.patience) { log.count(containing: "start-up catch-up done") == 1 })
        let passBefore = live.snapshot.lastPass?.at
        service.report(.watchLimitReached(path: root.appendingPathComponent("drop/unwatched").path))
        #expect(await waitUntil(seconds: Self.patience) { log.count(containing: "sysctl fs.inotify.max_user_watches") == 1 })
        // And past the full pass the report starts after its log line, which would find the
        // folder itself (trigger rescan) if it walked after the drop on a loaded machine.
        #expect(await waitUntil(seconds: Self.patience) { live.snapshot.lastPass?.at != passBefore })
        // No event will ever come for this one.
        try drop("dropped where no watch is", at: "unwatched/a.txt")
        #expect(await waitUntil(seconds: Self.patience) { (try? ledger.state(of: "unwatched")) == .done })
        #expect(try ledger.runs(of: "unwatched").map(\.trigger) == [.poll], "\(log.messages.withLock { $0 })")
    }

    /// Units on their way are in the ledger as waiting, then settling. Each state is held
    /// on purpose while the test looks (touches keep a unit waiting; a file that grows
    /// between stat passes keeps it settling), so that no sampling can miss one. A quiet
    /// period of 2 s: one of a second or less has no waiting part (its first stat pass
    /// comes at once, the second when it ends).
    @Test func waitingAndSettlingReachTheLedger() async throws {
        defer { try? FileManager.default.removeItem(at: root) }
        let log = CollectedLog()
        let (service, ledger, _) = try makeService(log: log, settleSeconds: 2)
        let loop = Task { try await service.run() }
        defer { loop.cancel() }
        #expect(await waitUntil(seconds: Self.patience) { log.count(containing: "pending at start-up") == 1 })
        try drop("x", at: "slow/a.txt")
        let path = root.appendingPathComponent("drop/slow/a.txt").path

        let touching = Background { service.report(.touched(unit: "slow")) }
        #expect(await waitUntil(seconds: Self.patience) { (try? ledger.state(of: "slow")) == .waiting })
        touching.stop()

        let growing = Background {
            if let handle = FileHandle(forWritingAtPath: path) {
                handle.seekToEndOfFile()
                handle.write(Data("x".utf8))
                try? handle.close()
            }
        }
        #expect(await waitUntil(seconds: Self.patience) { (try? ledger.state(of: "slow")) == .settling })
        growing.stop()
        #expect(await waitUntil(seconds: Self.patience) { (try? ledger.state(of: "slow")) == .done })
        #expect(try ledger.runs(of: "slow").count == 1)
    }
}

/// Runs `step` every 50 ms on a thread of its own until stopped: not a task, so that a busy
/// cooperative pool (other suites run beside this one) cannot pause it.
final class Background: @unchecked Sendable {
    private let stopped = Mutex(false)

    init(_ step: @escaping @Sendable () -> Void) {
        let thread = Thread { [self] in
            while !stopped.withLock({ $0 }) {
                step()
                usleep(50_000)
            }
        }
        thread.start()
    }

    func stop() { stopped.withLock { $0 = true } }
}
