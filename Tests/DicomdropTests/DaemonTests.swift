@preconcurrency import Glibc
import Foundation
import Shared
import Imaging
import Ledger
import Testing

/// The daemon as a user runs it: the real executable, real inotify on a temporary drop
/// directory, a real SQLite ledger, PNG files read back with libpng.
@Suite(.serialized) struct DaemonTests {
    static let images = ["pydicom/test_files/CT_small.dcm", "pydicom/test_files/MR_small.dcm",
                         "pydicom-data/MR2_UNCR.dcm", "pydicom-data/RG1_UNCR.dcm"]

    @Test func aDroppedFolderIsProcessedIntoSizeBucketsAndACopyUnderAnotherNameWritesNothing() async throws {
        let harness = try DaemonHarness()
        try harness.start()
        try harness.drop(Self.images + ["pydicom/test_files/README.txt"], into: "study1")
        // 4 images: a PNG and a JSON each.
        #expect(await waitUntil(seconds: 20) { harness.outputs().count == 8 }, "\(harness.logText())")
        let outputs = harness.outputs()
        #expect(outputs.keys.filter { $0.hasPrefix("small/") }.count == 4)   // CT/MR_small 128x128, MR2 256x256
        #expect(outputs.keys.filter { $0.hasPrefix("large/") }.count == 4)   // RG1 is 1955x1841
        // Named by the de-identified SOP Instance UID, never the original.
        #expect(outputs["small/\(DaemonHarness.remapped("1.3.6.1.4.1.5962.1.1.1.1.1.20040119072730.12322")).png"] != nil)
        #expect(!outputs.keys.contains { $0.contains("1.3.6.1.4.1.5962") })
        for (path, bytes) in outputs where path.hasSuffix(".png") {
            let raster = try PNGCodec.decode(bytes)
            #expect(raster.channels == 1 && raster.bitDepth == 8 && raster.width > 0, "\(path)")
        }
        let ledger = try harness.ledger()
        #expect(await waitUntil(seconds: 10) { (try? ledger.state(of: "study1")) == .done })
        let readme = try #require(try ledger.sources(inUnit: "study1")["study1/README.txt"])
        #expect(try ledger.content(readme.sha256)?.outcome == .notDICOM)

        try harness.drop(Self.images, into: "study1-again")
        #expect(await waitUntil(seconds: 20) { (try? ledger.runs(of: "study1-again").count) == 1 && (try? ledger.state(of: "study1-again")) == .done })
        #expect(try ledger.runs(of: "study1-again")[0].counts == RunCounts(seen: 4, new: 0, duplicate: 4, skipped: 0, failed: 0))
        #expect(harness.outputs() == outputs)
        let ct = try #require(try ledger.sources(inUnit: "study1")["study1/CT_small.dcm"])
        #expect(try ledger.paths(withContent: ct.sha256) == ["study1-again/CT_small.dcm", "study1/CT_small.dcm"])
        #expect(await harness.stop() == 0)
    }

    @Test func aChangedFileIsTheOnlyOneProcessedAndARestartProcessesNothing() async throws {
        let harness = try DaemonHarness()
        try harness.drop(Self.images, into: "study")
        #expect(try harness.run(["--once"]).status == 0)
        let ledger = try harness.ledger()
        #expect(try ledger.runs(of: "study").map(\.counts) == [RunCounts(seen: 4, new: 4)])

        // Restart: the catch-up stats every file, finds nothing changed, runs nothing.
        #expect(try harness.run(["--once"]).status == 0)
        #expect(try ledger.runs(of: "study").count == 1)

        // Replace one file's bytes (another image under the same name): only it is hashed.
        let target = harness.drop.appendingPathComponent("study/CT_small.dcm").path
        try FileManager.default.removeItem(atPath: target)
        try FileManager.default.copyItem(atPath: Corpus.path("pydicom/test_files/MR_small_bigendian.dcm"), toPath: target)
        #expect(try harness.run(["--once"]).status == 0)
        #expect(try ledger.runs(of: "study").map(\.counts).last == RunCounts(seen: 4, new: 1, duplicate: 0, skipped: 3, failed: 0))
    }

