@preconcurrency import Glibc
import Foundation
import Ledger
import Testing

/// Fault 6 of issue 12 (and fault 3's unreadable file): reads that fail, injected into the
/// real binary by Tests/Shims/readfault.c through LD_PRELOAD, the way a failing disk or a
/// NAS fails them (the tests run as root, so permissions cannot make a file unreadable).
@Suite(.serialized) struct ReadFaultTests {
    /// Builds the injector once per test run.
    static func injector() throws -> String {
        let source = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Shims/readfault.c").path
        let library = FileManager.default.temporaryDirectory.appendingPathComponent("dicomdrop-readfault-\(getpid()).so").path
        if !FileManager.default.fileExists(atPath: library) {
            // Built under a name of its own and renamed into place: suites running at once
            // may build it together, and none may load a half-written library.
            let building = library + ".\(UUID().uuidString)"
            let built = try ChildProcess.runTool("/usr/bin/env", ["cc", "-shared", "-fPIC", "-O2", "-o", building, source, "-ldl"])
            guard built.status == 0, rename(building, library) == 0 else { throw InjectorError(reason: built.standardError) }
        }
        return library
    }

    struct InjectorError: Error { let reason: String }

    @Test func transientReadErrorsAreRetriedAndPersistentOnesRecordedThenRetriedByTheNextPass() async throws {
        let harness = try DaemonHarness()
        try harness.drop(DaemonTests.images, into: "study")
        // CT_small: ESTALE twice, then reads (a remounted NAS). MR_small: EIO every time
        // (a bad sector). MR2_UNCR: EACCES, which no retry changes.
        let faults = "CT_small.dcm:\(ESTALE):2,MR_small.dcm:\(EIO):-1,MR2_UNCR.dcm:\(EACCES):-1"
        let run = try harness.run(["--once"], environment: ["LD_PRELOAD": try Self.injector(), "DD_READ_FAULTS": faults])
        #expect(run.status == 0, "\(run.standardError)")
        let ledger = try harness.ledger()
        let recorded = try ledger.sources(inUnit: "study")
        #expect(Set(recorded.keys) == ["study/CT_small.dcm", "study/RG1_UNCR.dcm"], "\(run.standardError)")
        let unreadable = try ledger.unreadable(inUnit: "study")
        #expect(Set(unreadable.keys) == ["study/MR_small.dcm", "study/MR2_UNCR.dcm"])
        // Four reads over 2.6 s for the error that may pass; one for the one that cannot.
        #expect(unreadable["study/MR_small.dcm"]?.reason == "Input/output error")
        #expect(unreadable["study/MR_small.dcm"]?.attempts == 4)
        #expect(unreadable["study/MR2_UNCR.dcm"]?.reason == "Permission denied")
        #expect(unreadable["study/MR2_UNCR.dcm"]?.attempts == 1)
        #expect(unreadable.values.allSatisfy { $0.runs == 1 })
        #expect(run.standardError.contains("MR_small.dcm: cannot be read: Input/output error (4 attempts)"), "\(run.standardError)")
        #expect(try ledger.runs(of: "study").last?.counts == RunCounts(seen: 4, new: 2, duplicate: 0, skipped: 0, failed: 2))
        #expect(harness.outputs().count == 4)

        // Still failing at the next pass: tried again, counted again.
        let again = try harness.run(["--once"], environment: ["LD_PRELOAD": try Self.injector(), "DD_READ_FAULTS": "MR_small.dcm:\(EIO):-1"])
        #expect(again.status == 0)
        #expect(try ledger.unreadable(inUnit: "study")["study/MR_small.dcm"]?.runs == 2)
        #expect(try ledger.unreadable(inUnit: "study")["study/MR2_UNCR.dcm"] == nil)
        #expect(try ledger.runs(of: "study").last?.counts == RunCounts(seen: 4, new: 1, duplicate: 0, skipped: 2, failed: 1))

        // The disk is whole again: the next pass reads it, and its row goes.
        #expect(try harness.run(["--once"]).status == 0)
        #expect(try ledger.sources(inUnit: "study").count == 4)
        #expect(try ledger.unreadable(inUnit: "study").isEmpty)
        #expect(harness.outputs().count == 8)
        #expect(try ledger.runs(of: "study").last?.counts == RunCounts(seen: 4, new: 1, duplicate: 0, skipped: 3, failed: 0))
    }

    /// The flush before a batch's rows are committed fails (a writeback error): the rows are
    /// not committed, so the ledger never vouches for outputs that may not be on disk; the
    /// run fails with the reason, and the next run processes the files again.
    @Test func aFailedDurabilityFlushRecordsNothingAndTheNextRunDoesTheWork() throws {
        let harness = try DaemonHarness()
        try harness.drop(["pydicom/test_files/CT_small.dcm", "pydicom/test_files/MR_small.dcm"], into: "study")
        let failed = try harness.run(["--once"], environment: ["LD_PRELOAD": try Self.injector(), "DD_SYNCFS_FAULT": "\(EIO)"])
        #expect(failed.status == 0, "\(failed.standardError)")
        #expect(failed.standardError.contains("outputs not recorded"), "\(failed.standardError)")
        let ledger = try harness.ledger()
        #expect(try ledger.sources(inUnit: "study").isEmpty)
        #expect(try ledger.outputs().isEmpty)
        let runs = try ledger.runs(of: "study")
        #expect(runs.map(\.outcome) == [.failed])
        #expect(runs.first?.error?.contains("syncfs: Input/output error") == true, "\(runs)")
        #expect(try ledger.state(of: "study") == .failed)

        let again = try harness.run(["--once"])
        #expect(again.status == 0, "\(again.standardError)")
        #expect(try ledger.sources(inUnit: "study").count == 2)
        #expect(try ledger.runs(of: "study").last?.outcome == .done)
        #expect(Set(try ledger.outputs().map(\.path)) == Set(harness.outputs().keys))
    }
}
