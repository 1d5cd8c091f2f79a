import Dispatch
import Foundation
import GRDB
import Shared
@testable import Ledger
import Synchronization
import Testing

@Suite struct LedgerTests {
    private func temporaryLedger() throws -> (Ledger, URL) {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("ledger-\(UUID().uuidString)")
        let path = folder.appendingPathComponent("nested/dicomdrop.sqlite")
        return (try Ledger(path: path), path)
    }

    private let print1 = Fingerprint(inode: 42, size: 1000, modifiedNanoseconds: 1_700_000_000_123_456_789)

    /// Source paths are folder names, which may be patients' names: the ledger and its WAL
    /// files are the operator's only, and an older, readable ledger is closed up at open.
    @Test func theLedgerAndItsWriteAheadFilesAreForTheOperatorOnly() throws {
        func mode(_ path: String) throws -> Int {
            try #require(FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int)
        }
        let (ledger, path) = try temporaryLedger()
        try ledger.setState(.waiting, of: "study")  // a write: the WAL and its index exist now
        for suffix in ["", "-wal", "-shm"] {
            #expect(try mode(path.path + suffix) == 0o600, "\(suffix)")
        }
        // The pseudonym map, which holds the original identifiers, the same.
        let map = try PseudonymMap(path: path.deletingLastPathComponent().appendingPathComponent("pseudonyms.sqlite"))
        try map.record([PseudonymMapping(kind: "PatientID", original: "12345", pseudonym: "ABCDEF")])
        for suffix in ["", "-wal", "-shm", "-journal"] where FileManager.default.fileExists(atPath: map.path.path + suffix) {
            #expect(try mode(map.path.path + suffix) == 0o600, "map\(suffix)")
        }
        let older = path.deletingLastPathComponent().appendingPathComponent("older.sqlite")
        #expect(FileManager.default.createFile(atPath: older.path, contents: nil, attributes: [.posixPermissions: 0o644]))
        _ = try Ledger(path: older)
        #expect(try mode(older.path) == 0o600)
    }

