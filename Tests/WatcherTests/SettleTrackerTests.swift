import Foundation
import Testing
import Watcher

@Suite struct SettleTrackerTests {
    @Test func aUnitIsReadyOnlyAfterQuietAndTwoEqualStatPasses() {
        var tracker = SettleTracker<[Int], String>(settleSeconds: 5)
        tracker.touch("study", reason: "inotify", at: 0)
        #expect(tracker.nextCheck == 4)
        #expect(tracker.unitsToCheck(at: 3.9).isEmpty)
        #expect(tracker.unitsToCheck(at: 4) == ["study"])                      // a recheck before the end
        #expect(tracker.observe("study", snapshot: [10], at: 4) == nil)        // first pass
        #expect(tracker.unitsToCheck(at: 4.5).isEmpty)
        #expect(tracker.nextCheck == 5)
        #expect(tracker.observe("study", snapshot: [20], at: 5) == nil)        // still growing
        #expect(tracker.observe("study", snapshot: [20], at: 6) == "inotify")  // unchanged: ready
        #expect(tracker.pendingUnits.isEmpty)
        #expect(tracker.nextCheck == nil)
    }

    /// A unit copied at once and left alone is ready when its quiet period ends, not a
    /// recheck later; a pass made early never makes it ready before then.
    @Test func aQuietUnitIsReadyExactlySettleSecondsAfterItsLastChange() {
        var tracker = SettleTracker<[Int], String>(settleSeconds: 5)
        tracker.touch("study", reason: "inotify", at: 10)
        #expect(tracker.observe("study", snapshot: [7], at: 14) == nil)
        #expect(tracker.observe("study", snapshot: [7], at: 15) == "inotify")
        var early = SettleTracker<[Int], String>(settleSeconds: 5)
        early.touch("study", reason: "inotify", at: 0)
        #expect(early.observe("study", snapshot: [7], at: 0.5) == nil)     // a pass made before it was due
        #expect(early.nextCheck == 5)
        #expect(early.observe("study", snapshot: [7], at: 5) == "inotify")
    }

    @Test func anEventRestartsTheQuietPeriodAndKeepsTheFirstReason() {
        var tracker = SettleTracker<[Int], String>(settleSeconds: 2)
        tracker.touch("study", reason: "startup", at: 0)
        _ = tracker.observe("study", snapshot: [1], at: 1)
        tracker.touch("study", reason: "inotify", at: 2.5)
        #expect(tracker.unitsToCheck(at: 3).isEmpty)
        #expect(tracker.unitsToCheck(at: 3.5) == ["study"])
        #expect(tracker.observe("study", snapshot: [1], at: 3.5) == nil)   // the old snapshot was dropped
        #expect(tracker.observe("study", snapshot: [1], at: 4.5) == "startup")
    }

    /// A quiet period of a second or less is its own recheck: the first pass comes with the
    /// change, the second when the period ends.
    @Test func aShortQuietPeriodIsCheckedAtOnceAndWhenItEnds() {
        var tracker = SettleTracker<[Int], String>(settleSeconds: 0.5)
        tracker.touch("study", reason: "inotify", at: 3)
        #expect(tracker.nextCheck == 3)
        #expect(tracker.observe("study", snapshot: [1], at: 3) == nil)
        #expect(tracker.nextCheck == 3.5)
        #expect(tracker.observe("study", snapshot: [1], at: 3.5) == "inotify")
    }

    /// A file growing every 5 ms for 2 s under `settle_seconds: 1`, with passes made when
    /// due as the daemon's loop makes them: the passes back off (11 here; one per change,
    /// 402, before), and the unit is ready after its quiet period, at most a recheck late.
    @Test func aUnitBeingWrittenIsNotWalkedAtEveryChange() throws {
        var tracker = SettleTracker<[Int], String>(settleSeconds: 1)
        var passes = 0, size = 0
        var ready: Double?
        for millisecond in 0...6000 where ready == nil {
            let now = Double(millisecond) / 1000
            if millisecond <= 2000 && millisecond % 5 == 0 {
                size += 1
                tracker.touch("study", reason: "inotify", at: now)
            }
            for unit in tracker.unitsToCheck(at: now) {
                passes += 1
                if tracker.observe(unit, snapshot: [size], at: now) != nil { ready = now }
            }
        }
        #expect(passes <= 12, "\(passes) stat passes of a unit being written")
        let readyAt = try #require(ready)
        #expect(readyAt >= 3 && readyAt <= 4, "ready at \(readyAt) s; last change at 2 s")
    }

