import Testing
import Watcher

@Suite struct SettleTrackerTests {
    @Test func aUnitIsReadyOnlyAfterQuietAndTwoEqualStatPasses() {
        var tracker = SettleTracker<[Int], String>(settleSeconds: 5)
        tracker.touch("study", reason: "inotify", at: 0)
        #expect(tracker.unitsToCheck(at: 4.9).isEmpty)
        #expect(tracker.unitsToCheck(at: 5) == ["study"])
        #expect(tracker.observe("study", snapshot: [10], at: 5) == nil)        // first pass
        #expect(tracker.unitsToCheck(at: 5.5).isEmpty)
        #expect(tracker.observe("study", snapshot: [20], at: 6) == nil)        // still growing
        #expect(tracker.observe("study", snapshot: [20], at: 7) == "inotify")  // unchanged: ready
        #expect(tracker.pendingUnits.isEmpty)
    }

    @Test func anEventRestartsTheQuietPeriodAndKeepsTheFirstReason() {
        var tracker = SettleTracker<[Int], String>(settleSeconds: 2)
        tracker.touch("study", reason: "startup", at: 0)
        _ = tracker.observe("study", snapshot: [1], at: 2)
        tracker.touch("study", reason: "inotify", at: 2.5)
        #expect(tracker.unitsToCheck(at: 4).isEmpty)
        #expect(tracker.unitsToCheck(at: 4.5) == ["study"])
        #expect(tracker.observe("study", snapshot: [1], at: 4.5) == nil)   // the old snapshot was dropped
        #expect(tracker.observe("study", snapshot: [1], at: 5.5) == "startup")
    }
}