    /// The workers' lookups run on connections of their own, one per thread: each sees what
    /// the writer committed before it asked (no snapshot held over from an earlier lookup),
    /// from several threads at once, and a thread keeps its one connection.
    @Test func lookupsFromWorkerThreadsSeeEveryCommitOnAConnectionPerThread() async throws {
        let (ledger, _) = try temporaryLedger()
        let rounds = 200
        final class Misses: Sendable { let count = Mutex(0) }
        let misses = Misses()
        let finished = DispatchSemaphore(value: 0), bothFinished = DispatchSemaphore(value: 0)
        Thread {
            finished.wait()
            finished.wait()
            bothFinished.signal()
            bothFinished.signal()
        }.start()
        await withTaskGroup(of: Void.self) { group in
            for worker in 0..<2 {
                group.addTask {
                    await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
                        // A thread of its own, as the pool's workers are.
                        let thread = Thread {
                            for round in 0..<rounds {
                                let sha = "\(worker)-\(round)"
                                do {
                                    #expect(try ledger.content(sha) == nil)
                                    try ledger.record(contents: [ContentRecord(sha256: sha, outcome: .processed, bucket: "small",
                                                                               outputs: ["small/\(sha).png"], configurationDigest: "d", unit: "u")],
                                                      sources: [])
                                    // Committed on the pool's writer; looked up on this thread's own connection.
                                    if try ledger.content(sha)?.outputs != ["small/\(sha).png"] { misses.count.withLock { $0 += 1 } }
                                    #expect(try ledger.anyOutput(of: ["small/\(sha).png"], ownedByOtherThan: "another"))
                                    #expect(try !ledger.anyOutput(of: ["small/\(sha).png"], ownedByOtherThan: sha))
                                } catch {
                                    Issue.record("\(error)")
                                }
                            }
                            // Alive until both are done: a finished thread's identity may be
                            // reused by the next one, which would then share its connection.
                            finished.signal()
                            bothFinished.wait()
                            done.resume()
                        }
                        thread.start()
                    }
                }
            }
        }
        #expect(misses.count.withLock { $0 } == 0)
        #expect(ledger.lookups.count == 2)
    }

    /// A worker's lookup leaves no read snapshot behind on its connection: both lookups,
    /// answered yes and no, then a checkpoint that must move every frame of the WAL into the
    /// database and empty it, which a snapshot still held would keep it from (busy).
    @Test func aLookupHoldsNoSnapshotThatWouldStopACheckpoint() throws {
        let (ledger, _) = try temporaryLedger()
        try ledger.record(contents: [ContentRecord(sha256: "ab", outcome: .processed, bucket: "small", outputs: ["small/1.json"],
                                                   configurationDigest: "d", unit: "u")], sources: [])
        #expect(try ledger.content("ab") != nil)
        #expect(try ledger.content("cd") == nil)
        #expect(try ledger.anyOutput(of: ["small/1.json", "held/small/1.json"], ownedByOtherThan: "cd"))
        #expect(try !ledger.anyOutput(of: ["small/1.json", "held/small/1.json"], ownedByOtherThan: "ab"))
        // Either of the two: the owned path second, and neither owned.
        #expect(try ledger.anyOutput(of: ["held/small/1.json", "small/1.json"], ownedByOtherThan: "cd"))
        #expect(try !ledger.anyOutput(of: ["held/small/1.json", "small/1.json"], ownedByOtherThan: "ab"))
        #expect(try !ledger.anyOutput(of: ["small/2.json", "held/small/2.json"], ownedByOtherThan: "cd"))
        #expect(ledger.lookups.count == 1)
        try ledger.setState(.done, of: "u")  // a commit after the lookups: frames they did not see
        let checkpoint = try ledger.pool.writeWithoutTransaction { db in try Row.fetchOne(db, sql: "PRAGMA wal_checkpoint(TRUNCATE)") }
        #expect(checkpoint?[0] as Int? == 0, "busy: a lookup's snapshot held the WAL")
        #expect(try ledger.content("ab") != nil)
    }

    /// Threads beyond `LookupConnections.limit` read through the pool: the connections stop
    /// at the limit however many threads ask, and every lookup is still answered. The
    /// threads stay alive until all have asked (a finished thread's identity may be reused).
    @Test func lookupConnectionsStopAtTheirLimit() throws {
        let (ledger, _) = try temporaryLedger()
        try ledger.record(contents: [ContentRecord(sha256: "known", outcome: .processed, bucket: "small", outputs: ["small/k.png"],
                                                   configurationDigest: "d", unit: "u")], sources: [])
        final class Answers: Sendable { let known = Mutex(0) }
        let answers = Answers()
        let threads = LookupConnections.limit + 4
        let asked = DispatchSemaphore(value: 0), release = DispatchSemaphore(value: 0), ended = DispatchSemaphore(value: 0)
        for _ in 0..<threads {
            Thread {
                if (try? ledger.content("known")) != nil { answers.known.withLock { $0 += 1 } }
                asked.signal()
                release.wait()
                ended.signal()
            }.start()
        }
        for _ in 0..<threads { asked.wait() }
        #expect(answers.known.withLock { $0 } == threads)
        #expect(ledger.lookups.count == LookupConnections.limit)
        for _ in 0..<threads { release.signal() }
        for _ in 0..<threads { ended.wait() }
    }

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
        // The names a new output would take, asked together: taken only by another content.
        #expect(try reopened.anyOutput(of: ["small/1.2.3.json", "held/small/1.2.3.json"], ownedByOtherThan: "cd"))
        #expect(try reopened.anyOutput(of: ["held/small/1.2.3.json", "small/1.2.3.json"], ownedByOtherThan: "cd"))
        #expect(try !reopened.anyOutput(of: ["small/1.2.3.json", "held/small/1.2.3.json"], ownedByOtherThan: "ab"))
        #expect(try !reopened.anyOutput(of: ["small/9.json", "held/small/9.json"], ownedByOtherThan: "cd"))
        #expect(try !reopened.anyOutput(of: [], ownedByOtherThan: "cd"))
    }

    /// The start-up's seed of a full pass and its sweep of held names read only what they
    /// need: the fingerprints by path, the outputs under one folder by a range of the key.
    @Test func fingerprintsAndOutputsUnderAFolderAreWhatTheFullListsHold() throws {
        let (ledger, _) = try temporaryLedger()
        let print2 = Fingerprint(inode: UInt64.max - 7, size: 0, modifiedNanoseconds: -5)
        let paths = ["held/a.png", "held/sub/b.png", "held.png", "held0/c.png", "heldx/d.png", "held", "small/e.png", "hel/f.png"]
        try ledger.record(contents: paths.enumerated().map { index, path in
            ContentRecord(sha256: "h\(index)", outcome: .processed, bucket: "small", outputs: [path], configurationDigest: "cfg", unit: "u\(index)")
        }, sources: [SourceRecord(path: "u1/a.dcm", unit: "u1", fingerprint: print1, sha256: "h1"),
                     SourceRecord(path: "u2/b/c.dcm", unit: "u2", fingerprint: print2, sha256: "h2")])
        #expect(try ledger.fingerprints() == ledger.sources().mapValues(\.fingerprint))
        #expect(try ledger.fingerprints() == ["u1/a.dcm": print1, "u2/b/c.dcm": print2])
        #expect(try ledger.outputPaths(startingWith: "held/") == ["held/a.png", "held/sub/b.png"])
        #expect(try ledger.outputPaths(startingWith: "held/") == ledger.outputs().map(\.path).filter { $0.hasPrefix("held/") })
        #expect(try ledger.outputPaths(startingWith: "none/").isEmpty)
        #expect(try ledger.outputs().map(\.path) == paths.sorted())
        let (empty, _) = try temporaryLedger()
        #expect(try empty.fingerprints().isEmpty && empty.outputs().isEmpty)
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
        #expect(try ledger.runs(of: "study1").map(\.outcome) == [nil])
        try ledger.finishRun(run, of: "study1", counts: RunCounts(seen: 5, new: 3, duplicate: 1, skipped: 0, failed: 1),
                             outcome: .done, state: .done)
        #expect(try ledger.state(of: "study1") == .done)
        let second = try ledger.beginRun(of: "study1", trigger: .rescan)
        try ledger.finishRun(second, of: "study1", counts: RunCounts(seen: 5), outcome: .failed, error: "disk full", state: .failed)
        #expect(try ledger.state(of: "study1") == .failed)
        let runs = try ledger.runs(of: "study1")
        #expect(runs.count == 2)
        #expect(runs[0].trigger == .inotify)
        #expect(runs[0].counts == RunCounts(seen: 5, new: 3, duplicate: 1, skipped: 0, failed: 1))
        #expect(runs[0].outcome == .done)
        #expect(runs[1].outcome == .failed && runs[1].error == "disk full")
    }

    /// A run's close marks the manifests of the directories it changed; a rewrite clears the
    /// marks it read, and a directory marked again after that read (another process's run,
    /// committed after the rewrite read the ledger) stays marked.
    @Test func aRunsCloseMarksItsManifestsStaleAndARewriteClearsOnlyTheMarksItRead() throws {
        let (ledger, _) = try temporaryLedger()
        let run = try ledger.beginRun(of: "a.dcm", trigger: .startup)
        try ledger.finishRun(run, of: "a.dcm", counts: RunCounts(seen: 1, new: 1), outcome: .done, state: .done,
                             staleManifests: ["small", "large"])
        let read = try ledger.staleManifests()
        #expect(read.map(\.directory) == ["large", "small"])
        try ledger.markManifestsStale(["small", "suboptimal"])
        try ledger.clearStaleManifests(read)
        #expect(try ledger.staleManifests().map(\.directory) == ["small", "suboptimal"])
        try ledger.clearStaleManifests(try ledger.staleManifests())
        #expect(try ledger.staleManifests().isEmpty)
    }

    /// Two processes on one ledger (two handles here) write manifests in turn: the second
    /// waits while the first holds the manifest lock, then goes in. Without the lock a
    /// `--reprocess` could rename an older manifest over the daemon's newer one.
    @Test func manifestWritersOnOneLedgerTakeTurns() throws {
        let (first, path) = try temporaryLedger()
        let second = try Ledger(path: path)
        let firstIsIn = DispatchSemaphore(value: 0), firstMayLeave = DispatchSemaphore(value: 0)
        let secondWasIn = Flag()
        Thread { _ = try? first.whileWritingManifests { firstIsIn.signal(); firstMayLeave.wait() } }.start()
        firstIsIn.wait()
        Thread { _ = try? second.whileWritingManifests { secondWasIn.set() } }.start()
        // A bounded watch: for 0.3 s, while the first holds the lock, the second stays out.
        let watchEnd = Date().addingTimeInterval(0.3)
        while Date() < watchEnd {
            #expect(!secondWasIn.isSet, "a second manifest writer went in while the first held the lock")
            usleep(10_000)
        }
        firstMayLeave.signal()
        let deadline = Date().addingTimeInterval(10)
        while !secondWasIn.isSet && Date() < deadline { usleep(5_000) }
        #expect(secondWasIn.isSet, "the second manifest writer never went in after the first left")
    }

    /// Values bound straight to SQLite: the row as GRDB would write it, and a count that does
    /// not match the statement's parameters an error, not a crash.
    @Test func directBindingWritesTheRowAndRefusesAWrongCount() throws {
        let (ledger, _) = try temporaryLedger()
        try ledger.pool.write { db in
            try db.execute(sql: "CREATE TEMP TABLE bound (a, b, c)")
            let statement = try db.cachedStatement(sql: "INSERT INTO bound (a, b, c) VALUES (?, ?, ?)")
            try statement.execute(binding: [.text("unit\u{0}tail"), .text("done"), nil])
            #expect(throws: DatabaseError.self) { try statement.execute(binding: [.text("short")]) }
            try statement.execute(binding: [.text("again"), .integer(7), .real(1.5)])
            let rows = try Row.fetchAll(db, sql: "SELECT a, typeof(b), typeof(c), c FROM bound ORDER BY rowid")
            #expect(rows.map { $0[0] as String } == ["unit", "again"])  // text ends at a NUL, as GRDB binds it
            #expect(rows.map { $0[1] as String } == ["text", "integer"])
            #expect(rows.map { $0[2] as String } == ["null", "real"])
            #expect(rows[1][3] as Double == 1.5)
        }
    }

    /// A manifest writer does not wait for ever: while another holds the lock past its wait,
    /// it gives up without writing, and the marks wait for the next try.
    @Test func aManifestWriterGivesUpAfterItsWait() throws {
        let (first, path) = try temporaryLedger()
        let second = try Ledger(path: path)
        let firstIsIn = DispatchSemaphore(value: 0), firstMayLeave = DispatchSemaphore(value: 0)
        Thread { _ = try? first.whileWritingManifests { firstIsIn.signal(); firstMayLeave.wait() } }.start()
        firstIsIn.wait()
        defer { firstMayLeave.signal() }
        let secondWasIn = Flag()
        let start = Date()
        #expect(throws: Ledger.LedgerError.self) { try second.whileWritingManifests(waitingUpTo: 0.2) { secondWasIn.set() } }
        #expect(!secondWasIn.isSet)
        #expect(Date().timeIntervalSince(start) >= 0.2)
    }

    private final class Flag: Sendable {
        private let value = Mutex(false)
        var isSet: Bool { value.withLock { $0 } }
        func set() { value.withLock { $0 = true } }
    }

    /// Every quality feature Imaging computes has a column in a new ledger: a feature added
    /// without a migration that adds its column would fail every insert.
    @Test func everyQualityFeatureHasAColumnInANewLedger() throws {
        let (_, path) = try temporaryLedger()
        let columns = try DatabaseQueue(path: path.path).read { db in try db.columns(in: "image_quality").map(\.name) }
        for feature in QualityFeatureNames.all {
            #expect(columns.contains(feature), "no image_quality column for \(feature): add a migration")
        }
    }

    /// A ledger written before fingerprints dropped st_dev keeps every source, and its
    /// finished runs read as done.
    @Test func aLedgerWithDeviceNumbersIsMigratedInPlace() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("ledger-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("old.sqlite")
        do {
            let old = try DatabaseQueue(path: path.path)
            try Ledger.migrator.migrate(old, upTo: "v2: image_quality")
            try old.write { db in
                try db.execute(sql: """
                    INSERT INTO units VALUES ('u', 'done', 'now');
                    INSERT INTO runs (unit, trigger, started_at, finished_at) VALUES ('u', 'startup', 'then', 'now');
                    INSERT INTO sources VALUES ('u/a.dcm', 'u', 2049, 42, 1000, 1700000000123456789, 'ab', 'then', 'now');
                    """)
            }
        }
        let ledger = try Ledger(path: path)
        #expect(try ledger.sources()["u/a.dcm"] == SourceRecord(path: "u/a.dcm", unit: "u", fingerprint: print1, sha256: "ab"))
        #expect(try ledger.runs(of: "u").map(\.outcome) == [.done])
    }

    /// One transaction writes a series' patient, study, series and device rows once for all
    /// its instances (MetadataRowWriter.WrittenRows), yet the tables end as if every
    /// instance had written its own: a row that differs is still written, in order, so the
    /// last instance's values stand, and each series points at its own device.
    @Test func aBatchOfOneSeriesWritesItsRowsOnceAndTheLastInstancesValuesStand() throws {
        let (ledger, path) = try temporaryLedger()
        try ledger.prepareMetadataColumns([MetadataColumn(table: .series, name: "SeriesDescription", type: .text),
                                           MetadataColumn(table: .devices, name: "StationName", type: .text)])
        let layout = ledger.metadataLayout()
        func content(_ sha: String, series: String, description: String, station: String) throws -> ContentRecord {
            var rows = layout.columns.map { [MetadataValue?](repeating: nil, count: $0.count) }
            func put(_ table: MetadataTable, _ column: String, _ value: String) throws {
                rows[table.index][try #require(layout.position(of: column, in: table))] = .text(value)
            }
            try put(.patients, "PatientID", "P1")
            try put(.studies, "StudyInstanceUID", "1.2.3")
            try put(.series, "SeriesInstanceUID", series)
            try put(.series, "SeriesDescription", description)
            try put(.devices, "StationName", station)
            var record = ContentRecord(sha256: sha, outcome: .processed, bucket: "small", outputs: ["small/\(sha).json"],
                                       configurationDigest: "cfg", unit: "u")
            record.metadata = InstanceMetadata(rows: rows, name: sha)
            return record
        }
        func table(_ sql: String) throws -> [[String]] {
            try DatabaseQueue(path: path.path).read { db in
                try Row.fetchAll(db, sql: sql).map { row in
                    row.databaseValues.map { value in
                        switch value.storage {
                        case .string(let text): text
                        case .int64(let number): "\(number)"
                        default: "\(value)"
                        }
                    }
                }
            }
        }
        let seriesAndDevice = """
            SELECT s."SeriesInstanceUID", s."SeriesDescription", d."StationName" FROM series s JOIN devices d ON d.id = s.device_id ORDER BY 1
            """
        // In one transaction: 1.1's third instance goes back to the first's row, which must
        // be written again over the second's; 1.2's second instance changes its row.
        try ledger.record(contents: [content("a", series: "1.1", description: "first", station: "S1"),
                                     content("b", series: "1.1", description: "second", station: "S2"),
                                     content("c", series: "1.1", description: "first", station: "S1"),
                                     content("d", series: "1.2", description: "other", station: "S2"),
                                     content("e", series: "1.2", description: "another", station: "S1")], sources: [])
        #expect(try table(seriesAndDevice) == [["1.1", "first", "S1"], ["1.2", "another", "S1"]])
        #expect(try table("SELECT count(*) FROM devices") == [["2"]])
        #expect(try table(#"SELECT count(*) FROM instances i JOIN series s USING ("SeriesInstanceUID")"#) == [["5"]])
        // The next transaction starts with nothing written.
        try ledger.record(contents: [content("f", series: "1.1", description: "second", station: "S2")], sources: [])
        #expect(try table(seriesAndDevice) == [["1.1", "second", "S2"], ["1.2", "another", "S1"]])
        #expect(try table("PRAGMA foreign_key_check") == [])
    }
}
