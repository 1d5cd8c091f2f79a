@preconcurrency import Glibc
import Foundation
import Ledger
import Testing

/// Fault 5 of issue 12: a ledger that disagrees with the disk (`dicomdrop check`,
/// `--repair`) and a ledger damaged inside.
@Suite(.serialized) struct CheckCommandTests {
    @Test func checkReportsEveryDifferenceAndRepairMakesTheNextStartRedoWhatWasLost() async throws {
        let harness = try DaemonHarness()
        try harness.drop(DaemonTests.images, into: "study")
        #expect(try harness.run(["--once"]).status == 0)
        let expected = harness.outputs()
        #expect(expected.count == 8)
        let clean = try harness.check()
        #expect(clean.status == 0 && clean.standardOutput.contains("agrees with"), "\(clean.standardOutput)\(clean.standardError)")

        // --repair refuses while a daemon uses the ledger.
        try harness.start()
        #expect(await waitUntil(seconds: 30) { harness.logText().contains("watching") }, "\(harness.logText())")
        let refused = try harness.check(["--repair"])
        #expect(refused.status == 2 && refused.standardError.contains("another dicomdrop process is using this ledger"), "\(refused.standardError)")
        #expect(await harness.stop() == 0)

        // Break every promise once: an output deleted, a stray file and a temporary in the
        // output directory, a source deleted from the drop.
        let lost = try #require(expected.keys.sorted().first { $0.hasSuffix(".png") && $0.hasPrefix("large/") })
        try FileManager.default.removeItem(at: harness.output.appendingPathComponent(lost))
        try Data("stray".utf8).write(to: harness.output.appendingPathComponent("small/stray.png"))
        try Data("half".utf8).write(to: harness.output.appendingPathComponent("small/.dicomdrop-tmp-1-x.png"))
        try FileManager.default.removeItem(at: harness.drop.appendingPathComponent("study/MR_small.dcm"))

        let report = try harness.check()
        #expect(report.status == 1)
        let lines = Set(report.standardOutput.split(separator: "\n").map(String.init))
        #expect(lines.contains { $0.hasPrefix("missing output: \(lost) (content ") }, "\(report.standardOutput)")
        #expect(lines.contains("not in the ledger: small/stray.png"))
        #expect(lines.contains("temporary of an interrupted write: small/.dicomdrop-tmp-1-x.png"))
        #expect(lines.contains("source gone from the drop directory: study/MR_small.dcm"))
        #expect(lines.contains("4 difference(s)"))

        let repaired = try harness.check(["--repair"])
        #expect(repaired.status == 0, "\(repaired.standardError)")
        #expect(repaired.standardOutput.contains("repaired: 1 content(s) with missing outputs forgotten, their 1 source file(s) processed again at the next start; 1 gone path(s) forgotten; 3 file(s) removed"),
                "\(repaired.standardOutput)")
        let after = try harness.check()
        #expect(after.status == 0, "\(after.standardOutput)")

        // The next start processes the requeued file again: every output is back, byte for byte.
        #expect(try harness.run(["--once"]).status == 0)
        #expect(harness.outputs() == expected)
        #expect(try harness.check().status == 0)
        let ledger = try harness.ledger()
        #expect(try ledger.runs(of: "study").last?.counts.new == 1)
    }

    @Test func aLedgerDamagedInsideStopsStartUpNamingTheFile() throws {
        let harness = try DaemonHarness()
        try harness.drop(DaemonTests.images, into: "study")
        #expect(try harness.run(["--once"]).status == 0)
        // Overwrite the first page of an index with garbage: the header and the tables'
        // pages stay whole, so only a check of the pages finds it.
        let python = """
            import sqlite3, sys
            db = sqlite3.connect(sys.argv[1])
            db.execute('PRAGMA wal_checkpoint(TRUNCATE)')
            page = db.execute("SELECT rootpage FROM sqlite_master WHERE name = 'sources_by_sha256'").fetchone()[0]
            size = db.execute('PRAGMA page_size').fetchone()[0]
            db.close()
            with open(sys.argv[1], 'r+b') as f:
                f.seek((page - 1) * size)
                f.write(bytes([0x0D]) + bytes(range(256)) * (size // 256 - 1) + bytes(255))
            """
        let damaged = try ChildProcess.runTool("/usr/bin/env", ["python3", "-c", python, harness.database.path])
        #expect(damaged.status == 0, "\(damaged.standardError)")

        let start = try harness.run(["--once"])
        #expect(start.status == 2)
        #expect(start.standardError.contains("the ledger \(harness.database.path) is damaged (SQLite quick_check: "), "\(start.standardError)")
        let check = try harness.check()
        #expect(check.status == 1 && check.standardOutput.contains("ledger damaged: "), "\(check.standardOutput)\(check.standardError)")
        let repair = try harness.check(["--repair"])
        #expect(repair.status == 2 && repair.standardError.contains("the ledger is damaged"), "\(repair.standardError)")
    }
}