    /// A burst of changes over a few milliseconds (one file copied in) is ready about a
    /// first backoff after its quiet period, never before it.
    @Test func aBriefBurstIsReadyJustAfterItsQuietPeriod() {
        var tracker = SettleTracker<[Int], String>(settleSeconds: 0.5)
        tracker.touch("study", reason: "inotify", at: 3)
        #expect(tracker.observe("study", snapshot: [1], at: 3) == nil)     // half written
        tracker.touch("study", reason: "inotify", at: 3.002)
        tracker.touch("study", reason: "inotify", at: 3.004)
        #expect(tracker.nextCheck == 3 + SettleTracker<[Int], String>.firstBackoffSeconds)
        #expect(tracker.observe("study", snapshot: [2], at: 3.01) == nil)  // whole, not yet seen twice
        #expect(tracker.nextCheck == 3.51)
        #expect(tracker.observe("study", snapshot: [2], at: 3.51) == "inotify")
    }

    @Test func eachUnitsNextPassIsKnownAlone() {
        var tracker = SettleTracker<[Int], String>(settleSeconds: 5)
        tracker.touch("study", reason: "inotify", at: 1)
        tracker.touch("later", reason: "inotify", at: 3)
        #expect(tracker.nextCheck(of: "study") == 5)
        #expect(tracker.nextCheck(of: "later") == 7)
        #expect(tracker.nextCheck(of: "other") == nil)
        #expect(tracker.nextCheck == 5)
    }

    @Test func settleSecondsZeroMeansTheFirstStatPassDecides() {
        var tracker = SettleTracker<[Int], String>(settleSeconds: 0)
        tracker.touch("study", reason: "startup", at: 0)
        #expect(tracker.unitsToCheck(at: 0) == ["study"])
        #expect(tracker.observe("study", snapshot: [1], at: 0) == "startup")
    }
}

/// `watch.mode: auto` from statfs and the mount table.
@Suite struct WatcherChoiceTests {
    static let mountInfo = """
        22 1 259:1 / / rw,relatime shared:1 - ext4 /dev/root rw
        98 22 0:45 / /srv/drop/nas rw,relatime shared:50 - nfs4 nas:/export/studies rw,vers=4.2
        99 22 0:46 / /srv/drop/with\\040space rw - fuse.sshfs host:/x rw
        100 22 0:47 / /srv/dropbox rw - cifs //h/s rw
        """

    @Test func sharedMountsBelowTheDropDirectoryAreFoundAndOthersAreNot() {
        let found = FilesystemKind.sharedMounts(below: "/srv/drop", mountInfo: Self.mountInfo)
        #expect(found.map(\.name) == ["nfs4", "fuse.sshfs"])
        #expect(found.map(\.mountPoint) == ["/srv/drop/nas", "/srv/drop/with space"])
    }

    @Test func autoPicksPollForAMountBelowAndInotifyOnALocalFolder() throws {
        let local = FileManager.default.temporaryDirectory.path
        let below = WatcherChoice.choose(.auto, drop: "/srv/drop", mountInfo: Self.mountInfo)
        #expect(below.mode == .poll)
        #expect(below.reason.contains("nfs4 at /srv/drop/nas"))
        let plain = WatcherChoice.choose(.auto, drop: local, mountInfo: "22 1 259:1 / / rw - ext4 /dev/root rw\n")
        #expect(plain.mode == .inotify, "\(plain.reason)")
        #expect(WatcherChoice.choose(.poll, drop: local).mode == .poll)
        #expect(WatcherChoice.choose(.inotify, drop: "/srv/drop", mountInfo: Self.mountInfo).mode == .inotify)
    }
}
