import Foundation
import Ledger
import Testing

/// The dataset layer through the real binary: capacity-limited bucket directories (across
/// a kill, with two workers, under --reprocess), their manifests, and `dicomdrop export`.
@Suite(.serialized) struct DatasetTests {
    /// PNGs per directory of the output folder.
    private func imagesPerDirectory(_ harness: DaemonHarness) -> [String: Int] {
        harness.outputs().keys.filter { $0.hasSuffix(".png") }.reduce(into: [:]) { counts, path in
            counts[String(path.split(separator: "/")[0]), default: 0] += 1
        }
    }

    /// A manifest's records (RFC 4180 lines end with CRLF; no field here has a line break).
    private func records(_ data: Data?) -> [[String]] {
        String(decoding: data ?? Data(), as: UTF8.self).components(separatedBy: "\r\n").dropLast().map { $0.components(separatedBy: ",") }
    }

    @Test func aThousandImagesFillDirectoriesOfFourHundredAcrossAKillWithTwoWorkersAndAReprocess() async throws {
        let harness = try DaemonHarness(extraConfig: "workers: 2\nbuckets:\n  capacity: 400\n  naming: sequence")
        try DistinctImages.write(1000, into: harness.drop.appendingPathComponent("big"))
        // A slow disk (each batch of 64 made durable 0.6 s late) keeps the unit running for
        // seconds, so the kill lands past the first directory and before the end.
        try harness.start(environment: ["LD_PRELOAD": try ReadFaultTests.injector(), "DD_SYNCFS_DELAY_MS": "600"])
        let ledger = try harness.ledger()
        let started = waitUntilHoldingThread(seconds: 60) { ((try? ledger.sources(inUnit: "big").count) ?? 0) >= 450 }
        harness.killHard()
        #expect(started)
        let atKill = imagesPerDirectory(harness)
        #expect(atKill.values.allSatisfy { $0 <= 400 }, "\(atKill)")
        #expect(try ledger.sources(inUnit: "big").count < 1000, "the kill should land mid-unit")

        #expect(try harness.run(["--once"]).status == 0)
        let expected = ["small": 400, "small-0002": 400, "small-0003": 200]
        #expect(imagesPerDirectory(harness) == expected)
        #expect(try ledger.bucketDirectories().map { "\($0.directory)=\($0.images)" } == ["small=400", "small-0002=400", "small-0003=200"])
        let outputs = harness.outputs()
        #expect(outputs.count == 2000)

        // Each directory's manifest lists exactly its images, once, under one header.
        let manifests = harness.manifests()
        #expect(manifests.keys.sorted() == ["small-0002/manifest.csv", "small-0003/manifest.csv", "small/manifest.csv"])
        for (directory, count) in expected {
            let lines = records(manifests["\(directory)/manifest.csv"])
            #expect(lines.first?.prefix(4) == ["name", "files", "StudyInstanceUID", "SeriesInstanceUID"])
            let names = lines.dropFirst().map { $0[0] }
            #expect(names.count == count && Set(names).count == count)
            let pngs = outputs.keys.filter { $0.hasPrefix(directory + "/") && $0.hasSuffix(".png") }
            let difference = Set(names.map { "\(directory)/\($0).png" }).symmetricDifference(pngs)
            #expect(difference.isEmpty, "\(difference.count) differ, e.g. \(difference.prefix(2))")
            #expect(lines.dropFirst().allSatisfy { $0[1] == "\($0[0]).json;\($0[0]).png" && $0.last == "" })
        }

        // --reprocess keeps every image in its directory.
        #expect(try harness.run(["--reprocess", "big"]).status == 0)
        #expect(harness.outputs().keys.sorted() == outputs.keys.sorted())
        #expect(imagesPerDirectory(harness) == expected)
    }

    /// Checks that `small/manifest.csv` lists every PNG in `small/` exactly once; returns how
    /// many it lists.
    private func expectManifestListsEveryImageOnce(_ harness: DaemonHarness) -> Int {
        let lines = records(harness.manifests()["small/manifest.csv"])
        #expect(lines.first?.prefix(2) == ["name", "files"])
        let names = lines.dropFirst().map { $0[0] }
        #expect(names.count == Set(names).count, "a name listed twice")
        let pngs = Set(harness.outputs().keys.filter { $0.hasPrefix("small/") && $0.hasSuffix(".png") })
        let difference = Set(names.map { "small/\($0).png" }).symmetricDifference(pngs)
        #expect(difference.isEmpty, "\(difference.count) differ, e.g. \(difference.prefix(2))")
        return names.count
    }

    static let looseFiles = 200