    @Test func reprocessRegeneratesAUnitsOutputsExactlyOnceAndLeavesAnotherUnitsCopyAlone() async throws {
        let harness = try DaemonHarness()
        try harness.drop(Self.images, into: "study")
        // "other" sorts first: it is processed first and owns CT_small's outputs.
        try harness.drop(["pydicom/test_files/CT_small.dcm"], into: "other")
        #expect(try harness.run(["--once"]).status == 0)
        let before = harness.outputs()
        let ledger = try harness.ledger()
        let ctPNG = harness.output.appendingPathComponent("small/\(DaemonHarness.remapped("1.3.6.1.4.1.5962.1.1.1.1.1.20040119072730.12322")).png").path
        let mrPNG = harness.output.appendingPathComponent("small/\(DaemonHarness.remapped("1.3.6.1.4.1.5962.1.1.4.1.1.20040826185059.5457")).png").path
        func modified(_ path: String) throws -> Date? { try FileManager.default.attributesOfItem(atPath: path)[.modificationDate] as? Date }
        let ctBefore = try modified(ctPNG), mrBefore = try modified(mrPNG)

        #expect(try harness.run(["--reprocess", "study"]).status == 0)
        #expect(harness.outputs() == before)          // same files and bytes, nothing left behind
        #expect(try ledger.runs(of: "study").last?.trigger == .reprocess)
        #expect(try ledger.runs(of: "study").last?.counts == RunCounts(seen: 4, new: 3, duplicate: 1))
        #expect(try modified(ctPNG) == ctBefore)      // owned by "other": untouched
        #expect(try modified(mrPNG) != mrBefore)      // owned by "study": written again

        #expect(try harness.run(["--reprocess", harness.drop.appendingPathComponent("other").path]).status == 0)
        #expect(try ledger.runs(of: "other").last?.counts == RunCounts(seen: 1, new: 1))
        #expect(harness.outputs() == before)

        let unknown = try harness.run(["--reprocess", "no-such-study"])
        #expect(unknown.status != 0)
        #expect(unknown.standardError.contains("--reprocess no-such-study: no such folder in the drop directory"))
    }

    @Test func aFileStillGrowingIsNeverReadHalfWritten() async throws {
        let harness = try DaemonHarness(settleSeconds: 0.5)
        try harness.start()
        let source = try #require(FileManager.default.contents(atPath: Corpus.path("pydicom-data/MR2_UNCR.dcm")))
        let folder = harness.drop.appendingPathComponent("slow")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let path = folder.appendingPathComponent("growing.dcm").path
        #expect(FileManager.default.createFile(atPath: path, contents: nil))
        // Write it in 8 pieces over ~2.5 s: each pause is shorter than settle, so no pass sees it quiet.
        await writeSlowly(source, to: path, pieces: 8, pause: 0.35)
        let ledger = try harness.ledger()
        #expect(await waitUntil(seconds: 20) { (try? ledger.state(of: "slow")) == .done }, "\(harness.logText())")
        let runs = try ledger.runs(of: "slow")
        #expect(runs.map(\.counts) == [RunCounts(seen: 1, new: 1)])
        #expect(harness.outputs().keys.filter { $0.hasSuffix(".png") }.count == 1)
        #expect(await harness.stop() == 0)
    }

    @Test func aFolderDeletedBeforeItSettlesLeavesNoTrace() async throws {
        let harness = try DaemonHarness(settleSeconds: 1)
        try harness.start()
        try harness.drop(Self.images, into: "gone")
        try FileManager.default.removeItem(at: harness.drop.appendingPathComponent("gone"))
        try harness.drop(["pydicom/test_files/CT_small.dcm"], into: "marker")
        let ledger = try harness.ledger()
        #expect(await waitUntil(seconds: 20) { (try? ledger.state(of: "marker")) == .done }, "\(harness.logText())")
        #expect(try ledger.runs(of: "gone").isEmpty)
        #expect(harness.outputs().count == 2)
        #expect(await harness.stop() == 0)
    }

