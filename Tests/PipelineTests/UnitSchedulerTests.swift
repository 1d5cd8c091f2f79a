import Ledger
@testable import Pipeline
import Shared
import Testing
import Watcher

/// The scheduler's states by an injected clock: the times are numbers the test chooses.
@Suite struct UnitSchedulerTests {
    private func files(_ size: Int64) -> [DroppedFile] {
        [DroppedFile(path: "u/a.dcm", unit: "u", stamp: FileStamp(inode: 1, size: size, modifiedNanoseconds: 0))]
    }

    @Test func aUnitGoesFromWaitingThroughSettlingToProcessingAndDone() {
        var scheduler = UnitScheduler(settleSeconds: 5)
        #expect(scheduler.isIdle)
        scheduler.touch("u", reason: .inotify, at: 0)
        #expect(scheduler.states["u"] == .waiting)
        #expect(scheduler.unitsToCheck(at: 3.9).isEmpty, "the first pass comes a recheck before the quiet period ends")
        #expect(scheduler.nextCheck == 4)
        #expect(scheduler.unitsToCheck(at: 4) == ["u"])
        #expect(scheduler.observe("u", files: files(10), recorded: false, at: 4) == .settling)
        #expect(scheduler.states["u"] == .settling)
        #expect(scheduler.unitsToCheck(at: 4.9).isEmpty, "not quiet for settle_seconds yet")
        #expect(scheduler.unitsToCheck(at: 5) == ["u"])
        #expect(scheduler.observe("u", files: files(10), recorded: false, at: 5) == .ready)
        #expect(scheduler.takeUnwrittenStates().map(\.state) == [.waiting, .settling])
        let next = scheduler.next()
        #expect(next?.unit == "u" && next?.trigger == .inotify)
        #expect(scheduler.states["u"] == .processing)
        #expect(!scheduler.isIdle)
        scheduler.finished("u", outcome: .done, at: 7)
        #expect(scheduler.states["u"] == .done)
        #expect(scheduler.isIdle)
        #expect(scheduler.takeUnwrittenStates().isEmpty, "the run writes processing and done itself")
    }

    @Test func aFileThatGrowsBetweenPassesOrATouchSendsTheUnitBackToWaiting() {
        var scheduler = UnitScheduler(settleSeconds: 2)
        scheduler.touch("u", reason: .poll, at: 0)
        #expect(scheduler.observe("u", files: files(10), recorded: false, at: 1) == .settling)
        #expect(scheduler.observe("u", files: files(20), recorded: false, at: 2) == .settling, "still being copied")
        scheduler.touch("u", reason: .inotify, at: 3.5)
        #expect(scheduler.states["u"] == .waiting)
        #expect(scheduler.unitsToCheck(at: 4).isEmpty, "the quiet period started again at 3.5")
        #expect(scheduler.observe("u", files: files(20), recorded: false, at: 4.5) == .settling)
        #expect(scheduler.observe("u", files: files(20), recorded: false, at: 5.5) == .ready)
        #expect(scheduler.next()?.trigger == .poll, "the first reason is kept")
    }

    @Test func aUnitGoneBeforeItSettledIsForgottenUnlessTheLedgerKnowsIt() {
        var scheduler = UnitScheduler(settleSeconds: 1)
        scheduler.touch("gone", reason: .inotify, at: 0)
        scheduler.touch("deleted-after-processing", reason: .inotify, at: 0)
        #expect(scheduler.observe("gone", files: [], recorded: false, at: 1) == .gone)
        #expect(scheduler.states["gone"] == nil)
        #expect(!scheduler.takeUnwrittenStates().contains { $0.unit == "gone" })
        // Its sources are in the ledger: a run must forget them.
        #expect(scheduler.observe("deleted-after-processing", files: [], recorded: true, at: 1) == .settling)
        #expect(scheduler.observe("deleted-after-processing", files: [], recorded: true, at: 2) == .ready)
        #expect(scheduler.isIdle == false)
    }

    @Test func aUnitTouchedWhileItIsProcessedWaitsAgainAfterwards() {
        var scheduler = UnitScheduler(settleSeconds: 1)
        scheduler.touch("u", reason: .inotify, at: 0)
        _ = scheduler.observe("u", files: files(1), recorded: false, at: 1)
        _ = scheduler.observe("u", files: files(1), recorded: false, at: 2)
        _ = scheduler.next()
        scheduler.touch("u", reason: .inotify, at: 2.5)
        #expect(scheduler.states["u"] == .processing, "a run is not disturbed")
        scheduler.finished("u", outcome: .failed, at: 3)
        #expect(scheduler.states["u"] == .waiting)
        #expect(scheduler.unitsToCheck(at: 4) == ["u"])
    }

    @Test func readyUnitsAreHandedOutOneAtATimeInTheOrderTheySettled() {
        var scheduler = UnitScheduler(settleSeconds: 1)
        for unit in ["b", "a", "c"] { scheduler.touch(unit, reason: .startup, at: 0) }
        for unit in ["c", "a", "b"] {
            let own = [DroppedFile(path: "\(unit)/x", unit: unit, stamp: FileStamp(inode: 1, size: 1, modifiedNanoseconds: 0))]
            _ = scheduler.observe(unit, files: own, recorded: false, at: 1)
            _ = scheduler.observe(unit, files: own, recorded: false, at: 2)
        }
        #expect(scheduler.readyCount == 3)
        #expect([scheduler.next(), scheduler.next(), scheduler.next()].map { $0?.unit } == ["c", "a", "b"])
        #expect(scheduler.next() == nil)
    }
}