    /// Files dropped loose are a unit and a run each: every run marks the directory's
    /// manifest stale, and it is written once nothing is left to run, listing every image
    /// once.
    @Test func manyLooseFilesGiveAManifestListingEveryImageOnce() throws {
        let harness = try DaemonHarness(extraConfig: "workers: 2")
        try DistinctImages.write(Self.looseFiles, into: harness.drop)
        let result = try harness.run(["--once"])
        #expect(result.status == 0, "\(result.standardError)")
        #expect(result.standardError.components(separatedBy: "run done:").count - 1 == Self.looseFiles, "one run per file")
        #expect(harness.manifests().keys.sorted() == ["small/manifest.csv"])
        #expect(expectManifestListsEveryImageOnce(harness) == Self.looseFiles)
        #expect(try harness.ledger().staleManifests().isEmpty)
    }

    /// A watching daemon writes the manifest once the burst is over, without stopping.
    @Test func aWatchingDaemonWritesTheManifestOnceNothingIsLeftToRun() async throws {
        let harness = try DaemonHarness()
        try harness.start()
        #expect(waitUntilHoldingThread(seconds: 30) { harness.logText().contains("watching") }, "\(harness.logText())")
        try DistinctImages.write(3, into: harness.drop)
        let written = await waitUntil(seconds: 60) { records(harness.manifests()["small/manifest.csv"]).count == 4 }
        #expect(written, "\(harness.logText())")
        #expect(expectManifestListsEveryImageOnce(harness) == 3)
        #expect(try harness.ledger().staleManifests().isEmpty)
        #expect(await harness.stop() == 0)
    }

    /// SIGTERM in the middle of a burst of loose files: the manifest that the runs so far
    /// left stale, not written while units were still waiting, is written before the process
    /// exits, with exactly the images recorded; the next start adds the rest.
    @Test func sigtermMidBurstWritesTheDeferredManifestBeforeExiting() async throws {
        let harness = try DaemonHarness(extraConfig: "workers: 1")
        try DistinctImages.write(Self.looseFiles, into: harness.drop)
        try harness.start()
        let ledger = try harness.ledger()
        let deferred = waitUntilHoldingThread(seconds: 60) { ((try? ledger.staleManifests().map(\.directory)) ?? []) == ["small"] }
        #expect(deferred, "\(harness.logText())")
        #expect(harness.manifests().isEmpty, "written after a run while other units were waiting")
        #expect(await harness.stop(within: 30) == 0, "\(harness.logText())")
        let recorded = try ledger.outputs().filter { $0.path.hasSuffix(".png") }.count
        #expect(recorded > 0 && recorded < Self.looseFiles, "the stop should land mid-burst")
        #expect(expectManifestListsEveryImageOnce(harness) == recorded)
        #expect(try ledger.staleManifests().isEmpty)

        #expect(try harness.run(["--once"]).status == 0)
        #expect(expectManifestListsEveryImageOnce(harness) == Self.looseFiles)
    }

    /// A crash after runs were closed and before their manifests' deferred rewrite leaves
    /// the marks in the ledger: the next start writes the manifests.
    @Test func aManifestLeftStaleByACrashIsWrittenAtTheNextStart() throws {
        let harness = try DaemonHarness()
        try DistinctImages.write(3, into: harness.drop)
        #expect(try harness.run(["--once"]).status == 0)
        let manifest = try #require(harness.manifests()["small/manifest.csv"])
        // What such a crash leaves: the directory marked, its manifest not written (gone here).
        try FileManager.default.removeItem(at: harness.output.appendingPathComponent("small/manifest.csv"))
        try harness.ledger().markManifestsStale(["small"])
        let start = try harness.run(["--once"])
        #expect(start.status == 0, "\(start.standardError)")
        #expect(!start.standardError.contains("run done:"), "nothing was run again")
        #expect(harness.manifests()["small/manifest.csv"] == manifest)
        #expect(try harness.ledger().staleManifests().isEmpty)
    }

    @Test func timestampNamedDirectoriesAndTheExportOfEveryInstance() throws {
        let harness = try DaemonHarness(extraConfig: "workers: 1\nbuckets:\n  capacity: 400")
        try DistinctImages.write(1000, into: harness.drop.appendingPathComponent("big"))
        #expect(try harness.run(["--once"]).status == 0)
        let counts = imagesPerDirectory(harness)
        #expect(counts["small"] == 400)
        let others = counts.keys.filter { $0 != "small" }.sorted()
        #expect(others.count == 2)
        for name in others {
            #expect(name.range(of: #"^small-[0-9]{8}T[0-9]{6}Z(-000[23])?$"#, options: .regularExpression) != nil, "\(name)")
        }
        #expect(others.map { counts[$0] ?? 0 }.sorted() == [200, 400])

        // CSV to standard output: a header and one record per instance.
        let csv = try harness.run(["export"])
        #expect(csv.status == 0, "\(csv.standardError)")
        let lines = csv.standardOutput.components(separatedBy: "\r\n").dropLast()
        #expect(lines.count == 1001)
        let header = lines.first?.components(separatedBy: ",") ?? []
        #expect(header.prefix(4) == ["name", "bucket", "directory", "reason"])
        #expect(header.contains("ViewPosition") && header.contains("PatientID") && header.contains("Manufacturer"))

        // JSON Lines of one bucket into a file: arrays stay arrays, numbers numbers.
        let file = harness.root.appendingPathComponent("export.jsonl")
        let jsonl = try harness.run(["export", "--format", "jsonl", "--bucket", "small", "--out", file.path])
        #expect(jsonl.status == 0 && jsonl.standardOutput.isEmpty, "\(jsonl.standardError)")
        let objects = try String(contentsOf: file, encoding: .utf8).split(separator: "\n").map { line in
            try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        }
        #expect(objects.count == 1000)
        let first = try #require(objects.first)
        #expect((first["outputs"] as? [String])?.count == 2)
        #expect(first["ImageType"] as? [String] == ["ORIGINAL", "PRIMARY", "AXIAL"])
        #expect(first["Rows"] as? Int == 128)
        #expect(first["bucket"] as? String == "small")
        #expect(Set(objects.compactMap { $0["directory"] as? String }) == Set(["small"] + others))

        let none = try harness.run(["export", "--bucket", "suboptimal"])
        #expect(none.status == 0 && none.standardOutput.components(separatedBy: "\r\n").count == 2)  // the header alone
    }

