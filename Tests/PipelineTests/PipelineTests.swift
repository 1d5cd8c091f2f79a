@preconcurrency import Glibc
import Config
import Crypto
import Deidentify
import Foundation
import Watcher
import GRDB
import Imaging
import Ledger
import Logging
@testable import Pipeline
import Synchronization
import Testing

/// The pipeline's parts on real folders, a real SQLite ledger and a real corpus file.
@Suite struct PipelineTests {
    private let root = FileManager.default.temporaryDirectory.appendingPathComponent("pipeline-\(UUID().uuidString)")
    private var drop: URL { root.appendingPathComponent("drop") }
    private var output: URL { root.appendingPathComponent("out") }

    private func write(_ bytes: [UInt8], to relative: String) throws {
        let url = drop.appendingPathComponent(relative)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(bytes).write(to: url)
    }

    private static let corpusCT = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("corpus/files/pydicom/test_files/CT_small.dcm")

    @Test func dropTreeUnitsAreTopLevelEntriesAndCopiesInProgressAreNotFiles() throws {
        try write([1], to: "study1/series/a.dcm")
        try write([2], to: "study1/b.dcm")
        try write([3], to: "study1/.b.dcm.Xy12Ab")  // rsync's temporary
        try write([4], to: "study1/c.dcm.part")
        try write([5], to: "loose.dcm")
        try write([6], to: ".hidden")
        try FileManager.default.createSymbolicLink(atPath: drop.appendingPathComponent("study1/link").path,
                                                   withDestinationPath: "/etc/passwd")
        defer { try? FileManager.default.removeItem(at: root) }

        let tree = DropTree(root: drop)
        #expect(tree.units() == ["loose.dcm", "study1"])
        #expect(tree.files(inUnit: "study1").map(\.path) == ["study1/b.dcm", "study1/series/a.dcm"])
        #expect(tree.files(inUnit: "loose.dcm").map(\.unit) == ["loose.dcm"])
        #expect(tree.files(inUnit: "vanished").isEmpty)
    }

    @Test func aFingerprintChangesWithSizeOrModificationTimeAndNotOtherwise() throws {
        try write([1, 2, 3], to: "u/a")
        defer { try? FileManager.default.removeItem(at: root) }
        let tree = DropTree(root: drop)
        let path = drop.appendingPathComponent("u/a").path
        let first = try #require(tree.fingerprint(of: "u/a"))
        #expect(tree.fingerprint(of: "u/a") == first)

        // Same size, rewritten in place: only the mtime tells. Set it explicitly, since two
        // writes within one kernel tick can share a timestamp.
        try write([1, 2, 4], to: "u/a")
        var times = [timespec(tv_sec: 1_700_000_000, tv_nsec: 5), timespec(tv_sec: 1_700_000_000, tv_nsec: 5)]
        #expect(utimensat(AT_FDCWD, path, &times, 0) == 0)
        let second = try #require(tree.fingerprint(of: "u/a"))
        #expect(second != first)
        #expect(second.inode == first.inode)
        #expect(second.modifiedNanoseconds == 1_700_000_000_000_000_005)

        try write([1, 2, 4, 5], to: "u/a")
        #expect(tree.fingerprint(of: "u/a")?.size == 4)
        #expect(tree.fingerprint(of: "u/missing") == nil)
    }

    @Test func streamedHashEqualsTheOneShotHashAcrossChunkBoundaries() throws {
        defer { try? FileManager.default.removeItem(at: root) }
        var generator = SystemRandomNumberGenerator()
        for size in [0, 1, ContentHasher.chunkSize - 1, ContentHasher.chunkSize, 2 * ContentHasher.chunkSize + 17] {
            let bytes = (0..<size).map { _ in UInt8.random(in: 0...255, using: &generator) }
            try write(bytes, to: "h/\(size)")
            let expected = SHA256.hash(data: bytes).map { String(format: "%02x", $0) }.joined()
            let path = drop.appendingPathComponent("h/\(size)").path
            #expect(try ContentHasher.sha256(ofFileAt: path) == expected)
            let (sha, read) = try ContentHasher.hashAndRead(fileAt: path)
            #expect(sha == expected)
            #expect(read == Data(bytes))
        }
        #expect(throws: ContentHasher.Failure.self) { try ContentHasher.sha256(ofFileAt: root.path + "/nope") }
    }

