@preconcurrency import Glibc
import Foundation
import Ledger
import Testing

/// Fault 4 of issue 12: the output directory on a small tmpfs that fills. Mounting needs
/// root, which the tests have on this project's machines (and CI).
@Suite(.serialized, .enabled(if: getuid() == 0, "mounting a tmpfs needs root"))
struct DiskFullTests {
    static let files = 40

    /// The output directory on a 2 MiB tmpfs, most of it taken by a filler file (room for
    /// about a third of the outputs), and `files` distinct images dropped in unit `study`.
    static func nearlyFullOutput(of harness: DaemonHarness) throws -> (TmpfsMount, filler: URL) {
        try FileManager.default.createDirectory(at: harness.output, withIntermediateDirectories: true)
        let mount = try TmpfsMount(at: harness.output.path, bytes: 2 << 20)
        let filler = harness.output.appendingPathComponent("filler")
        do {
            try Data(repeating: 7, count: 1_700_000).write(to: filler)
            try DistinctImages.write(files, into: harness.drop.appendingPathComponent("study"))
        } catch {
            mount.unmount()
            throw error
        }
        return (mount, filler)
    }

    @Test func aFullOutputPausesProcessingOnceAndItResumesByItselfWhenSpaceIsFreed() async throws {
        let harness = try DaemonHarness()
        let (mount, filler) = try Self.nearlyFullOutput(of: harness)
        defer { mount.unmount() }

        try harness.start()
        let ledger = try harness.ledger()
        #expect(await waitUntil(seconds: 60) { harness.logText().contains("processing paused") }, "\(harness.logText())")
        // Paused: what is recorded is whole and on disk, nothing failed. On a loaded machine
        // this test may look a minute after the pause, when a timed retry (which pauses
        // again) can be under way: what follows holds during one too.
        let recorded = try ledger.sources(inUnit: "study").count
        #expect(recorded > 0 && recorded < Self.files, "the filesystem should fill mid-unit: \(recorded) recorded")
        var onDisk = Set(harness.outputs().keys)
        onDisk.remove("filler")
        #expect(Set(try ledger.outputs().map(\.path)).isSubset(of: onDisk), "the ledger names outputs that are not on disk while paused")
        #expect(try ledger.runs(of: "study").allSatisfy { $0.counts.failed == 0 })
        #expect(try ledger.runs(of: "study").first?.outcome == .paused)
        #expect(try ledger.runs(of: "study").allSatisfy { $0.outcome == nil || $0.outcome == .paused })
        let state = try ledger.state(of: "study")
        #expect(state != .done && state != .failed, "\(String(describing: state))")
        let log = harness.logText()
        #expect(log.contains("No space left on device"), "\(log)")

        try FileManager.default.removeItem(at: filler)
        let finished = await waitUntil(seconds: 60) {
            (try? ledger.state(of: "study")) == .done && ((try? ledger.sources(inUnit: "study").count) ?? 0) == Self.files
        }
        #expect(finished, "\(harness.logText())")
        #expect(harness.outputs().count == 2 * Self.files)   // a PNG and a JSON each
        let runs = try ledger.runs(of: "study")
        #expect(runs.last?.outcome == .done)
        #expect(runs.dropLast().allSatisfy { $0.outcome == .paused })
        // Each file processed once: what a paused run recorded was skipped by its fingerprint
        // afterwards, never read or hashed again.
        #expect(runs.reduce(0) { $0 + $1.counts.new } == Self.files)
        #expect(runs.last?.counts.skipped ?? 0 >= recorded)
        let text = harness.logText()
        #expect(text.components(separatedBy: "processing paused").count == 2, "said once: \(text)")
        #expect(text.components(separatedBy: "processing resumed").count == 2, "\(text)")
        #expect(await harness.stop() == 0)
    }

    /// The operator is told: /api/health answers 503 with the reason while paused, and 200
    /// again once it resumes; a webhook gets disk_full.
    @Test func aPauseMakesHealth503AndSendsDiskFull() async throws {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("receiver-\(UUID().uuidString).log")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let receiver = try OperatorTests.Receiver(failures: 0, log: scratch)
        let harness = try DaemonHarness(extraConfig: """
            http:
              listen: 127.0.0.1:0
            webhooks:
              - url: http://127.0.0.1:\(receiver.port)/
                events: [disk_full]
            """)
        let (mount, filler) = try Self.nearlyFullOutput(of: harness)
        defer { mount.unmount() }
        try harness.start()
        let server = try #require(await StatusServerTests.listeningAddress(in: harness), "\(harness.logText())")
        let health = server.appendingPathComponent("api/health")
        #expect(await waitUntil(seconds: 60) { harness.logText().contains("processing paused") }, "\(harness.logText())")
        let paused = try await StatusServerTests.get(health)
        #expect(paused.status == 503)
        let document = try StatusServerTests.json(paused.body)
        #expect(document["ok"] as? Bool == false)
        #expect((document["problems"] as? [String])?.first?.contains("No space left on device") == true, "\(document)")
        #expect(await waitUntil(seconds: 10) { receiver.requests.contains { ($0["body"] as? String)?.contains("\"disk_full\"") == true } })

        try FileManager.default.removeItem(at: filler)
        let ledger = try harness.ledger()
        #expect(await waitUntil(seconds: 60) { (try? ledger.state(of: "study")) == .done }, "\(harness.logText())")
        let resumed = try StatusServerTests.json(try await StatusServerTests.get(health).body)
        #expect(resumed["ok"] as? Bool == true, "\(resumed)")
        // The 2 MiB filesystem is still nearly full: said, but no reason for a 503.
        #expect((resumed["warnings"] as? [String])?.first?.contains("output filesystem has") == true, "\(resumed)")
        #expect(await harness.stop() == 0)
    }
}

/// A tmpfs of `bytes` mounted at `path` for the length of a test.
final class TmpfsMount: Sendable {
    let path: String

    init(at path: String, bytes: Int) throws {
        self.path = path
        let result = try ChildProcess.runTool("/usr/bin/mount", ["-t", "tmpfs", "-o", "size=\(bytes)", "tmpfs", path])
        guard result.status == 0 else { throw MountError(reason: result.standardError) }
    }

    struct MountError: Error { let reason: String }

    func unmount() {
        _ = try? ChildProcess.runTool("/usr/bin/umount", ["-l", path])
    }
}