    /// The README's five questions, as printed there, in the `sqlite3` shell: each runs on a
    /// ledger a daemon is writing, from a read-only connection that never blocks it.
    static let readmeQueries = [
        #"SELECT "Modality", bucket, count(*) AS images FROM instance_overview GROUP BY 1, 2 ORDER BY 1, 2;"#,
        #"SELECT "PatientID", count(*) AS studies FROM studies GROUP BY 1 ORDER BY studies DESC;"#,
        #"""
        SELECT d."Manufacturer", d."ManufacturerModelName", d."StationName", count(i.sha256) AS images
        FROM devices d JOIN series s ON s.device_id = d.id JOIN instances i ON i."SeriesInstanceUID" = s."SeriesInstanceUID"
        GROUP BY d.id ORDER BY images DESC;
        """#,
        #"SELECT name, directory, reason FROM instance_overview WHERE bucket = 'suboptimal' ORDER BY name;"#,
        #"""
        SELECT name, "InstanceNumber", "SliceLocation", outputs FROM instance_overview
        WHERE "SeriesInstanceUID" = '2.25.1234...' ORDER BY "InstanceNumber";
        """#,
    ]

    @Test func theReadmeQueriesRunInTheSqliteShellWhileTheDaemonWrites() async throws {
        let readme = try String(contentsOf: URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("README.md"), encoding: .utf8)
        for query in Self.readmeQueries {
            let indented = query.split(separator: "\n").map { "    " + $0 }.joined(separator: "\n")
            #expect(readme.contains(indented), "README no longer shows: \(query)")
        }
        let harness = try DaemonHarness()
        try DistinctImages.write(300, into: harness.drop.appendingPathComponent("big"))
        try harness.drop(["pydicom/test_files/MR_small.dcm", "pydicom/test_files/examples_overlay.dcm"], into: "mixed")
        try harness.start(environment: ["LD_PRELOAD": try ReadFaultTests.injector(), "DD_SYNCFS_DELAY_MS": "300"])
        func count() throws -> ChildProcess.Result {
            try ChildProcess.runTool("/usr/bin/env", ["sqlite3", "-readonly", harness.database.path, "SELECT count(*) FROM instance_overview;"])
        }
        #expect(waitUntilHoldingThread(seconds: 30) { harness.logText().contains("watching") }, "\(harness.logText())")
        // Read while the daemon writes: every read succeeds and sees a committed state.
        var seen: [Int] = []
        _ = try waitUntilHoldingThread(seconds: 60) {
            let result = try count()
            #expect(result.status == 0, "\(result.standardError)")
            seen.append(Int(result.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1)
            return (seen.last ?? 0) >= 302
        }
        #expect(seen.count >= 3 && seen.contains { $0 > 0 && $0 < 302 }, "\(seen)")
        #expect(seen == seen.sorted() && seen.last == 302, "\(seen)")
        #expect(await harness.stop() == 0)

        let answers = try Self.readmeQueries.map { query in
            try ChildProcess.runTool("/usr/bin/env", ["sqlite3", "-readonly", harness.database.path, query])
        }
        #expect(answers.allSatisfy { $0.status == 0 && $0.standardError.isEmpty }, "\(answers.map(\.standardError))")
        #expect(answers[0].standardOutput == "CT|small|300\nMR|small|2\n")
        #expect(answers[1].standardOutput.split(separator: "\n").count == 3)  // the CT copies share a patient; two MR patients
        let busiest = answers[2].standardOutput.split(separator: "\n").first ?? ""
        #expect(busiest.hasPrefix("GE MEDICAL SYSTEMS|RHAPSODE|") && busiest.hasSuffix("|300"), "\(answers[2].standardOutput)")
        #expect(answers[3].standardOutput.isEmpty && answers[4].standardOutput.isEmpty)
    }
}
