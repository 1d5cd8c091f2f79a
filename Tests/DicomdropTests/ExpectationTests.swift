import Foundation
import Ledger
import Testing

/// Expectations through the real binary: a rule set where one error rule fails on purpose
/// gives the run `failed_validation`, holds its images in `held/` (manifests there, none in
/// the bucket), `validate` reports it with exit status 1, and `release` puts the images
/// back; a rule set the data meets passes and holds nothing.
@Suite(.serialized) struct ExpectationTests {
    static func rules(modalities: String, onFailure: String = "hold") -> String {
        """
        expectations:
          rules:
            - {name: modality, regex: {Modality: "^(\(modalities))$"}, severity: error}
            - {name: size, range: {Rows: [256, 8192]}, severity: warn}
            - {name: one instance number per series, unique_within: {series: InstanceNumber}}
            - {name: enough images, row_count: [1, 100]}
          meta: {max_failed_errors: 0, max_failed_warnings: 2, suboptimal_share: [0, 0.5]}
          on_failure: \(onFailure)
        """
    }

    let files = ["pydicom/test_files/CT_small.dcm", "pydicom/test_files/MR_small.dcm"]

    @Test func aFailedErrorRuleHoldsTheRunsImagesUntilReleased() async throws {
        let harness = try DaemonHarness(extraConfig: Self.rules(modalities: "CR|DX"))
        try harness.drop(files, into: "study")
        #expect(try harness.run(["--once"]).status == 0)
        let pngs = harness.outputs().keys.filter { $0.hasSuffix(".png") }.sorted()
        #expect(pngs.count == 2 && pngs.allSatisfy { $0.hasPrefix("held/small/") }, "\(pngs)")
        #expect(harness.manifests().keys.sorted() == ["held/small/manifest.csv"])

        let report = try harness.run(["validate"])
        #expect(report.status == 1, "\(report.standardError)")
        #expect(report.standardOutput.hasPrefix("run 1 of study"))
        #expect(report.standardOutput.contains("failed_validation"))
        #expect(report.standardOutput.contains("2 image(s) held in held/ until `dicomdrop release 1`"))
        let json = try harness.run(["validate", "--run", "1", "--json"])
        let document = try JSONDecoder().decode(RunValidation.self, from: Data(json.standardOutput.utf8))
        #expect(document.verdict == .failedValidation && document.held == 2)
        let results = Dictionary(uniqueKeysWithValues: document.results.map { ($0.rule, $0) })
        #expect(results["modality"].map { ($0.checked, $0.failed, $0.passed, $0.examples.count) } ?? (0, 0, true, 0) == (2, 2, false, 2))
        #expect(results["size"].map { ($0.severity, $0.failed, $0.passed) } ?? ("", 0, true) == ("warn", 2, false))
        #expect(results["one instance number per series"]?.passed == true)
        #expect(results["enough images"]?.passed == true)
        #expect(results["max_failed_errors"].map { ($0.failed, $0.passed, $0.examples) } ?? (0, true, []) == (1, false, ["modality"]))
        #expect(results["max_failed_warnings"]?.passed == true && results["suboptimal_share"]?.passed == true)
        let runs = try harness.ledger().recentRuns(unit: "study", limit: 1)
        #expect(runs.first?.verdict == "failed_validation")
        #expect(try harness.run(["status"]).standardOutput.contains("failed_validation"))

        let release = try harness.run(["release", "1"])
        #expect(release.status == 0, "\(release.standardError)")
        #expect(release.standardOutput == "released 2 image(s) of run 1 to their buckets\n")
        let released = harness.outputs().keys.filter { $0.hasSuffix(".png") }.sorted()
        #expect(released == pngs.map { String($0.dropFirst("held/".count)) })
        #expect(harness.manifests().keys.sorted() == ["small/manifest.csv"])
        #expect(try harness.check().status == 0, "the ledger names every file where it now is")
        let afterRelease = try harness.run(["validate", "--run", "1"])
        #expect(afterRelease.status == 1 && afterRelease.standardOutput.contains("held images released"))
        let again = try harness.run(["release", "1"])
        #expect(again.status == 2 && again.standardError.contains("run 1 holds no images"))
        #expect(try harness.run(["release", "99"]).standardError.contains("run 99 is not in the ledger"))
    }