    /// A file deleted from a unit that was processed: its path is forgotten at the next
    /// pass, its content stays known (a copy dropped later is not processed again) and its
    /// outputs stay, since they are the dataset's.
    @Test func aFileDeletedFromAProcessedUnitIsForgottenAndItsContentKept() async throws {
        let harness = try DaemonHarness()
        try harness.drop(Self.images, into: "study")
        #expect(try harness.run(["--once"]).status == 0)
        let outputs = harness.outputs()
        let ledger = try harness.ledger()
        let deleted = try #require(try ledger.sources(inUnit: "study")["study/MR_small.dcm"])
        try FileManager.default.removeItem(at: harness.drop.appendingPathComponent("study/MR_small.dcm"))
        #expect(try harness.run(["--once"]).status == 0)
        #expect(try ledger.sources(inUnit: "study")["study/MR_small.dcm"] == nil)
        #expect(try ledger.sources(inUnit: "study").count == 3)
        #expect(try ledger.runs(of: "study").last?.counts == RunCounts(seen: 3, new: 0, duplicate: 0, skipped: 3, failed: 0))
        #expect(try ledger.content(deleted.sha256)?.outcome == .processed)
        #expect(harness.outputs() == outputs)
        // The same bytes dropped again elsewhere: a copy, nothing written.
        try harness.drop(["pydicom/test_files/MR_small.dcm"], into: "again")
        #expect(try harness.run(["--once"]).status == 0)
        #expect(try ledger.runs(of: "again").last?.counts == RunCounts(seen: 1, new: 0, duplicate: 1, skipped: 0, failed: 0))
        #expect(harness.outputs() == outputs)
    }

    @Test func killedMidUnitThenRestartedEndsWithTheOutputsOfAnUninterruptedRun() async throws {
        // 300 distinct images: CT_small with its SOP Instance UID rewritten in place.
        func populate(_ harness: DaemonHarness) throws {
            try DistinctImages.write(300, into: harness.drop.appendingPathComponent("big"))
        }
        let reference = try DaemonHarness()
        try populate(reference)
        #expect(try reference.run(["--once"]).status == 0)
        let expected = reference.outputs()
        #expect(expected.count == 600)

        let harness = try DaemonHarness()
        try populate(harness)
        // The start-up catch-up finds the unit; a slow disk (batches made durable 1 s late)
        // keeps it running long enough for the kill to land mid-unit on a busy machine.
        try harness.start(environment: ["LD_PRELOAD": try ReadFaultTests.injector(), "DD_SYNCFS_DELAY_MS": "1000"])
        let ledger = try harness.ledger()
        let started = waitUntilHoldingThread(seconds: 30) { ((try? ledger.sources(inUnit: "big").count) ?? 0) >= 64 }
        harness.killHard()
        #expect(started)
        #expect(try ledger.sources(inUnit: "big").count < 300, "the kill should land mid-unit")
        #expect(try harness.run(["--once"]).status == 0)
        #expect(harness.outputs() == expected)
        #expect(harness.manifests() == reference.manifests())
        #expect(harness.manifests().keys.sorted() == ["small/manifest.csv"])
        #expect(!harness.outputs().keys.contains { $0.contains(".dicomdrop-tmp-") })
    }

    /// SIGTERM half-way through a unit: the files in hand finish, the run is recorded as
    /// interrupted (never done), the unit waits, the process exits 0, and the next start
    /// finishes the unit without redoing what was recorded.
    /// Enough files (one worker, a debug build: 10-20 s of work) that a test process kept
    /// waiting by busy suites still stops the daemon mid-unit.
    static let sigtermFiles = 1000