    @Test(arguments: [true, false])
    func outputWritesAreAtomicAndStartUpSweepsLeftoverTemporaries(useUnnamedFiles: Bool) throws {
        defer { try? FileManager.default.removeItem(at: root) }
        let writer = OutputWriter(root: output, useUnnamedFiles: useUnnamedFiles)
        try writer.write(Data("old".utf8), to: "small/1.2.3.json")
        // Replacing an output goes through a temporary name and a rename; nothing else stays.
        try writer.write(Data("new".utf8), to: "small/1.2.3.json")
        #expect(try FileManager.default.contentsOfDirectory(atPath: output.appendingPathComponent("small").path) == ["1.2.3.json"])
        let leftover = output.appendingPathComponent("small/\(OutputWriter.temporaryMarker)abc-1.2.4.png")
        try Data("half".utf8).write(to: leftover)
        // Deeper folders are swept too; a symbolic link to a folder elsewhere is not followed.
        let deep = output.appendingPathComponent("held/7/0001")
        try FileManager.default.createDirectory(at: deep, withIntermediateDirectories: true)
        try Data("half".utf8).write(to: deep.appendingPathComponent("\(OutputWriter.temporaryMarker)def-1.2.5.json"))
        try Data("kept".utf8).write(to: deep.appendingPathComponent(".hidden-output"))
        let elsewhere = root.appendingPathComponent("elsewhere")
        try FileManager.default.createDirectory(at: elsewhere, withIntermediateDirectories: true)
        try Data("not ours".utf8).write(to: elsewhere.appendingPathComponent("\(OutputWriter.temporaryMarker)x"))
        try FileManager.default.createSymbolicLink(at: output.appendingPathComponent("link"), withDestinationURL: elsewhere)
        #expect(writer.sweepTemporaries() == 2)
        #expect(try FileManager.default.contentsOfDirectory(atPath: deep.path) == [".hidden-output"])
        #expect(FileManager.default.fileExists(atPath: elsewhere.appendingPathComponent("\(OutputWriter.temporaryMarker)x").path))
        try FileManager.default.removeItem(at: output.appendingPathComponent("link"))
        try FileManager.default.removeItem(at: output.appendingPathComponent("held"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: output.appendingPathComponent("small").path) == ["1.2.3.json"])
        #expect(try String(contentsOf: output.appendingPathComponent("small/1.2.3.json"), encoding: .utf8) == "new")
        // A folder removed while the daemon runs is made again.
        try FileManager.default.removeItem(at: output.appendingPathComponent("small"))
        try writer.write(Data("again".utf8), to: "small/1.2.3.json")
        #expect(try String(contentsOf: output.appendingPathComponent("small/1.2.3.json"), encoding: .utf8) == "again")
    }

