@testable import Pipeline
import Testing

/// The pause's logic, by a clock and free-space figures the test supplies.
struct OutputPauseTests {
    @Test func aPauseIsSaidOnceHeldUntilSpaceGrowsOrTheRetryIntervalAndEndsWhenTheRetriedUnitRunsThrough() {
        var pause = OutputPause()
        #expect(!pause.isPaused && !pause.isHolding)
        let started = pause.paused(unit: "a", trigger: .inotify, free: 1000, at: 10)
        #expect(started && pause.isPaused && pause.isHolding)
        // Not enough freed, not long enough: held.
        let early = pause.retry(free: 1000 + OutputPause.gainToRetry - 1, at: 11)
        #expect(early == nil && pause.isHolding)
        // Space freed: the unit is handed back with its trigger.
        let retried = pause.retry(free: 1000 + OutputPause.gainToRetry, at: 12)
        #expect(retried?.unit == "a" && retried?.trigger == .inotify)
        #expect(!pause.isHolding && pause.isPaused)
        // Another unit running through does not end the pause; the retry pausing again is quiet.
        let other = pause.ranThrough("b", at: 13)
        #expect(other == nil)
        let again = pause.paused(unit: "a", trigger: .inotify, free: 5000, at: 14)
        #expect(!again)
        // No free-space change (a read-only filesystem): retried after the interval anyway.
        let unchanged = pause.retry(free: 5000, at: 14 + OutputPause.retrySeconds - 1)
        #expect(unchanged == nil)
        let byTime = pause.retry(free: nil, at: 14 + OutputPause.retrySeconds)
        #expect(byTime?.unit == "a")
        let lasted = pause.ranThrough("a", at: 80)
        #expect(lasted == 70 && !pause.isPaused)
        // The next refusal is a new pause, said again.
        let next = pause.paused(unit: "c", trigger: .rescan, free: nil, at: 90)
        #expect(next)
    }
}