    @Test func sigtermMidUnitRecordsTheRunAsInterruptedAndTheNextStartFinishesIt() async throws {
        let source = try #require(FileManager.default.contents(atPath: Corpus.path("pydicom/test_files/CT_small.dcm")))
        let harness = try DaemonHarness(extraConfig: "workers: 1")
        let folder = harness.drop.appendingPathComponent("big")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        for index in 0..<Self.sigtermFiles {
            var copy = source
            copy[copy.count - 1] = UInt8(index % 256)
            copy[copy.count - 2] = UInt8(index / 256)
            try copy.write(to: folder.appendingPathComponent("\(index).dcm"))
        }
        try harness.start()
        let ledger = try harness.ledger()
        let started = waitUntilHoldingThread(seconds: 30) { ((try? ledger.sources(inUnit: "big").count) ?? 0) >= 64 }
        #expect(started, "\(harness.logText())")
        #expect(await harness.stop(within: 30) == 0, "\(harness.logText())")
        let recorded = try ledger.sources(inUnit: "big").count
        #expect(recorded < Self.sigtermFiles, "the stop should land mid-unit")
        #expect(try ledger.runs(of: "big").map(\.outcome) == [.interrupted], "\(harness.logText())")
        #expect(try ledger.state(of: "big") == .waiting)

        let rest = try harness.run(["--once"])
        #expect(rest.status == 0, "\(rest.standardError)")
        let runs = try ledger.runs(of: "big")
        #expect(runs.map(\.outcome) == [.interrupted, .done])
        #expect(runs.last?.counts.skipped == recorded)
        #expect(runs.last?.counts.new == Self.sigtermFiles - recorded)
        #expect(try ledger.state(of: "big") == .done)
    }

    /// A stop between a run's last commit and its close (the manifests being written) leaves
    /// the unit `waiting` with every file recorded: the next start must still finish it.
    @Test func aUnitLeftWaitingWithEveryFileRecordedIsDoneAfterTheNextStart() async throws {
        let harness = try DaemonHarness()
        try harness.drop(Self.images, into: "study")
        #expect(try harness.run(["--once"]).status == 0)
        let ledger = try harness.ledger()
        try ledger.setState(.waiting, of: "study")
        #expect(try harness.run(["--once"]).status == 0)
        #expect(try ledger.state(of: "study") == .done)
        #expect(try ledger.runs(of: "study").last?.counts == RunCounts(seen: Self.images.count, skipped: Self.images.count))
    }

    @Test func processesStartingTogetherOnANewLedgerAllSucceed() async throws {
        // The daemon and a tool beside it (--reprocess, --once) may create the ledger and the
        // pseudonym map together: both see the migrations pending, the loser of the write
        // lock must not fail on "table already exists".
        for _ in 0..<3 {
            let harness = try DaemonHarness()
            let processes = try (0..<6).map { _ -> Process in
                let process = Process()
                process.executableURL = ChildProcess.executable
                process.arguments = ["--config", harness.configPath, "--once"]
                process.standardError = FileHandle.nullDevice
                try process.run()
                return process
            }
            let deadlines = processes.map { ChildDeadline($0, seconds: 300) }
            for process in processes { process.waitUntilExit() }
            for deadline in deadlines { deadline.cancel() }
            #expect(processes.map(\.terminationStatus) == Array(repeating: 0, count: 6))
        }
    }

    @Test func checkConfigNamesTheFileLineColumnAndKey() async throws {
        let harness = try DaemonHarness(extraConfig: "workerz: 2")
        let result = try harness.run(["--check-config"])
        #expect(result.status == 2)
        #expect(result.standardError.contains("watch.yaml:6:1: workerz: unknown key"))
    }

