@preconcurrency import Glibc
import Foundation
import Ledger
import Testing

/// A drop directory where inotify sees nothing: a FUSE mount (Debian's bindfs, installed by
/// `make test`) over a folder the test writes to from underneath, as a NAS's own writes or
/// another host's reach an NFS or SMB client. Needs root and /dev/fuse, as CI has.
@Suite(.serialized) struct NetworkMountTests {
    /// Mounts `source` on `mountPoint` with bindfs; unmounted by `unmount`.
    private static func mount(_ source: URL, on mountPoint: URL) throws {
        let status = spawnAndWait("/usr/bin/bindfs", [source.path, mountPoint.path])
        guard status == 0 else {
            throw MountError(message: "bindfs \(source.path) \(mountPoint.path) exited with \(status) (make test installs bindfs; FUSE needs /dev/fuse and root)")
        }
    }

    private static func unmount(_ mountPoint: URL) {
        _ = spawnAndWait("/usr/bin/fusermount", ["-u", mountPoint.path])
    }

    /// posix_spawn and waitpid, not Foundation's Process: bindfs leaves a daemon behind that
    /// inherits whatever Process uses to see its child exit, so waiting on it never ends.
    private static func spawnAndWait(_ path: String, _ arguments: [String]) -> Int32 {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        var argv: [UnsafeMutablePointer<CChar>?] = ([path] + arguments).map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        var pid: pid_t = 0
        guard posix_spawn(&pid, path, &actions, nil, &argv, environ) == 0 else { return -1 }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        return (status & 0x7f) == 0 ? (status >> 8) & 0xff : -1
    }

    struct MountError: Error, CustomStringConvertible {
        let message: String
        var description: String { message }
    }

    private static func device(of path: String) -> UInt64 {
        var status = stat()
        return stat(path, &status) == 0 ? UInt64(status.st_dev) : 0
    }

    /// Copies corpus files into `folder/unit` (the backing folder: no event reaches the mount).
    private static func write(_ corpusFiles: [String], into folder: URL) throws {
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        for file in corpusFiles {
            try FileManager.default.copyItem(atPath: Corpus.path(file), toPath: folder.appendingPathComponent((file as NSString).lastPathComponent).path)
        }
    }

    @Test func autoModePollsAFUSEMountAndARemountReadsNoFileAgain() async throws {
        // The rescan is an hour away: only polling can find what arrives underneath.
        let harness = try DaemonHarness(settleSeconds: 0.3, extraConfig: "watch:\n  poll_seconds: 1")
        let backing = harness.root.appendingPathComponent("nas-export")
        try FileManager.default.createDirectory(at: backing, withIntermediateDirectories: true)
        try Self.mount(backing, on: harness.drop)
        defer { Self.unmount(harness.drop) }
        try harness.start()
        #expect(await waitUntil(seconds: 10) { harness.logText().contains("pending at start-up") }, "\(harness.logText())")
        #expect(harness.logText().contains("watcher: poll every 1.0 s, because the drop directory is on fuse"), "\(harness.logText())")

        // Written beside the export and renamed into it whole: on a loaded machine a copy
        // that stalls longer than settle_seconds would be taken for a finished one, and
        // this test is about polling, not settling (DaemonTests cover slow copies).
        let staging = harness.root.appendingPathComponent("staging")
        try Self.write(DaemonTests.images, into: staging)
        try FileManager.default.moveItem(at: staging, to: backing.appendingPathComponent("study"))
        let ledger = try harness.ledger()
        // poll_seconds + settle (two stat passes) and the run itself, with room for a loaded machine.
        #expect(await waitUntil(seconds: 20) { (try? ledger.state(of: "study")) == .done }, "\(harness.logText())")
        #expect(try ledger.runs(of: "study").map(\.trigger) == [.poll], "\(harness.logText())")
        #expect(try ledger.runs(of: "study").map(\.counts) == [RunCounts(seen: 4, new: 4)], "\((try? ledger.runs(of: "study")) ?? [])")
        #expect(await harness.stop() == 0)

        // Remount, with other FUSE mounts taken first so that the device number changes as
        // it does when a NAS is mounted again after a reboot. Another process mounting and
        // unmounting meanwhile (a tmpfs, a FUSE mount) can hand the old number back: take
        // one more mount and remount, a few times at most, until it differs.
        let before = Self.device(of: harness.drop.path)
        var others: [URL] = []
        defer { for other in others { Self.unmount(other) } }
        for attempt in 0..<4 where Self.device(of: harness.drop.path) == before {
            Self.unmount(harness.drop)
            let other = harness.root.appendingPathComponent("other-mount-\(attempt)")
            try FileManager.default.createDirectory(at: other, withIntermediateDirectories: true)
            try Self.mount(backing, on: other)
            others.append(other)
            try Self.mount(backing, on: harness.drop)
        }
        #expect(Self.device(of: harness.drop.path) != before, "the remount should have another st_dev")
        let again = try harness.run(["--once"])
        #expect(again.status == 0, "\(again.standardError)")
        #expect(again.standardError.contains("0 unit(s) pending at start-up"), "\(again.standardError)")
        #expect(try ledger.runs(of: "study").count == 1, "no file read again")
    }

    @Test func pollModeOnALocalFolderFindsADroppedFolder() async throws {
        let harness = try DaemonHarness(settleSeconds: 0.3, extraConfig: "watch:\n  mode: poll\n  poll_seconds: 0.5")
        try harness.start()
        #expect(await waitUntil(seconds: 10) { harness.logText().contains("pending at start-up") }, "\(harness.logText())")
        #expect(harness.logText().contains("watcher: poll every 0.5 s, because watch.mode is poll"), "\(harness.logText())")
        try harness.drop(["pydicom/test_files/CT_small.dcm"], into: "study")
        let ledger = try harness.ledger()
        #expect(await waitUntil(seconds: 20) { (try? ledger.state(of: "study")) == .done }, "\(harness.logText())")
        #expect(try ledger.runs(of: "study").map(\.trigger) == [.poll])
        #expect(await harness.stop() == 0)
    }

    /// `--once` settles like the daemon: a file still being copied is read only once its
    /// copy is done, never half.
    @Test func onceWaitsForAUnitStillBeingCopied() async throws {
        let harness = try DaemonHarness(settleSeconds: 1)
        let source = try Data(contentsOf: URL(fileURLWithPath: Corpus.path("pydicom-data/MR2_UNCR.dcm")))
        let folder = harness.drop.appendingPathComponent("copying")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let target = folder.appendingPathComponent("MR2_UNCR.dcm")
        let piece = source.count / 6 + 1
        _ = FileManager.default.createFile(atPath: target.path, contents: source[0..<piece])
        let once = Task { try harness.run(["--once"]) }
        // The rest in pieces, each pause shorter than settle_seconds.
        await writeSlowly(Data(source[piece...]), to: target.path, pieces: 5, pause: 0.3)
        let result = try await once.value
        #expect(result.status == 0, "\(result.standardError)")
        let ledger = try harness.ledger()
        #expect(try ledger.runs(of: "copying").map(\.counts) == [RunCounts(seen: 1, new: 1)], "\(result.standardError)")
        #expect(try ledger.state(of: "copying") == .done)
    }
}
