import Config
import DICOM
import Foundation
import GRDB
import Ledger
import Logging
@testable import Pipeline
import Testing

/// `filters:` on real files: copies of a corpus CT with planted view positions, through the
/// real pipeline into a real ledger and output folder.
@Suite struct FilterTests {
    private let root = FileManager.default.temporaryDirectory.appendingPathComponent("filters-\(UUID().uuidString)")
    private var drop: URL { root.appendingPathComponent("drop") }
    private var output: URL { root.appendingPathComponent("out") }
    private var database: URL { root.appendingPathComponent("ledger.sqlite") }

    /// CT_small with View Position `view` (nil: without one) and an instance UID of its own.
    private func plant(_ view: String?, as name: String, modality: String = "CT") throws {
        let source = MetadataTablesTests.testFiles.appendingPathComponent("CT_small.dcm")
        var dataSet = try DICOMFile.read(path: source.path).dataSet
        if let view { dataSet.set(DataElement(tag: Tag(0x0018, 0x5101), vr: .CS, strings: [view])) }
        dataSet.set(DataElement(tag: .modality, vr: .CS, strings: [modality]))
        dataSet.set(DataElement(tag: .sopInstanceUID, vr: .UI, strings: ["1.2.826.0.1.3680043.8.498.\(abs(name.hashValue) % 1_000_000)"]))
        let folder = drop.appendingPathComponent("views")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try DICOMWriter.part10(dataSet, transferSyntax: .explicitVRLittleEndian).write(to: folder.appendingPathComponent(name))
    }

    private func run(_ filters: [AttributeFilter], action: FiltersAction = .excluded) async throws -> [String: (bucket: String?, reason: String?, outputs: Int)] {
        var configuration = WatchConfiguration(drop: drop, output: output, database: database,
                                               deidentification: DeidentificationConfiguration(defaultsIn: root), workers: 2)
        configuration.filters = filters
        configuration.filtersAction = action
        let ledger = try Ledger(path: database)
        let summary = try await UnitProcessor(configuration: configuration, ledger: ledger, logger: Logger(label: "test"))
            .process(unit: "views", trigger: .reprocess)
        #expect(summary.counts.failed == 0)
        var result: [String: (bucket: String?, reason: String?, outputs: Int)] = [:]
        for (path, source) in try ledger.sources(inUnit: "views") {
            let content = try #require(try ledger.content(source.sha256))
            result[String(path.dropFirst("views/".count))] = (content.bucket, content.reason, content.outputs.count)
        }
        return result
    }

    @Test func plantedViewPositionsAreKeptOrExcludedWithTheRuleTheyFailed() async throws {
        defer { try? FileManager.default.removeItem(at: root) }
        try plant("PA", as: "pa.dcm")
        try plant("AP", as: "ap.dcm")
        try plant("pa", as: "lower.dcm")
        try plant("LL", as: "lateral.dcm")
        try plant(nil, as: "none.dcm")
        try plant("PA", as: "report.dcm", modality: "SR")
        let filters = [AttributeFilter(keyword: "ViewPosition", mode: .include, values: ["PA", "AP", "AP Supine"]),
                       AttributeFilter(keyword: "Modality", mode: .exclude, values: ["SR", "KO", "PR"])]
        let kept = try await run(filters)
        #expect(kept["pa.dcm"]?.bucket == "small" && kept["ap.dcm"]?.bucket == "small")
        #expect(kept["pa.dcm"]?.reason == nil)
        #expect(kept["lower.dcm"]?.bucket == "excluded")
        #expect(kept["lower.dcm"]?.reason == "excluded: filter ViewPosition: \"pa\", not one of [PA, AP, AP Supine]")
        #expect(kept["lateral.dcm"]?.reason == "excluded: filter ViewPosition: \"LL\", not one of [PA, AP, AP Supine]")
        #expect(kept["none.dcm"]?.reason == "excluded: filter ViewPosition: absent, not one of [PA, AP, AP Supine]")
        #expect(kept["report.dcm"]?.reason == "excluded: filter Modality: \"SR\" is excluded [SR, KO, PR]")
        // Excluded images keep their PNG and JSON, in the excluded folder.
        #expect(kept["lateral.dcm"]?.outputs == 2)
        let excluded = try FileManager.default.contentsOfDirectory(atPath: output.appendingPathComponent("excluded").path)
        #expect(excluded.filter { $0.hasSuffix(".png") }.count == 4)

        // Case-insensitive: "pa" passes; skip writes nothing for the others and removes
        // what the earlier run wrote for them.
        let folded = [AttributeFilter(keyword: "ViewPosition", mode: .include, values: ["PA", "AP"], ignoreCase: true), filters[1]]
        let skipped = try await run(folded, action: .skip)
        #expect(skipped["lower.dcm"]?.bucket == "small")
        #expect(skipped["lateral.dcm"]?.bucket == nil && skipped["lateral.dcm"]?.outputs == 0)
        #expect(skipped["lateral.dcm"]?.reason == "skipped: filter ViewPosition: \"LL\", not one of [PA, AP]")
        #expect(skipped["none.dcm"]?.outputs == 0 && skipped["report.dcm"]?.outputs == 0)
        let left = try FileManager.default.contentsOfDirectory(atPath: output.appendingPathComponent("excluded").path)
        #expect(left.isEmpty, "\(left)")
        // Skipped instances are still in the tables, without a bucket.
        let rows = try await DatabaseQueue(path: database.path).read { db in
            try Row.fetchAll(db, sql: "SELECT bucket, \"ViewPosition\", reason FROM instance_overview ORDER BY \"ViewPosition\", bucket")
                .map { [$0["bucket"] as String?, $0["ViewPosition"] as String?] }
        }
        #expect(rows == [[nil, nil], ["small", "AP"], [nil, "LL"], [nil, "PA"], ["small", "PA"], ["small", "pa"]])
    }
}