    /// Paths the daemon cannot use stop start-up with one line that names the path and
    /// the reason, exit status 2, and nothing processed (issue 12, fault 5). Made with
    /// files in the way rather than permissions, which root (CI) ignores.
    @Test func unusablePathsStopStartUpNamingThePathAndTheReason() async throws {
        let harness = try DaemonHarness()
        try Data("not a folder".utf8).write(to: harness.output)
        var result = try harness.run(["--once"])
        #expect(result.status == 2)
        #expect(result.standardError.contains("dicomdrop: cannot create the output directory \(harness.output.path): a file of that name is in the way"),
                "\(result.standardError)")
        try FileManager.default.removeItem(at: harness.output)
        try Data("not a folder".utf8).write(to: harness.root.appendingPathComponent("parent"))
        try """
            drop: drop
            output: parent/out
            database: ledger.sqlite
            """.write(toFile: harness.configPath, atomically: true, encoding: .utf8)
        result = try harness.run(["--once"])
        #expect(result.status == 2)
        #expect(result.standardError.contains("cannot create the output directory \(harness.root.path)/parent/out: \(harness.root.path)/parent: a file of that name is in the way"),
                "\(result.standardError)")

        // A ledger that is not a database: named, with SQLite's reason.
        try """
            drop: drop
            output: out
            database: ledger.sqlite
            """.write(toFile: harness.configPath, atomically: true, encoding: .utf8)
        try Data(repeating: 0x41, count: 4096).write(to: harness.database)
        result = try harness.run(["--once"])
        #expect(result.status == 2)
        #expect(result.standardError.contains("dicomdrop: cannot open the ledger \(harness.database.path)"), "\(result.standardError)")
        #expect(result.standardError.contains("file is not a database"), "\(result.standardError)")
        let written = (try? FileManager.default.contentsOfDirectory(atPath: harness.output.path)) ?? []
        #expect(written.isEmpty, "nothing processed: \(written)")
    }

    /// Names are bytes: a folder and files whose names are not valid UTF-8 (a Latin-1
    /// client), a name with a newline, beside a FIFO and a symlink loop (issue 12, fault 3,
    /// in part). Before, the invalid names were decoded with U+FFFD, named no file, and
    /// their DICOM files were never seen, with nothing logged; the FIFO must not block a
    /// worker and the links must not be followed.
    @Test func oddNamesAreProcessedAndSpecialFilesLeftAlone() async throws {
        let harness = try DaemonHarness()
        try harness.start()
        func bytes(_ path: String) -> [UInt8] { Array(path.utf8) }
        let unit = bytes(harness.drop.path + "/") + [0x53, 0x74, 0xFC, 0x64, 0x79]  // "St\xFCdy": Latin-1
        let staging = harness.root.appendingPathComponent("staging")
        try FileManager.default.createDirectory(at: staging, withIntermediateDirectories: true)
        // Made beside the drop, then moved in whole, so that the unit appears at once.
        let staged = bytes(staging.path + "/unit")
        #expect(mkdir(staged.map { CChar(bitPattern: $0) } + [0], 0o755) == 0)
        func copy(_ corpus: String, to name: [UInt8]) throws {
            let data = try Data(contentsOf: URL(fileURLWithPath: Corpus.path(corpus)))
            let descriptor = open((staged + [0x2F] + name).map { CChar(bitPattern: $0) } + [0], O_WRONLY | O_CREAT | O_TRUNC, 0o644)
            #expect(descriptor >= 0)
            _ = data.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
            close(descriptor)
        }
        try copy("pydicom/test_files/CT_small.dcm", to: [0x43, 0x54, 0xE9, 0x2E, 0x64, 0x63, 0x6D])  // "CT\xE9.dcm"
        try copy("pydicom/test_files/MR_small.dcm", to: bytes("MR\nsmall.dcm"))
        try copy("pydicom-data/MR2_UNCR.dcm", to: bytes("plain.dcm"))
        let stagedPath = String(decoding: staged, as: UTF8.self)
        #expect(mkfifo(stagedPath + "/fifo.dcm", 0o644) == 0)
        #expect(symlink("loop-b", stagedPath + "/loop-a") == 0 && symlink("loop-a", stagedPath + "/loop-b") == 0)
        #expect(symlink("..", stagedPath + "/up") == 0)
        #expect(rename(staged.map { CChar(bitPattern: $0) } + [0], unit.map { CChar(bitPattern: $0) } + [0]) == 0)

        // Three images: a PNG and a JSON each.
        #expect(await waitUntil(seconds: 60) { harness.outputs().count == 6 }, "\(harness.logText())")
        let unitName = RawPath.string(fromBytes: [0x53, 0x74, 0xFC, 0x64, 0x79])
        let ledger = try harness.ledger()
        #expect(await waitUntil(seconds: 20) { (try? ledger.state(of: unitName)) == .done }, "\(harness.logText())")
        let recorded = try ledger.sources(inUnit: unitName).keys.sorted()
        #expect(recorded == [unitName + "/" + RawPath.string(fromBytes: [0x43, 0x54, 0xE9, 0x2E, 0x64, 0x63, 0x6D]),
                             unitName + "/MR\nsmall.dcm", unitName + "/plain.dcm"].sorted())
        #expect(RawPath.bytes(of: unitName) == [0x53, 0x74, 0xFC, 0x64, 0x79])
        #expect(await harness.stop() == 0, "the daemon was still running and stopped cleanly")
    }
}
