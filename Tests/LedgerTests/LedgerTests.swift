import Foundation
import Ledger
import Testing

@Suite struct LedgerTests {
    private func temporaryLedger() throws -> (Ledger, URL) {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("ledger-\(UUID().uuidString)")
        let path = folder.appendingPathComponent("nested/dicomdrop.sqlite")
        return (try Ledger(path: path), path)
    }

    private let print1 = Fingerprint(device: 1, inode: 42, size: 1000, modifiedNanoseconds: 1_700_000_000_123_456_789)

    @Test func sourcesContentsAndOutputsSurviveReopeningTheFile() throws {
        let (ledger, path) = try temporaryLedger()
        let content = ContentRecord(sha256: "ab", outcome: .processed, bucket: "small",
                                    outputs: ["small/1.2.3.png", "small/1.2.3.json"], configurationDigest: "cfg", unit: "study1")
        try ledger.record(contents: [content], sources: [SourceRecord(path: "study1/a.dcm", unit: "study1", fingerprint: print1, sha256: "ab")])

        let reopened = try Ledger(path: path)
        let sources = try reopened.sources()
        #expect(sources["study1/a.dcm"] == SourceRecord(path: "study1/a.dcm", unit: "study1", fingerprint: print1, sha256: "ab"))
        #expect(try reopened.content("ab")?.outputs == ["small/1.2.3.json", "small/1.2.3.png"])
        #expect(try reopened.content("ab")?.bucket == "small")
        #expect(try reopened.owner(ofOutput: "small/1.2.3.png") == "ab")
        #expect(try reopened.content("cd") == nil)
    }

    @Test func reRecordingAHashReplacesItsOutputs() throws {
        let (ledger, _) = try temporaryLedger()
        try ledger.record(contents: [ContentRecord(sha256: "ab", outcome: .processed, bucket: "small", outputs: ["small/x.png"],
                                                   configurationDigest: "1", unit: "u")], sources: [])
        try ledger.record(contents: [ContentRecord(sha256: "ab", outcome: .processed, bucket: "large", outputs: ["large/x.png"],
                                                   configurationDigest: "2", unit: "u")], sources: [])
        #expect(try ledger.content("ab")?.outputs == ["large/x.png"])
        #expect(try ledger.owner(ofOutput: "small/x.png") == nil)
    }

    @Test func runsRecordTheirTriggerCountsAndTheUnitsState() throws {
        let (ledger, _) = try temporaryLedger()
        let run = try ledger.beginRun(of: "study1", trigger: .inotify)
        #expect(try ledger.state(of: "study1") == .processing)
        try ledger.finishRun(run, of: "study1", counts: RunCounts(seen: 5, new: 3, duplicate: 1, skipped: 0, failed: 1), state: .done)
        #expect(try ledger.state(of: "study1") == .done)
        let runs = try ledger.runs(of: "study1")
        #expect(runs.count == 1)
        #expect(runs[0].trigger == .inotify)
        #expect(runs[0].counts == RunCounts(seen: 5, new: 3, duplicate: 1, skipped: 0, failed: 1))
    }
}