    @Test func ledgerBatchesCommitInOrderOffThePoolAndStopAtTheFirstFailure() async throws {
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: root) }
        let ledger = try Ledger(path: root.appendingPathComponent("ledger.sqlite"))
        // The third batch fails as a full disk would; the commit of every batch is real. Each
        // commit notes its thread and whether it runs inside a task (a pool thread would).
        let committers = Mutex<[(thread: pthread_t, insideTask: Bool)]>([])
        let commits = LedgerCommitQueue().session { (batch) throws(Ledger.LedgerError) in
            let insideTask = withUnsafeCurrentTask { $0 != nil }
            committers.withLock { $0.append((pthread_self(), insideTask)) }
            if batch.sources.contains(where: { $0.path.hasPrefix("u/fail") }) { throw .database("disk full") }
            try ledger.record(contents: batch.contents, sources: batch.sources)
        }
        let caller = pthread_self()
        func batch(_ name: String, fingerprint size: Int64) -> LedgerBatch {
            LedgerBatch(sources: [SourceRecord(path: "u/\(name)", unit: "u",
                                               fingerprint: Fingerprint(inode: 1, size: size, modifiedNanoseconds: 0),
                                               sha256: String(repeating: "a", count: 64))])
        }
        // The same path twice: the later batch must win, so order is kept.
        commits.submit(batch("a", fingerprint: 1))
        commits.submit(batch("a", fingerprint: 2))
        commits.submit(LedgerBatch())
        commits.submit(batch("fail", fingerprint: 3))
        commits.submit(batch("after", fingerprint: 4))
        await #expect(throws: Ledger.LedgerError.self) { try await commits.finish() }
        #expect(commits.hasFailed)
        let recorded = try ledger.sources()
        #expect(recorded.keys.sorted() == ["u/a"])
        #expect(recorded["u/a"]?.fingerprint.size == 2)
        // Off the pool: the two "a" batches and the failing one were committed outside any
        // task and never on the submitting task's thread; the empty batch and the one after
        // the failure never reached the commit.
        let seen = committers.withLock { $0 }
        #expect(seen.count == 3)
        #expect(seen.allSatisfy { !$0.insideTask && pthread_equal($0.thread, caller) == 0 })
    }

    /// A disk slower than the workers holds the run back at `maximumPending` batches.
    @Test func aRunWaitsWhenTheLedgerCommitsFallBehind() async throws {
        let gate = DispatchSemaphore(value: 0)
        let committed = Mutex<[String]>([])
        let commits = LedgerCommitQueue().session(maximumPending: 1) { batch in
            gate.wait()  // the sync of a slow disk
            committed.withLock { $0 += batch.sources.map(\.path) }
        }
        func batch(_ path: String) -> LedgerBatch {
            LedgerBatch(sources: [SourceRecord(path: path, unit: "u", fingerprint: Fingerprint(inode: 1, size: 1, modifiedNanoseconds: 0),
                                               sha256: String(repeating: "b", count: 64))])
        }
        commits.submit(batch("u/1"))
        let admitted = Mutex(false)
        let next = Task {
            await commits.waitForRoom()
            admitted.withLock { $0 = true }
            commits.submit(batch("u/2"))
        }
        // Bounded poll: the second batch's caller is parked, and only a commit can free it.
        let deadline = ContinuousClock.now + .seconds(10)
        while commits.heldBack == 0 && ContinuousClock.now < deadline { await Task.yield() }
        #expect(commits.heldBack == 1 && commits.pendingBatches == 1)
        #expect(!admitted.withLock { $0 })
        gate.signal()
        await next.value
        gate.signal()
        try await commits.finish()
        #expect(admitted.withLock { $0 })
        #expect(committed.withLock { $0 } == ["u/1", "u/2"])
        #expect(commits.pendingBatches == 0)
    }

    /// A full pass (start-up, rescan) compares the tree with the ledger; a poll pass with
    /// the in-memory index the last pass left, reading no table.
    @Test func passesFindNewChangedAndDeletedFilesWithoutHashing() async throws {
        try write([1], to: "done/a")
        try write([2], to: "changed/a")
        try write([3], to: "deleted/a")
        try write([4], to: "new/a")
        defer { try? FileManager.default.removeItem(at: root) }
        let ledger = try Ledger(path: root.appendingPathComponent("ledger.sqlite"))
        let tree = DropTree(root: drop)
        let recorded = ["done/a", "changed/a", "deleted/a"].map { path in
            SourceRecord(path: path, unit: String(path.prefix { $0 != "/" }), fingerprint: tree.fingerprint(of: path)!, sha256: "x")
        }
        try ledger.record(contents: [], sources: recorded)
        try write([2, 2], to: "changed/a")
        try FileManager.default.removeItem(at: drop.appendingPathComponent("deleted"))
        let index = DropIndex(tree: tree)
        #expect(await index.pass(reseedingWith: try ledger.recordedStamps()).changedUnits == ["changed", "deleted", "new"])
        #expect(await index.pass().changedUnits == [], "the index now holds what the full pass saw")
        try write([5], to: "later/a")
        try FileManager.default.removeItem(at: drop.appendingPathComponent("new"))
        var times = [timespec(tv_sec: 1_700_000_000, tv_nsec: 0), timespec(tv_sec: 1_700_000_000, tv_nsec: 0)]
        #expect(utimensat(AT_FDCWD, drop.appendingPathComponent("done/a").path, &times, 0) == 0)
        let poll = await index.pass()
        #expect(poll.changedUnits == ["done", "later", "new"])
        #expect(poll.files == 3)
    }

    @Test func aUnitWithGoodNotDICOMAndTruncatedFilesRecordsEachAndGoesOn() async throws {
        // `make test` fetches the corpus; without it this fails rather than proving nothing.
        let ct = try Data(contentsOf: Self.corpusCT)
        try write(Array(ct), to: "mixed/ct.dcm")
        try write(Array(ct.prefix(2000)), to: "mixed/truncated.dcm")
        try write(Array("patient list, not an image\n".utf8), to: "mixed/notes.txt")
        try write(Array(ct), to: "mixed/copy-of-ct.dcm")
        defer { try? FileManager.default.removeItem(at: root) }
        let configuration = WatchConfiguration(drop: drop, output: output, database: root.appendingPathComponent("ledger.sqlite"),
                                               deidentification: DeidentificationConfiguration(defaultsIn: root),
                                               workers: 2, sizeBuckets: SizeBucket.defaults)
        let ledger = try Ledger(path: configuration.database)
        let processor = try UnitProcessor(configuration: configuration, ledger: ledger, logger: Logger(label: "test"))

        let first = try await processor.process(unit: "mixed", trigger: .startup)
        #expect(first.counts == RunCounts(seen: 4, new: 2, duplicate: 1, skipped: 0, failed: 1))

        let sources = try ledger.sources(inUnit: "mixed")
        func content(of path: String) throws -> ContentRecord? {
            guard let source = sources[path] else { return nil }
            return try ledger.content(source.sha256)
        }
        let truncated = try #require(try content(of: "mixed/truncated.dcm"))
        #expect(truncated.outcome == .failed)
        #expect(truncated.reason == "truncated at offset 1994 while reading element (0019,1061): needed 8 bytes, 6 left")
        #expect(try content(of: "mixed/notes.txt")?.outcome == .notDICOM)
        #expect(sources["mixed/copy-of-ct.dcm"]?.sha256 == sources["mixed/ct.dcm"]?.sha256)
        let image = try #require(try content(of: "mixed/ct.dcm"))
        #expect(image.outcome == .processed)
        #expect(image.bucket == "small")
        #expect(image.outputs.count == 2)
        for relative in image.outputs {
            #expect(FileManager.default.fileExists(atPath: output.appendingPathComponent(relative).path))
        }

        let second = try await processor.process(unit: "mixed", trigger: .rescan)
        #expect(second.counts == RunCounts(seen: 4, skipped: 4))
    }

    /// The quality rules and the model decide the `suboptimal` bucket: changing either must
    /// change the digest, so that start-up says which outputs were made under other rules.
    @Test func qualityThresholdsAndTheModelArePartOfTheConfigurationDigest() {
        let base = ctConfiguration()
        var threshold = base
        threshold.quality.rules.minDynamicRange = 12
        var perModality = base
        perModality.quality.byModality["CR"] = QualityRuleSettings(enabled: false)
        var model = base
        model.quality.model = LinearQualityModel(features: ["dynamic_range"], weights: [1], bias: 0, threshold: 0.5)
        let digests = [base, threshold, perModality, model].map(\.outputDigest)
        #expect(Set(digests).count == 4)
        #expect(threshold.outputDigest == threshold.outputDigest)
    }

    /// A configuration for one unit of `CT_small.dcm` copies in a fresh temporary root.
    private func ctConfiguration(workers: Int = 2) -> WatchConfiguration {
        WatchConfiguration(drop: drop, output: output, database: root.appendingPathComponent("ledger.sqlite"),
                           deidentification: DeidentificationConfiguration(defaultsIn: root), workers: workers)
    }

    /// A reprocess whose ledger commit fails (a real SQLite error, raised by a trigger) must
    /// leave the earlier outputs and the rows that name them as they were, close its run as
    /// failed with the reason, and leave the unit `failed` rather than `processing`.
    @Test func aFailedCommitKeepsTheOldOutputsAndClosesTheRunAsFailed() async throws {
        try write(Array(try Data(contentsOf: Self.corpusCT)), to: "study/ct.dcm")
        defer { try? FileManager.default.removeItem(at: root) }
        var withDICOM = ctConfiguration()
        withDICOM.deidentification.writeDICOM = true
        let ledger = try Ledger(path: withDICOM.database)
        let first = try await UnitProcessor(configuration: withDICOM, ledger: ledger, logger: Logger(label: "test"))
            .process(unit: "study", trigger: .startup)
        #expect(first.outcome == .done && first.counts.new == 1)
        let sha = try #require(try ledger.sources()["study/ct.dcm"]?.sha256)
        let before = try #require(try ledger.content(sha)).outputs
        let dicomOutput = try #require(before.first { $0.hasSuffix(".dcm") })

        // Without DICOM output, a reprocess would make the .dcm stale; its commit fails.
        try await DatabaseQueue(path: withDICOM.database.path).write { db in
            try db.execute(sql: "CREATE TRIGGER refuse BEFORE UPDATE ON contents BEGIN SELECT RAISE(ABORT, 'injected failure'); END;")
        }
        let summary = try await UnitProcessor(configuration: ctConfiguration(), ledger: ledger, logger: Logger(label: "test"))
            .process(unit: "study", trigger: .reprocess)
        #expect(summary.outcome == .failed)
        #expect(try ledger.state(of: "study") == .failed)
        let run = try #require(try ledger.runs(of: "study").last)
        #expect(run.outcome == .failed && run.error?.contains("injected failure") == true)
        #expect(try ledger.content(sha)?.outputs == before)
        for relative in before {
            #expect(FileManager.default.fileExists(atPath: output.appendingPathComponent(relative).path), "\(relative) removed")
        }
        #expect(before.contains(dicomOutput))
    }

    /// SIGTERM cancels the run's task: the files in hand finish, the run is closed as
    /// interrupted (not done), the unit waits, and the next run does the rest.
    @Test func aCancelledRunIsRecordedAsInterruptedAndTheNextRunFinishesTheUnit() async throws {
        var ct = try Data(contentsOf: Self.corpusCT)
        let count = 30
        for index in 0..<count {
            ct[ct.count - 1] = UInt8(index)  // a different last pixel byte: different content
            try write(Array(ct), to: "big/\(index).dcm")
        }
        defer { try? FileManager.default.removeItem(at: root) }
        let configuration = ctConfiguration(workers: 1)
        let ledger = try Ledger(path: configuration.database)
        let processor = try UnitProcessor(configuration: configuration, ledger: ledger, logger: Logger(label: "test"))
        let run = Task { try await processor.process(unit: "big", trigger: .startup) }
        run.cancel()
        let interrupted = try await run.value
        #expect(interrupted.outcome == .interrupted)
        #expect(interrupted.counts.new < count)
        #expect(try ledger.state(of: "big") == .waiting)
        #expect(try ledger.runs(of: "big").map(\.outcome) == [.interrupted])

        let rest = try await processor.process(unit: "big", trigger: .startup)
        #expect(rest.outcome == .done)
        #expect(rest.counts.skipped == interrupted.counts.new)
        #expect(interrupted.counts.new + rest.counts.new == count)
        #expect(try ledger.state(of: "big") == .done)
    }

    /// A crash leaves a run open and its unit `processing`; the next start closes it.
    @Test func runsLeftOpenByACrashAreClosedAsInterruptedAtStartUp() async throws {
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: root) }
        let ledger = try Ledger(path: root.appendingPathComponent("ledger.sqlite"))
        _ = try ledger.beginRun(of: "crashed", trigger: .inotify)
        #expect(try ledger.closeRunsLeftOpen() == 0, "this process is alive: its run is not a crash's")
        try await DatabaseQueue(path: root.appendingPathComponent("ledger.sqlite").path).write { db in
            try db.execute(sql: "UPDATE runs SET pid = 2147483646")  // no such process
        }
        #expect(try ledger.closeRunsLeftOpen() == 1)
        #expect(try ledger.state(of: "crashed") == .waiting)
        #expect(try ledger.runs(of: "crashed").map(\.outcome) == [.interrupted])
        #expect(try ledger.closeRunsLeftOpen() == 0)
    }
}