    @Test func aFailedValidationIsSentToTheWebhooksWithTheFailedRules() async throws {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("receiver-\(UUID().uuidString).log")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let receiver = try OperatorTests.Receiver(failures: 0, log: scratch)
        let harness = try DaemonHarness(extraConfig: Self.rules(modalities: "CR|DX", onFailure: "record") + """

            webhooks:
              - url: http://127.0.0.1:\(receiver.port)/hooks
                events: [validation_failed]
            """)
        try harness.drop(files, into: "study")
        try harness.start()
        #expect(await waitUntil(seconds: 30) { receiver.requests.count >= 1 }, "\(harness.logText())")
        let body = try #require(receiver.requests.first?["body"] as? String)
        let event = try #require(try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any])
        #expect(event["event"] as? String == "validation_failed" && event["unit"] as? String == "study")
        #expect(event["reasons"] as? [String: Int] == ["modality": 1, "size": 1, "max_failed_errors": 1], "warn-level rules that failed are named too")
        let run = event["run"] as? [String: Any]
        #expect(run?["verdict"] as? String == "failed_validation" && run?["id"] as? Int == 1)
        #expect(event["detail"] as? String == "run 1 failed validation", "on_failure: record holds nothing")
        for planted in ["1.3.6.1.4.1.5962", "CompressedSamples"] { #expect(!body.contains(planted)) }
        #expect(harness.outputs().keys.filter { $0.hasSuffix(".png") }.allSatisfy { $0.hasPrefix("small/") })
        #expect(await harness.stop() == 0)
    }

    /// A corrected image re-sent while the first is held (same SOP Instance UID, other
    /// bytes) takes another name, and the release moves the held one back without touching
    /// it; names a crash left on both sides of a move are removed at the next start.
    @Test func aReSentImageAndAMoveCutShortNeverCostAnOutput() async throws {
        let harness = try DaemonHarness(extraConfig: Self.rules(modalities: "CR|DX"))
        try harness.drop(["pydicom/test_files/CT_small.dcm"], into: "first")
        #expect(try harness.run(["--once"]).status == 0)
        let name = DaemonHarness.remapped("1.3.6.1.4.1.5962.1.1.1.1.1.20040119072730.12322")
        #expect(harness.outputs().keys.sorted() == ["held/small/\(name).json", "held/small/\(name).png"])

        // A crash between the hold's commit and its unlink left the old name: removed at start.
        let out = harness.output.path
        #expect(link("\(out)/held/small/\(name).png", "\(out)/small/\(name).png") == 0)
        // The re-send: the same UID, one byte of the pixels changed, under rules it meets.
        var bytes = try Data(contentsOf: URL(fileURLWithPath: Corpus.path("pydicom/test_files/CT_small.dcm")))
        bytes[bytes.count - 1] ^= 0x01
        try FileManager.default.createDirectory(at: harness.drop.appendingPathComponent("second"), withIntermediateDirectories: true)
        try bytes.write(to: harness.drop.appendingPathComponent("second/CT_small.dcm"))
        try ("drop: drop\noutput: out\ndatabase: ledger.sqlite\nsettle_seconds: 0.3\n" + Self.rules(modalities: "CT"))
            .write(toFile: harness.configPath, atomically: true, encoding: .utf8)
        let second = try harness.run(["--once"])
        #expect(second.status == 0)
        #expect(second.standardError.contains("removed 1 name(s) of held or released images"), "\(second.standardError)")
        let afterResend = harness.outputs().keys.sorted()
        #expect(afterResend.filter { $0.hasPrefix("small/") && $0.hasSuffix(".png") }.count == 1)
        #expect(!afterResend.contains("small/\(name).png"), "the held image's name stays its own: \(afterResend)")
        #expect(afterResend.contains("held/small/\(name).png"))

        // Released: back under its own name, beside the re-sent image, the ledger naming both.
        #expect(try harness.run(["release", "1"]).status == 0)
        let released = harness.outputs().keys.filter { $0.hasSuffix(".png") }.sorted()
        #expect(released.count == 2 && released.contains("small/\(name).png") && released.allSatisfy { $0.hasPrefix("small/") }, "\(released)")
        #expect(try harness.check().status == 0)

        // A crash between the release's commit and its unlink left the held name: removed at start.
        try FileManager.default.createDirectory(atPath: "\(out)/held/small", withIntermediateDirectories: true)
        #expect(link("\(out)/small/\(name).png", "\(out)/held/small/\(name).png") == 0)
        #expect(try harness.run(["--once"]).standardError.contains("removed 1 name(s)"))
        #expect(!FileManager.default.fileExists(atPath: "\(out)/held/small/\(name).png"))
        #expect(FileManager.default.fileExists(atPath: "\(out)/small/\(name).png"))
    }

    /// A run cut short by SIGTERM is not judged on part of its load: its instances wait in
    /// the ledger, and the unit's next complete run checks them all.
    @Test func anInterruptedRunsInstancesAreValidatedByTheNextCompleteRun() async throws {
        let harness = try DaemonHarness(extraConfig: Self.rules(modalities: "CR|DX", onFailure: "record") + "\nworkers: 1")
        try DistinctImages.write(600, into: harness.drop.appendingPathComponent("big"))
        // A slow disk (each batch of 64 made durable 1.5 s late): the unit takes 15 s or more,
        // and the stop lands after the first batch, long before the last; the four batches
        // the commit queue lets wait are drained within 6 s. (At 0.6 s a batch a loaded CI
        // machine, whose test process sent the stop late, once saw all 600 recorded.)
        try harness.start(environment: ["LD_PRELOAD": try ReadFaultTests.injector(), "DD_SYNCFS_DELAY_MS": "1500"])
        let ledger = try harness.ledger()
        #expect(await waitUntil(seconds: 60) { ((try? ledger.sources(inUnit: "big").count) ?? 0) >= 64 })
        #expect(await harness.stop(within: 30) == 0)
        let recorded = try ledger.sources(inUnit: "big").count
        #expect(recorded < 600, "the stop should land mid-unit")
        #expect(try ledger.validation(ofRun: nil) == nil, "an interrupted run is not validated")
        #expect(try ledger.contentsAwaitingValidation(inUnit: "big").count == recorded)

        #expect(try harness.run(["--once"]).status == 0)
        let validation = try #require(try ledger.validation(ofRun: nil))
        #expect(validation.run == 2 && validation.verdict == .failedValidation)
        #expect(validation.results.first { $0.rule == "modality" }?.checked == 600, "the whole load, both runs' instances")
        #expect(try ledger.contentsAwaitingValidation(inUnit: "big").isEmpty)
    }

    @Test func rulesTheDataMeetsPassAndHoldNothing() async throws {
        let harness = try DaemonHarness(extraConfig: Self.rules(modalities: "CT|MR"))
        try harness.drop(files, into: "study")
        #expect(try harness.run(["--once"]).status == 0)
        #expect(harness.outputs().keys.filter { $0.hasSuffix(".png") }.allSatisfy { $0.hasPrefix("small/") })
        let report = try harness.run(["validate"])
        #expect(report.status == 0 && report.standardOutput.contains(": passed"), "\(report.standardOutput)")
        #expect(try harness.ledger().recentRuns(unit: "study", limit: 1).first?.verdict == "passed")
    }

    @Test func aRuleOnAnAttributeWithoutAColumnIsRefusedAtStartUp() async throws {
        let harness = try DaemonHarness(extraConfig: """
            expectations:
              rules:
                - {name: filter, in: {FilterType: [NONE]}}
            """)
        let result = try harness.run(["--once"])
        #expect(result.status != 0)
        #expect(result.standardError.contains("expectations: a rule reads FilterType, which is not a column of the metadata tables; add it to extra_columns"),
                "\(result.standardError)")
        #expect(try harness.run(["validate"]).standardError.contains("no run has been validated yet"))
    }
}
