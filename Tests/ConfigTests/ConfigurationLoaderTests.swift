import Config
import Foundation
import DICOM
import Testing
import Watcher

@Suite struct ConfigurationLoaderTests {
    @Test func theRepositoryWatchYamlGivesTheDocumentedDefaultsUnderVar() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let configuration = try ConfigurationLoader.load(path: root.appendingPathComponent("watch.yaml").path)
        #expect(configuration.drop.path == root.appendingPathComponent("var/drop").path)
        #expect(configuration.output.path == root.appendingPathComponent("var/out").path)
        #expect(configuration.database.path == root.appendingPathComponent("var/dicomdrop.sqlite").path)
        #expect(configuration.settleSeconds == 5)
        #expect(configuration.rescanSeconds == 60)
        #expect(configuration.workers == ProcessInfo.processInfo.activeProcessorCount)
        #expect(configuration.sizeBuckets == SizeBucket.defaults)
        #expect(configuration.deidentification.keyFile.path == root.appendingPathComponent("var/deidentify.key").path)
        #expect(configuration.deidentification.mapDatabase.path == root.appendingPathComponent("var/pseudonyms.sqlite").path)
        #expect(configuration.watchMode == .auto)
        #expect(configuration.png.encoder == .fast)
        #expect(configuration.pollSeconds == 10)
        #expect(configuration.limits == ReadLimits.defaults)
    }

    /// Every key the loader knows, each with a value other than its default, loaded at
    /// once: each must arrive where the daemon reads it. `model_file` and the inline `model`
    /// exclude each other, so the file takes a second load.
    @Test func everyKeyOfWatchYamlLoadsIntoTheConfiguration() throws {
        let rules = "enabled: false, min_dynamic_range: 3, min_foreground_std: 4, max_foreground_clipped: 0.5, min_sharpness: 0.01, max_sharpness: 9"
        let yaml = """
            drop: in
            output: /srv/out
            database: db/ledger.sqlite
            settle_seconds: 7
            rescan_seconds: 120
            workers: 3
            log_file: logs/daemon.log
            extra_columns: [ReconstructionDiameter, EchoNumbers]
            filters:
              ViewPosition: [PA, AP, "AP Supine"]
              Modality: {exclude: [SR, KO]}
              BodyPartExamined: {in: [chest], ignore_case: true}
            filters_action: skip
            watch:
              mode: poll
              poll_seconds: 4
            buckets:
              size:
                - {name: tiny, max_pixels: 1000}
                - {name: rest}
              capacity: 400
              naming: sequence
            deidentify:
              options: [retain_uids, clean_descriptors]
              keep_private: [ACME 1.0]
              descriptor_allow_list: [CHEST PA]
              key_file: secret/key
              map_database: secret/map.sqlite
              write_dicom: true
            png:
              bit_depth: 16
              frames: first
              encoder: zlib
              level: 6
            limits:
              max_elements: 2000
              max_inflated_bytes: 2097152
            quality:
              \(rules.replacingOccurrences(of: ", ", with: "\n  "))
              modalities:
                CR: {\(rules)}
              model: {features: [mean, std], weights: [1, 2], bias: 0.5, threshold: 0.25, mean: [3, 4], scale: [5, 6]}
            http:
              listen: "[::1]:8470"
              token: 0123456789abcdef-token
            webhooks:
              - url: https://hooks.example.org/dicomdrop
                events: [unit_failed, disk_full]
                secret: s3cret
                attempts: 3
              - url: http://127.0.0.1:9000/all
            log:
              format: json
              level: debug
            expectations:
              rules:
                - {name: r, severity: warn, at_least: 0.5, required: [Rows]}
                - {name: s, regex: {Modality: "^CR$"}}
                - {name: t, in: {Modality: [CR]}}
                - {name: u, range: {Rows: [1, 2]}}
                - {name: v, unique: Rows}
                - {name: w, unique_within: {study: Rows}}
                - {name: x, row_count: [1, 2]}
              meta:
                max_failed_errors: 1
                max_failed_warnings: 2
                suboptimal_share: [0, 0.5]
              on_failure: hold
            annotations:
              folder: labels

            """
        let configuration = try ConfigurationLoader.parse(yaml, file: "/etc/dicomdrop/watch.yaml")
        #expect(configuration.drop.path == "/etc/dicomdrop/in")
        #expect(configuration.output.path == "/srv/out")
        #expect(configuration.database.path == "/etc/dicomdrop/db/ledger.sqlite")
        #expect(configuration.settleSeconds == 7 && configuration.rescanSeconds == 120 && configuration.workers == 3)
        #expect(configuration.watchMode == .poll && configuration.pollSeconds == 4)
        #expect(configuration.logFile?.path == "/etc/dicomdrop/logs/daemon.log")
        #expect(configuration.extraColumns == ["ReconstructionDiameter", "EchoNumbers"])
        #expect(configuration.filters == [AttributeFilter(keyword: "ViewPosition", mode: .include, values: ["PA", "AP", "AP Supine"]),
                                          AttributeFilter(keyword: "Modality", mode: .exclude, values: ["SR", "KO"]),
                                          AttributeFilter(keyword: "BodyPartExamined", mode: .include, values: ["chest"], ignoreCase: true)])
        #expect(configuration.filtersAction == .skip)
        #expect(configuration.sizeBuckets == [SizeBucket(name: "tiny", maxPixels: 1000), SizeBucket(name: "rest", maxPixels: nil)])
        #expect(configuration.bucketCapacity == BucketCapacity(images: 400, naming: .sequence))
        let deidentify = configuration.deidentification
        #expect(deidentify.options == ["retain_uids", "clean_descriptors"])
        #expect(deidentify.keepPrivateCreators == ["ACME 1.0"] && deidentify.descriptorAllowList == ["CHEST PA"])
        #expect(deidentify.keyFile.path == "/etc/dicomdrop/secret/key" && deidentify.mapDatabase.path == "/etc/dicomdrop/secret/map.sqlite")
        #expect(deidentify.writeDICOM)
        #expect(configuration.png.bitDepth == 16 && configuration.png.frames == .first && configuration.png.level == 6)
        #expect(configuration.png.encoder == .zlib)
        #expect(configuration.limits == ReadLimits(maximumElements: 2000, maximumInflatedBytes: 2 << 20))
        var expectedRules = QualityRuleSettings(enabled: false)
        expectedRules.minDynamicRange = 3
        expectedRules.minForegroundStd = 4
        expectedRules.maxForegroundClipped = 0.5
        expectedRules.minSharpness = 0.01
        expectedRules.maxSharpness = 9
        #expect(configuration.quality.rules == expectedRules)
        #expect(configuration.quality.byModality["CR"] == expectedRules)
        let model = try #require(configuration.quality.model)
        #expect(model.features == ["mean", "std"] && model.weights == [1, 2] && model.bias == 0.5 && model.threshold == 0.25)
        #expect(model.mean == [3, 4] && model.scale == [5, 6])
        #expect(configuration.statusServer == StatusServerConfiguration(host: "::1", port: 8470, token: "0123456789abcdef-token"))
        #expect(configuration.webhooks == [
            WebhookConfiguration(url: URL(string: "https://hooks.example.org/dicomdrop")!, events: [.unitFailed, .diskFull], secret: "s3cret", attempts: 3),
            WebhookConfiguration(url: URL(string: "http://127.0.0.1:9000/all")!, events: Set(WebhookEvent.allCases)),
        ])
        #expect(configuration.log.format == .json && configuration.log.level == .debug)
        #expect(configuration.expectations?.rules.map(\.check.kind) == ["required", "regex", "in", "range", "unique", "unique_within", "row_count"])
        #expect(configuration.expectations?.meta == MetaValidation(maxFailedErrors: 1, maxFailedWarnings: 2, suboptimalShare: 0...0.5))
        #expect(configuration.expectations?.onFailure == .hold && configuration.annotations.folder == "labels")

        // The model from a file instead.
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("config-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        try Data(#"{"features": ["p1"], "weights": [2], "bias": 1, "threshold": 0}"#.utf8).write(to: folder.appendingPathComponent("model.json"))
        let fromFile = try ConfigurationLoader.parse("quality:\n  model_file: model.json\n", file: folder.appendingPathComponent("watch.yaml").path)
        #expect(fromFile.quality.model?.features == ["p1"] && fromFile.quality.model?.weights == [2])

        // Nothing the schema knows was left out of the two documents above.
        for key in ConfigurationLoader.schemaKeys() {
            #expect(yaml.contains("\(key):") || key == "model_file", "\(key) is not loaded by this test")
        }
    }

    @Test func theStatusServerWebhooksAndLogSettingsAreCheckedWithTheirPlace() {
        #expect((failure("http:\n  listen: 0.0.0.0:8470\n") ?? "").hasPrefix(
            "watch.yaml:2:11: http.listen: 0.0.0.0 is reachable from other machines: set http.token"))
        #expect(failure("http:\n  listen: 127.0.0.1:8470\n  token: short\n")
                == "watch.yaml:3:10: http.token: must be at least 16 characters (e.g. from `openssl rand -hex 24`)")
        #expect(failure("http:\n  listen: localhost\n")
                == "watch.yaml:2:11: http.listen: must be host:port (127.0.0.1:8470, [::1]:8470), found \"localhost\"")
        #expect(failure("http:\n  token: 0123456789abcdef0\n") == "watch.yaml:2:3: http: needs listen: host:port (e.g. 127.0.0.1:8470)")
        #expect(failure("webhooks:\n  - url: ftp://example.org/\n")
                == "watch.yaml:2:10: webhooks[0].url: must be an http:// or https:// address, found \"ftp://example.org/\"")
        #expect((failure("webhooks:\n  - url: http://example.org/\n    events: [unit_done, unit_gone]\n") ?? "").hasPrefix(
            "watch.yaml:3:25: webhooks[0].events[1]: unknown event \"unit_gone\"; known: unit_done, unit_failed, validation_failed, overflow, disk_full"))
        #expect(failure("webhooks:\n  - url: http://example.org/\n    attempts: 0\n")
                == "watch.yaml:3:15: webhooks[0].attempts: must be between 1 and 20, found 0")
        #expect(failure("log:\n  format: xml\n") == "watch.yaml:2:11: log.format: must be text or json, found \"xml\"")
        #expect(failure("log:\n  level: loud\n")
                == "watch.yaml:2:10: log.level: must be one of trace, debug, info, notice, warning, error, critical, found \"loud\"")
        // Loopback needs no token.
        #expect((try? ConfigurationLoader.parse("http:\n  listen: 127.0.0.1:0\n", file: "watch.yaml"))?.statusServer?.isLoopback == true)
    }

    @Test func extraColumnsMustBeDictionaryKeywordsOfOneColumnsValue() {
        #expect(failure("extra_columns: [ViewPosition, ViewPositon]\n")
                == "watch.yaml:1:31: extra_columns[1]: \"ViewPositon\" is not an attribute keyword of the DICOM dictionary (PS3.6), which are written like ViewPosition")
        #expect(failure("extra_columns:\n  - ViewCodeSequence\n")
                == "watch.yaml:2:5: extra_columns[0]: ViewCodeSequence has VR SQ (a sequence or bytes): not one column's value")
    }

    @Test func anUnknownFilterKeywordOrAMalformedRuleIsNamedWithItsPlace() {
        #expect(failure("filters:\n  ViewPositon: [PA]\n")
                == "watch.yaml:2:3: filters.ViewPositon: unknown attribute keyword (PS3.6 keywords are written like ViewPosition; a metadata.csv column is not written like a keyword)")
        #expect(failure("filters:\n  ViewPosition: PA\n")
                == "watch.yaml:2:17: filters.ViewPosition: must be a list of values, {in: [...]} or {exclude: [...]}, with ignore_case: true as an option")
        #expect(failure("filters:\n  Modality: {exclude: [SR], in: [CT]}\n") == "watch.yaml:2:29: filters.Modality.in: give in or exclude, not both")
        #expect(failure("filters:\n  Modality: {exlude: [SR]}\n") == "watch.yaml:2:14: filters.Modality.exlude: unknown key (known here: exclude, ignore_case, in)")
        #expect(failure("filters:\n  Modality: {in: [CT], ignore_case: maybe}\n") == "watch.yaml:2:37: filters.Modality.ignore_case: must be true or false, found \"maybe\"")
        #expect(failure("filters:\n  Modality: []\n") == "watch.yaml:2:13: filters.Modality: lists no values: no image could pass")
        #expect(failure("filters:\n  Modality: [[CT]]\n") == "watch.yaml:2:14: filters.Modality[0]: must be a value, found a list or mapping")
        #expect(failure("filters:\n  ReferencedImageSequence: [x]\n")
                == "watch.yaml:2:3: filters.ReferencedImageSequence: ReferencedImageSequence is a sequence or bytes: it has no value to compare")
        #expect(failure("filters_action: drop\n") == "watch.yaml:1:17: filters_action: must be excluded or skip, found \"drop\"")
        #expect(failure("buckets:\n  size:\n    - {name: excluded, max_pixels: 10}\n    - {name: rest}\n")?
                    .hasSuffix("\"excluded\" is reserved: dicomdrop's own folder, it holds images the filters set aside") == true)
    }

    @Test func bucketCapacityIsAPositiveCountAndNamingNeedsIt() throws {
        #expect(try ConfigurationLoader.parse("buckets:\n  capacity: 400\n", file: "/w/watch.yaml").bucketCapacity
                == BucketCapacity(images: 400, naming: .timestamp))
        #expect(try ConfigurationLoader.parse("drop: d\n", file: "/w/watch.yaml").bucketCapacity == nil)
        #expect(failure("buckets:\n  capacity: 0\n") == "watch.yaml:2:13: buckets.capacity: must be a number of images >= 1, found 0")
        #expect(failure("buckets:\n  capacity: 10\n  naming: daily\n") == "watch.yaml:3:11: buckets.naming: must be timestamp or sequence, found \"daily\"")
        #expect(failure("buckets:\n  naming: sequence\n") == "watch.yaml:2:11: buckets.naming: names the directories after a full one: it needs buckets.capacity")
        #expect(failure("buckets:\n  capacity: 10\n  size:\n    - {name: small, max_pixels: 10}\n    - {name: small-0002}\n")
                == "watch.yaml:5:14: buckets.size[1].name: \"small-0002\" is the name of a further directory of the bucket \"small\" under buckets.capacity")
        #expect(failure("buckets:\n  capacity: 10\n  size:\n    - {name: review-20261202T101500Z}\n")?.hasSuffix("of the bucket \"review\" under buckets.capacity") == true)
        #expect(try ConfigurationLoader.parse("buckets:\n  size:\n    - {name: small, max_pixels: 10}\n    - {name: small-0002}\n",
                                              file: "/w/watch.yaml").sizeBuckets.count == 2)
    }

    /// The fast encoder by default; a zlib level alone (a watch.yaml from before the fast
    /// encoder) keeps zlib, at that level.
    @Test func theEncoderIsFastUnlessAZlibLevelOrZlibIsNamed() throws {
        #expect(try ConfigurationLoader.parse("png:\n  bit_depth: 8\n", file: "/w/watch.yaml").png.encoder == .fast)
        let levelOnly = try ConfigurationLoader.parse("png:\n  level: 1\n", file: "/w/watch.yaml").png
        #expect(levelOnly.encoder == .zlib && levelOnly.level == 1)
        let zlibOnly = try ConfigurationLoader.parse("png:\n  encoder: zlib\n", file: "/w/watch.yaml").png
        #expect(zlibOnly.encoder == .zlib && zlibOnly.level == 1)
    }

    @Test func limitsAreReadAndChecked() throws {
        let configuration = try ConfigurationLoader.parse("limits:\n  max_elements: 2000\n  max_inflated_bytes: 2097152\n", file: "/w/watch.yaml")
        #expect(configuration.limits == ReadLimits(maximumElements: 2000, maximumInflatedBytes: 2 << 20))
        #expect(failure("limits:\n  max_elements: 10\n") == "watch.yaml:2:17: limits.max_elements: must be at least 1000, found 10")
        #expect(failure("limits:\n  max_inflated_bytes: 1024\n")?.hasPrefix("watch.yaml:2:23: limits.max_inflated_bytes: must be at least 1048576") == true)
    }

    @Test func watchModeAndPollSecondsAreReadAndChecked() throws {
        let configuration = try ConfigurationLoader.parse("watch:\n  mode: poll\n  poll_seconds: 2.5\n", file: "/w/watch.yaml")
        #expect(configuration.watchMode == .poll)
        #expect(configuration.pollSeconds == 2.5)
        #expect(failure("watch:\n  mode: fanotify\n") == "watch.yaml:2:9: watch.mode: must be auto, inotify or poll, found \"fanotify\"")
        #expect(failure("watch:\n  poll_seconds: 0\n") == "watch.yaml:2:17: watch.poll_seconds: must be a number of seconds >= 0.1, found 0.0")
    }

    /// README: the key and the map default to var/ beside watch.yaml; moving the ledger
    /// elsewhere must not move them with it (a new key would change every pseudonym).
    @Test func theKeyAndTheMapDefaultUnderVarBesideWatchYamlWhereverTheDatabaseIs() throws {
        let configuration = try ConfigurationLoader.parse("database: /srv/ledger/dicomdrop.sqlite\n", file: "/etc/dicomdrop/watch.yaml")
        #expect(configuration.deidentification.keyFile.path == "/etc/dicomdrop/var/deidentify.key")
        #expect(configuration.deidentification.mapDatabase.path == "/etc/dicomdrop/var/pseudonyms.sqlite")
        #expect(configuration.deidentification == DeidentificationConfiguration(defaultsIn: URL(fileURLWithPath: "/etc/dicomdrop")))
    }

    @Test func anEmptyNestedPathIsReportedAtItsOwnKeyNotAtATopLevelOne() {
        #expect(failure("deidentify:\n  key_file: \"\"\n") == "watch.yaml:2:13: deidentify.key_file: must be a path, found an empty string")
        #expect(failure("deidentify:\n  map_database: \"\"\n") == "watch.yaml:2:17: deidentify.map_database: must be a path, found an empty string")
        #expect(failure("quality:\n  model_file: \"\"\n") == "watch.yaml:2:15: quality.model_file: must be a path, found an empty string")
        // A device read whole would never end: only a regular file of a model's size is read.
        #expect(failure("quality:\n  model_file: /dev/zero\n") == "watch.yaml:2:15: quality.model_file: /dev/zero is not a regular file of at most 1048576 bytes")
    }

    @Test func relativePathsResolveAgainstTheFilesFolderAndAbsoluteOnesStay() throws {
        let configuration = try ConfigurationLoader.parse("""
            drop: incoming
            output: /srv/out
            workers: 3
            buckets:
              size:
                - {name: tiny, max_pixels: 1000}
                - {name: mid, max_pixels: 100000}
                - {name: huge}
            """, file: "/etc/dicomdrop/watch.yaml")
        #expect(configuration.drop.path == "/etc/dicomdrop/incoming")
        #expect(configuration.output.path == "/srv/out")
        #expect(configuration.database.path == "/etc/dicomdrop/var/dicomdrop.sqlite")
        #expect(configuration.workers == 3)
        #expect(configuration.sizeBucket(forPixels: 1000).name == "tiny")
        #expect(configuration.sizeBucket(forPixels: 1001).name == "mid")
        #expect(configuration.sizeBucket(forPixels: 4096 * 4096).name == "huge")
    }

    @Test func aFilterOnANameNoKeywordHasIsARuleOnAPlainDatasetsCSVColumn() throws {
        let configuration = try ConfigurationLoader.parse("filters:\n  view: [PA, AP, \"AP Supine\"]\n  RT_PCR_positive: {exclude: [N]}\n",
                                                          file: "watch.yaml")
        #expect(configuration.filters == [AttributeFilter(keyword: "view", mode: .include, values: ["PA", "AP", "AP Supine"]),
                                          AttributeFilter(keyword: "RT_PCR_positive", mode: .exclude, values: ["N"])])
    }

    private func failure(_ yaml: String) -> String? {
        do {
            _ = try ConfigurationLoader.parse(yaml, file: "watch.yaml")
            return nil
        } catch {
            return error.description
        }
    }

    @Test func anUnknownKeyIsNamedWithItsLineAndColumn() {
        #expect(failure("drop: in\nsetle_seconds: 3\n")
                == "watch.yaml:2:1: setle_seconds: unknown key (known here: annotations, buckets, database, deidentify, drop, expectations, extra_columns, filters, filters_action, http, limits, log, log_file, output, png, quality, rescan_seconds, settle_seconds, watch, webhooks, workers)")
        #expect(failure("buckets:\n  size:\n    - name: a\n      max_pixel: 5\n")?.hasPrefix("watch.yaml:4:7: buckets.size[0].max_pixel: unknown key") == true)
    }

    @Test func aWrongTypeIsNamedWithItsPlace() {
        #expect(failure("settle_seconds: soon\n") == "watch.yaml:1:17: settle_seconds: must be a number, found \"soon\"")
        #expect(failure("workers: 2.5\n") == "watch.yaml:1:10: workers: must be a whole number, found \"2.5\"")
    }

    @Test func impossibleValuesAreRefused() {
        #expect(failure("settle_seconds: -1\n") == "watch.yaml:1:17: settle_seconds: must be a number of seconds >= 0, found -1.0")
        #expect(failure("workers: 0\n") == "watch.yaml:1:10: workers: must be between 1 and 256, found 0")
        #expect(failure("png:\n  bit_depth: 12\n") == "watch.yaml:2:14: png.bit_depth: must be 8 or 16, found 12")
        #expect(failure("png:\n  frames: some\n") == "watch.yaml:2:11: png.frames: must be all or first, found \"some\"")
        #expect(failure("png:\n  level: 10\n") == "watch.yaml:2:10: png.level: must be a zlib level from 0 to 9, found 10")
        #expect(failure("png:\n  encoder: turbo\n") == "watch.yaml:2:12: png.encoder: must be fast or zlib, found \"turbo\"")
        #expect(failure("png:\n  encoder: fast\n  level: 6\n")
            == "watch.yaml:3:10: png.level: is a zlib level: it needs `encoder: zlib` (the fast encoder has no levels)")
        #expect(failure("quality:\n  max_foreground_clipped: 2\n") == "watch.yaml:2:27: quality.max_foreground_clipped: must be between 0.0 and 1.0, found 2.0")
        #expect(failure("quality:\n  modalities:\n    MR:\n      min_sharpnes: 0.1\n")?.hasPrefix("watch.yaml:4:7: quality.modalities.MR.min_sharpnes: unknown key") == true)
        #expect(failure("quality:\n  model:\n    features: [mean, std]\n    weights: [1]\n    bias: 0\n    threshold: 0\n")?
            .hasPrefix("watch.yaml:3:5: quality.model: needs one weight") == true)
        #expect(failure("quality:\n  model:\n    features: [mean, nope]\n    weights: [1, 1]\n    bias: 0\n    threshold: 0\n")?
            .hasPrefix("watch.yaml:3:5: quality.model: unknown feature \"nope\"") == true)
        #expect(failure("drop: same\noutput: same\n") == "watch.yaml:2:9: output: must not be the drop directory: dicomdrop never writes into the drop directory")
        #expect(failure("buckets:\n  size:\n    - {name: a, max_pixels: 100}\n    - {name: b, max_pixels: 50}\n    - {name: c}\n")
                == "watch.yaml:4:29: buckets.size[1].max_pixels: must be larger than the previous bucket's 100, found 50")
        #expect(failure("buckets:\n  size:\n    - {name: a}\n    - {name: b}\n")
                == "watch.yaml:3:7: buckets.size[0]: only the last bucket may be without max_pixels")
        #expect(failure("buckets:\n  size:\n    - {name: ../etc}\n")?.contains("must be a plain folder name") == true)
        #expect(failure("buckets:\n  size:\n    - {name: non-image}\n")
                == "watch.yaml:3:14: buckets.size[0].name: \"non-image\" is reserved: dicomdrop's own folder, it holds datasets without pixels")
        for reserved in ReservedBucket.allCases {
            #expect(failure("buckets:\n  size:\n    - {name: \(reserved.rawValue)}\n")?.contains("\"\(reserved.rawValue)\" is reserved") == true)
        }
        #expect(failure("drop: /srv/drop\noutput: /srv/drop/out\n")
            == "watch.yaml:2:9: output: must not be inside the drop directory /srv/drop: its outputs would be processed as new drops")
        #expect(failure("drop: /srv/out/drop\noutput: /srv/out\n")?.hasPrefix("watch.yaml:1:7: drop: must not be inside the output") == true)
        #expect(failure("drop: /srv/drop\ndatabase: /srv/drop/ledger.sqlite\n")?.hasPrefix("watch.yaml:2:11: database: must not be inside the drop") == true)
        #expect(failure("drop: /srv/drop\noutput: /srv/drop-out\n") == nil)
    }

    @Test func expectationsAreReadRuleByRuleWithTheirDefaults() throws {
        let configuration = try ConfigurationLoader.parse("""
            expectations:
              rules:
                - {name: view present, required: [ViewPosition], severity: error}
                - {name: modality, regex: {Modality: "^(CR|DX)$"}, severity: error}
                - {name: size, range: {Rows: [256, 8192]}, severity: warn}
                - {name: views, in: {ViewPosition: [PA, AP]}}
                - {name: unique, unique: SOPInstanceUID}
                - {name: one instance number per series, unique_within: {series: InstanceNumber}}
                - {name: age mostly known, required: PatientAge, at_least: 0.95}
                - {name: some, row_count: [1, ~]}
              meta: {max_failed_errors: 0, max_failed_warnings: 2, suboptimal_share: [0, 0.2]}
              on_failure: hold
            annotations:
              folder: labels
            """, file: "/w/watch.yaml")
        let expectations = try #require(configuration.expectations)
        #expect(expectations.rules == [
            ExpectationRule(name: "view present", check: .required(["ViewPosition"])),
            ExpectationRule(name: "modality", check: .regex(keyword: "Modality", pattern: "^(CR|DX)$")),
            ExpectationRule(name: "size", severity: .warn, check: .range(keyword: "Rows", minimum: 256, maximum: 8192)),
            ExpectationRule(name: "views", check: .oneOf(keyword: "ViewPosition", values: ["PA", "AP"])),
            ExpectationRule(name: "unique", check: .unique(keyword: "SOPInstanceUID")),
            ExpectationRule(name: "one instance number per series", check: .uniqueWithin(scope: .series, keyword: "InstanceNumber")),
            ExpectationRule(name: "age mostly known", check: .required(["PatientAge"]), atLeast: 0.95),
            ExpectationRule(name: "some", check: .rowCount(minimum: 1, maximum: nil)),
        ])
        #expect(expectations.meta == MetaValidation(maxFailedErrors: 0, maxFailedWarnings: 2, suboptimalShare: 0...0.2))
        #expect(expectations.onFailure == .hold)
        #expect(configuration.annotations.folder == "labels")
        #expect(configuration.annotations.isAnnotationFile("labels/a.csv") && configuration.annotations.isAnnotationFile("s/x.annotations.json"))
        #expect(!configuration.annotations.isAnnotationFile("s/metadata.csv"))
        #expect(try ConfigurationLoader.parse("drop: d\n", file: "/w/watch.yaml").expectations == nil)
    }

    @Test func aBadExpectationIsNamedWithItsPlace() {
        let head = "expectations:\n  rules:\n"
        #expect(failure(head + "    - {name: a, regex: {Modality: \"(\"}}\n")?.hasPrefix("watch.yaml:3:35: expectations.rules[0].regex.Modality: is not a regular expression") == true)
        #expect(failure(head + "    - {name: a, range: {Nope: [1, 2]}}\n")
                == "watch.yaml:3:25: expectations.rules[0].range: \"Nope\" is not an attribute keyword of the DICOM dictionary (PS3.6), which are written like ViewPosition")
        #expect(failure(head + "    - {name: a, required: [Rows], unique: Rows}\n")
                == "watch.yaml:3:7: expectations.rules[0]: needs exactly one of required, regex, in, range, unique, unique_within, row_count, found required and unique")
        #expect(failure(head + "    - {required: [Rows]}\n") == "watch.yaml:3:7: expectations.rules[0].name: needs a name")
        #expect(failure(head + "    - {name: a, required: [Rows]}\n    - {name: a, required: [Columns]}\n")
                == "watch.yaml:4:7: expectations.rules[1].name: \"a\" is used twice")
        #expect(failure(head + "    - {name: a, required: [Rows], at_least: 1.5}\n")
                == "watch.yaml:3:45: expectations.rules[0].at_least: must be a share above 0 and at most 1, found \"1.5\"")
        #expect(failure(head + "    - {name: a, required: [Rows], severity: fatal}\n")
                == "watch.yaml:3:45: expectations.rules[0].severity: must be warn or error, found \"fatal\"")
        #expect(failure(head + "    - {name: a, unique_within: {ward: Rows}}\n")
                == "watch.yaml:3:33: expectations.rules[0].unique_within: must be within series, study or patient, found \"ward\"")
        #expect(failure(head + "    - {name: a, range: {Rows: [9, 2]}}\n")
                == "watch.yaml:3:31: expectations.rules[0].range.Rows: must be [low, high] with low <= high (~ for no bound)")
        #expect(failure(head + "    - {name: a, sometimes: [Rows]}\n")?.hasPrefix("watch.yaml:3:17: expectations.rules[0].sometimes: unknown key") == true)
        #expect(failure("expectations:\n  meta: {suboptimal_share: [0.5, 0.2]}\n")
                == "watch.yaml:2:28: expectations.meta.suboptimal_share: must be [low, high] with 0 <= low <= high <= 1")
        #expect(failure("expectations:\n  on_failure: drop\n") == "watch.yaml:2:15: expectations.on_failure: must be hold or record, found \"drop\"")
        #expect(failure("annotations:\n  folder: ../x\n")?.hasPrefix("watch.yaml:2:11: annotations.folder: must be a folder name") == true)
    }

    @Test func deidentificationOptionsAreTheProfilesOwnAndAnUnknownOneIsNamedWithTheKnownOnes() throws {
        let known = "retain_safe_private, retain_uids, retain_device_identity, retain_institution_identity, "
            + "retain_patient_characteristics, retain_longitudinal_full_dates, retain_longitudinal_modified_dates, "
            + "clean_descriptors, clean_structured_content, clean_graphics"
        #expect(failure("deidentify:\n  options: [retain_uids, retain_all]\n")
                == "watch.yaml:2:26: deidentify.options[1]: unknown option \"retain_all\"; known: \(known)")
        let every = known.replacingOccurrences(of: " ", with: "")
        let configuration = try ConfigurationLoader.parse("deidentify:\n  options: [\(every)]\n", file: "/etc/dicomdrop/watch.yaml")
        #expect(configuration.deidentification.options == every.split(separator: ",").map(String.init))
    }

    @Test func brokenYamlIsReportedWithItsPlace() {
        #expect(failure("drop: [unclosed\n")?.hasPrefix("watch.yaml:2:1: is not valid YAML:") == true)
        #expect(failure("") == "watch.yaml: is empty: expected a mapping of settings")
    }
}
