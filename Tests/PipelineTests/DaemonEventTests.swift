import Config
import Foundation
import Ledger
@testable import Pipeline
import Testing

/// Which runs make which events, and that the live state hands every event to its
/// subscribers and keeps the progress of the runs.
struct DaemonEventTests {
    func summary(_ outcome: RunOutcome, failed: Int = 0, failures: [DaemonMetrics.FailureKind: Int] = [:]) -> RunSummary {
        RunSummary(unit: "study", trigger: .inotify, counts: RunCounts(seen: 3, new: 3 - failed, failed: failed), outcome: outcome,
                   seconds: 0.5, pausedBy: nil, failures: failures)
    }

    @Test func aRunMakesUnitDoneOrUnitFailedWithItsReasons() {
        #expect(DaemonEvent.of(summary(.done))?.kind == .unitDone)
        let failedFiles = DaemonEvent.of(summary(.done, failed: 2, failures: [.invalidDICOM: 1, .unreadable: 1]))
        #expect(failedFiles?.kind == .unitFailed)
        #expect(failedFiles?.reasons == ["invalid_dicom": 1, "unreadable": 1])
        #expect(failedFiles?.run?.counts.failed == 2 && failedFiles?.unit == "study")
        #expect(DaemonEvent.of(summary(.failed))?.kind == .unitFailed)
        #expect(DaemonEvent.of(summary(.interrupted)) == nil)
        #expect(DaemonEvent.of(summary(.paused)) == nil)
    }

    @Test func subscribersGetEveryEventAndTheProgressAddsUp() {
        let live = LiveState()
        let received = Received()
        live.subscribe { received.add($0.kind) }
        live.record(summary(.done))
        live.recordOverflow()
        live.recordPause(reason: "No space left on device")
        #expect(received.kinds == [.unitDone, .overflow, .diskFull])
        #expect(live.snapshot.inotifyOverflows == 1 && live.snapshot.paused?.reason == "No space left on device")

        live.runStarting(files: 2, bytes: 300)
        live.fileHandled(bytes: 100)
        live.runStarting(files: 1, bytes: 50)
        live.fileHandled(bytes: 200)
        #expect(live.snapshot.progress == LiveState.Snapshot.Progress(runsStarted: 2, filesTotal: 3, filesDone: 2, bytesTotal: 350, bytesDone: 300))
        #expect(live.snapshot.lastActivity != nil)
    }
}

final class Received: @unchecked Sendable {
    private let lock = NSLock()
    private var list: [WebhookEvent] = []
    func add(_ kind: WebhookEvent) { lock.withLock { list.append(kind) } }
    var kinds: [WebhookEvent] { lock.withLock { list } }
}
