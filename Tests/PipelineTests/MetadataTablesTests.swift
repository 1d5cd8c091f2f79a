import Config
import DICOM
import Foundation
import GRDB
@testable import Ledger
import Logging
@testable import Pipeline
import Testing

/// The metadata tables, filled by real runs over real corpus files into a real ledger, and
/// checked against the JSON sidecars the same runs wrote.
@Suite struct MetadataTablesTests {
    private let root = FileManager.default.temporaryDirectory.appendingPathComponent("metadata-\(UUID().uuidString)")
    private var drop: URL { root.appendingPathComponent("drop") }
    private var output: URL { root.appendingPathComponent("out") }
    private var database: URL { root.appendingPathComponent("ledger.sqlite") }

    static let testFiles = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("corpus/files/pydicom/test_files")
    /// A CT, two MRs of one series, an ultrasound, a Siemens MR with a device serial number,
    /// an RT dose (no image of anatomy) and an RT plan (no pixels).
    static let sources = ["CT_small.dcm", "MR_small.dcm", "MR_small_RLE.dcm", "examples_rgb_color.dcm",
                          "examples_overlay.dcm", "rtdose.dcm", "rtplan.dcm"]

    private func copy(_ names: [String], into unit: String) throws {
        let folder = drop.appendingPathComponent(unit)
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        for name in names {
            try FileManager.default.copyItem(at: Self.testFiles.appendingPathComponent(name), to: folder.appendingPathComponent(name))
        }
    }

    private func configuration(extraColumns: [String] = [], options: [String] = []) -> WatchConfiguration {
        var configuration = WatchConfiguration(drop: drop, output: output, database: database,
                                               deidentification: DeidentificationConfiguration(defaultsIn: root), workers: 2)
        configuration.extraColumns = extraColumns
        configuration.deidentification.options = options
        return configuration
    }

    private func process(_ unit: String, _ configuration: WatchConfiguration, trigger: RunTrigger = .startup) async throws -> RunSummary {
        let ledger = try Ledger(path: database)
        return try await UnitProcessor(configuration: configuration, ledger: ledger, logger: Logger(label: "test")).process(unit: unit, trigger: trigger)
    }

    /// Every row of a table or view, as text, in a stable order.
    private func rows(_ sql: String) throws -> [[String]] {
        try DatabaseQueue(path: database.path).read { db in
            try Row.fetchAll(db, sql: sql).map { row in
                row.databaseValues.map { value in
                    switch value.storage {
                    case .null: "NULL"
                    case .int64(let number): "\(number)"
                    case .double(let number): "\(number)"
                    case .string(let text): text
                    case .blob(let bytes): "\(bytes)"
                    }
                }
            }
        }
    }

    private func sidecars() throws -> [[String: Any]] {
        let files = FileManager.default.enumerator(at: output, includingPropertiesForKeys: nil)?.compactMap { $0 as? URL } ?? []
        return try files.filter { $0.pathExtension == "json" }.map { url in
            try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
        }
    }

    private static func value(_ object: [String: Any], _ keyword: String) -> Any? {
        let tag = StandardDictionary.entry(forKeyword: keyword)!.tag
        return ((object[tag.jsonKey] as? [String: Any])?["Value"] as? [Any])?.first
    }

    @Test func everyListedAttributeIsADictionaryAttributeWithOneColumnInOneTable() {
        var seen: [String: String] = [:]
        for module in InformationModel.modules {
            for keyword in module.keywords {
                let entry = StandardDictionary.entry(forKeyword: keyword)
                #expect(entry != nil, "\(keyword) of \(module.name) is not in the dictionary")
                #expect(entry.flatMap(AttributeColumnKind.of) != nil, "\(keyword) is not one column's value")
                #expect(entry?.isRetired == false, "\(keyword) is retired")
                #expect(seen.updateValue(module.name, forKey: keyword) == nil, "\(keyword) listed twice")
            }
        }
        let catalog = MetadataCatalog()
        #expect(catalog.attributes.count == seen.count)
        let types = Dictionary(uniqueKeysWithValues: catalog.columns.map { ($0.name, $0.type) })
        #expect(types["Rows"] == .integer)
        #expect(types["PatientWeight"] == .real)
        #expect(types["ImageType"] == .text)        // JSON array
        #expect(types["StudyDate"] == .text)        // ISO 8601
        #expect(catalog.attributes.first { $0.keyword == "ViewPosition" }?.table == .instances)
        #expect(catalog.attributes.first { $0.keyword == "Laterality" }?.table == .series)
        #expect(catalog.attributes.first { $0.keyword == "StationName" }?.table == .devices)
        #expect(catalog.attributes.first { $0.keyword == "PatientAge" }?.table == .studies)
    }

    @Test func datesAndTimesBecomeISO8601AndWhatIsNotInTheStandardsFormStaysAsItIs() {
        #expect(ISO8601Text.date("20240115") == "2024-01-15")
        #expect(ISO8601Text.date("2024.01.15") == "2024-01-15")
        #expect(ISO8601Text.date("2024") == "2024")
        #expect(ISO8601Text.time("101530.25") == "10:15:30.25")
        #expect(ISO8601Text.time("1015") == "10:15")
        #expect(ISO8601Text.time("10") == "10")
        #expect(ISO8601Text.time("10:15:30") == "10:15:30")
        #expect(ISO8601Text.time("10153") == "10153")
        #expect(ISO8601Text.dateTime("20240115101530.25+0100") == "2024-01-15T10:15:30.25+01:00")
        #expect(ISO8601Text.dateTime("20240115-0500") == "2024-01-15-05:00")
        #expect(ISO8601Text.dateTime("202401") == "2024-01")
        #expect(ISO8601Text.dateTime("20240115T1015") == "20240115T1015")
        #expect(JSONArray.quoted("a\"b\\c\n\u{1}") == "\"a\\\"b\\\\c\\n\\u0001\"")
    }

    @Test func theTablesHoldTheDeidentifiedMetadataNormalizedWithForeignKeys() async throws {
        try copy(Self.sources, into: "batch")
        defer { try? FileManager.default.removeItem(at: root) }
        let summary = try await process("batch", configuration())
        #expect(summary.counts.new == Self.sources.count)

        let sidecars = try sidecars()
        #expect(sidecars.count == Self.sources.count)
        #expect(try rows("SELECT count(*) FROM instances") == [["\(sidecars.count)"]])
        #expect(try rows("SELECT count(*) FROM instance_overview") == [["\(sidecars.count)"]])
        func distinct(_ keyword: String) -> Int { Set(sidecars.compactMap { Self.value($0, keyword) as? String }).count }
        #expect(try rows("SELECT count(*) FROM patients") == [["\(distinct("PatientID"))"]])
        #expect(try rows("SELECT count(*) FROM studies") == [["\(distinct("StudyInstanceUID"))"]])
        #expect(try rows("SELECT count(*) FROM series") == [["\(distinct("SeriesInstanceUID"))"]])
        #expect(try rows("PRAGMA foreign_key_check") == [])
        #expect(try rows("SELECT count(*) FROM series WHERE \"StudyInstanceUID\" IS NULL OR device_id IS NULL") == [["0"]])

        // Typed values: integers, reals, JSON arrays, ISO dates; identifiers pseudonymized.
        let ct = try #require(sidecars.first { Self.value($0, "Modality") as? String == "CT" })
        let uid = try #require(Self.value(ct, "SOPInstanceUID") as? String)
        let overview = try rows("""
            SELECT typeof("Rows"), "Rows", typeof("SliceThickness"), "PixelSpacing", "ImageType", "PatientID", "Modality", bucket,
                json_array_length(outputs), "Manufacturer", "StationName", "DeviceSerialNumber"
            FROM instance_overview WHERE "SOPInstanceUID" = '\(uid)'
            """)
        #expect(overview == [["integer", "128", "real", "[0.661468,0.661468]", "[\"ORIGINAL\",\"PRIMARY\",\"AXIAL\"]",
                              try #require(Self.value(ct, "PatientID") as? String), "CT", "small", "2", "GE MEDICAL SYSTEMS",
                              try #require(Self.value(ct, "StationName") as? String), "NULL"]])
        #expect(try rows("SELECT count(*) FROM instance_overview WHERE \"PatientID\" = '1CT1' OR \"SOPInstanceUID\" LIKE '1.3.6.1.4.1.5962.%'") == [["0"]])
        #expect(try rows("SELECT count(*) FROM patients WHERE \"PatientID\" IN ('1CT1', '4MR1', '021234567')") == [["0"]])
        // The two MR files are one series of one study: one row each.
        #expect(try rows("SELECT count(DISTINCT \"SeriesInstanceUID\") FROM instance_overview WHERE \"Modality\" = 'MR' AND \"Manufacturer\" = 'TOSHIBA_MEC'") == [["1"]])
        // Under the basic profile the station name is a pseudonym, and the device serial
        // number (a pseudonym in the sidecar) is not kept.
        #expect(try rows("SELECT count(*) FROM devices WHERE \"DeviceSerialNumber\" IS NOT NULL") == [["0"]])
        #expect(try rows("SELECT count(*) FROM devices WHERE \"StationName\" IN ('CT01_OC0', '000000000', 'MRC25641', 'mvme22')") == [["0"]])
        #expect(try rows("SELECT count(DISTINCT \"StationName\") FROM devices") == [["\(distinct("StationName"))"]])
        // The RT plan has no pixels: an instance of the non-image bucket, without images.
        #expect(try rows("SELECT bucket, \"Rows\", json_array_length(outputs) FROM instance_overview WHERE \"Modality\" = 'RTPLAN'") == [["non-image", "NULL", "1"]])
    }

    @Test func theDeviceSerialNumberIsKeptOnlyUnderRetainDeviceIdentity() async throws {
        try copy(["examples_overlay.dcm"], into: "siemens")
        defer { try? FileManager.default.removeItem(at: root) }
        _ = try await process("siemens", configuration(options: ["retain_device_identity"]))
        #expect(try rows("SELECT \"DeviceSerialNumber\", \"StationName\", \"Manufacturer\" FROM devices") == [["25641", "MRC25641", "SIEMENS"]])
    }

    @Test func anInstanceDroppedAgainInAnotherFolderAddsASourcesRowAndChangesNoTableRow() async throws {
        try copy(["CT_small.dcm", "MR_small.dcm"], into: "first")
        try copy(["CT_small.dcm"], into: "second")
        defer { try? FileManager.default.removeItem(at: root) }
        _ = try await process("first", configuration())
        let tables = ["instance_overview", "patients", "studies", "series", "devices", "instances"]
        let before = try tables.map { try rows("SELECT * FROM \($0) ORDER BY 1") }
        let second = try await process("second", configuration())
        #expect(second.counts.duplicate == 1 && second.counts.new == 0)
        #expect(try tables.map { try rows("SELECT * FROM \($0) ORDER BY 1") } == before)
        #expect(try rows("SELECT count(*) FROM sources") == [["3"]])
    }

    @Test func reprocessUpdatesTheRowsInPlaceAndExtraColumnsAreAdded() async throws {
        try copy(["CT_small.dcm", "MR_small.dcm"], into: "study")
        defer { try? FileManager.default.removeItem(at: root) }
        _ = try await process("study", configuration())
        let names = try rows("SELECT sha256, name FROM instances ORDER BY 1")
        // With more columns and another profile option, the same instances' rows change.
        let again = try await process("study", configuration(extraColumns: ["ReconstructionDiameter", "EchoNumbers"],
                                                            options: ["retain_device_identity"]), trigger: .reprocess)
        #expect(again.counts.new == 2)
        #expect(try rows("SELECT sha256, name FROM instances ORDER BY 1") == names)
        let ct = try rows("SELECT typeof(\"ReconstructionDiameter\"), \"StationName\" FROM instance_overview WHERE \"Modality\" = 'CT'")
        #expect(ct == [["real", "CT01_OC0"]])
        let mr = try rows("SELECT \"EchoNumbers\" FROM instance_overview WHERE \"Modality\" = 'MR'")
        #expect(mr == [["[1]"]])
        // The devices as the first run saw them (without the station) are no one's now: gone.
        #expect(try rows("SELECT count(*) FROM devices") == [["2"]])
        #expect(try rows("PRAGMA foreign_key_check") == [])
    }

    /// A new ledger's empty tables are made again with all their columns at once; a ledger
    /// whose tables hold rows gets the columns one by one (ADD COLUMN). Both come out the
    /// same: columns, types and order, indexes, foreign keys, and the overview over them.
    @Test func aNewLedgersTablesComeOutAsAddingTheColumnsOneByOneMakesThem() throws {
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: root) }
        let columns = MetadataCatalog(extraColumns: ["ReconstructionDiameter"]).columns
        let rebuiltPath = root.appendingPathComponent("rebuilt.sqlite"), alteredPath = root.appendingPathComponent("altered.sqlite")
        try Ledger(path: rebuiltPath).prepareMetadataColumns(columns)
        let altered = try Ledger(path: alteredPath)
        try altered.pool.writeWithoutTransaction { db in
            // A row in every table (references left dangling on purpose): no table is empty.
            try db.execute(sql: """
                PRAGMA foreign_keys = OFF;
                INSERT INTO patients ("PatientID") VALUES ('p');
                INSERT INTO devices (id, device_key) VALUES (1, 'k');
                INSERT INTO studies ("StudyInstanceUID", "PatientID") VALUES ('st', 'p');
                INSERT INTO series ("SeriesInstanceUID", "StudyInstanceUID", device_id) VALUES ('se', 'st', 1);
                INSERT INTO instances (sha256, "SeriesInstanceUID", name) VALUES ('x', 'se', 'n');
                PRAGMA foreign_keys = ON;
                """)
        }
        try altered.prepareMetadataColumns(columns)
        func schema(_ path: URL) throws -> (shape: [String], definitions: [String]) {
            try DatabaseQueue(path: path.path).read { db in
                var shape: [String] = []
                for table in MetadataTable.allCases.map(\.rawValue) {
                    for sql in ["PRAGMA table_info(\(table))", "PRAGMA index_list(\(table))", "PRAGMA foreign_key_list(\(table))"] {
                        shape += try Row.fetchAll(db, sql: sql).map { "\(table): \($0)" }
                    }
                    for index in try String.fetchAll(db, sql: "SELECT name FROM pragma_index_list(?) ORDER BY name", arguments: [table]) {
                        shape += try Row.fetchAll(db, sql: "PRAGMA index_info(\(index.quotedDatabaseIdentifier))").map { "\(index): \($0)" }
                    }
                }
                shape += try String.fetchAll(db, sql: "SELECT sql FROM sqlite_master WHERE type = 'view' ORDER BY name")
                let definitions = try String.fetchAll(db, sql: """
                    SELECT sql FROM sqlite_master WHERE type = 'table' AND name IN ('patients', 'studies', 'series', 'devices', 'instances') ORDER BY name
                    """)
                return (shape, definitions)
            }
        }
        let rebuilt = try schema(rebuiltPath), added = try schema(alteredPath)
        #expect(rebuilt.shape.count > 150)
        let difference = zip(rebuilt.shape, added.shape).first { $0 != $1 }
        #expect(rebuilt.shape.count == added.shape.count && difference == nil,
                "\(rebuilt.shape.count) against \(added.shape.count) lines; first difference: \(String(describing: difference))")
        // Made two ways: the one-statement definitions are not ADD COLUMN's text.
        #expect(zip(rebuilt.definitions, added.definitions).allSatisfy { $0 != $1 })
    }

    /// A ledger made before the tables existed (migrations up to v4, rows as that version
    /// wrote them) is migrated in place, and its tables are filled from the JSON sidecars
    /// on disk with exactly the rows a run of this version makes from the datasets.
    @Test func anOldLedgerIsMigratedInPlaceAndFilledFromTheSidecars() async throws {
        try copy(Self.sources, into: "batch")
        defer { try? FileManager.default.removeItem(at: root) }
        _ = try await process("batch", configuration())
        let expected = try rows("SELECT * FROM instance_overview ORDER BY sha256")
        // Device ids are numbered in the order devices were met, which differs: compared by key.
        let tables = ["SELECT * FROM patients ORDER BY 1", "SELECT * FROM studies ORDER BY 1",
                      "SELECT s.*, d.device_key FROM series s LEFT JOIN devices d ON d.id = s.device_id ORDER BY 1",
                      "SELECT * FROM devices ORDER BY device_key"]
        func withoutDeviceIDs(_ tables: [[[String]]]) -> [[[String]]] {
            tables.enumerated().map { index, rows in
                switch index {
                case 2: rows.map { row in row.enumerated().filter { $0.offset != 2 }.map(\.element) }  // series.device_id
                case 3: rows.map { Array($0.dropFirst()) }                                          // devices.id
                default: rows
                }
            }
        }
        let expectedTables = withoutDeviceIDs(try tables.map(rows))

        let old = root.appendingPathComponent("old.sqlite")
        let queue = try DatabaseQueue(path: old.path)
        try Ledger.migrator.migrate(queue, upTo: "v4: unreadable files")
        try queue.inDatabase { db in
            try db.execute(sql: "ATTACH DATABASE ? AS new", arguments: [database.path])
            try db.execute(sql: """
                INSERT INTO main.contents SELECT sha256, outcome, reason, bucket, config_digest, unit, processed_at FROM new.contents
                """)
            try db.execute(sql: "INSERT INTO main.units SELECT * FROM new.units")
            // Runs gained the verdict's columns after v4.
            try db.execute(sql: """
                INSERT INTO main.runs SELECT id, unit, trigger, started_at, finished_at, files_seen, files_new, files_duplicate,
                    files_skipped, files_failed, outcome, error, pid FROM new.runs
                """)
            for table in ["sources", "outputs", "image_quality", "unreadable"] {
                try db.execute(sql: "INSERT INTO main.\(table) SELECT * FROM new.\(table)")
            }
            try db.execute(sql: "DETACH DATABASE new")
        }
        try queue.close()
        try FileManager.default.removeItem(at: database)
        try FileManager.default.moveItem(at: old, to: database)

        let ledger = try Ledger(path: database)
        let processor = try UnitProcessor(configuration: configuration(), ledger: ledger, logger: Logger(label: "test"))
        #expect(try rows("SELECT count(*) FROM instances") == [["0"]])
        try processor.fillMetadataTablesFromSidecars()
        #expect(try rows("SELECT * FROM instance_overview ORDER BY sha256") == expected)
        #expect(withoutDeviceIDs(try tables.map(rows)) == expectedTables)
        #expect(try rows("SELECT count(*) FROM sources") == [["\(Self.sources.count)"]])
        // A second start has nothing left to fill.
        #expect(try ledger.contentsWithoutMetadata(after: "", limit: 10).isEmpty)
    }

    @Test func csvIsRFC4180AndAnExportOfANewLedgerIsItsHeader() throws {
        #expect(DatasetExport.csvLine(["a", "b,c", "d\"e", "f\ng", ""]) == "a,\"b,c\",\"d\"\"e\",\"f\ng\",\r\n")
        // A CRLF is one Character, and so is a comma with a combining accent: both quoted.
        #expect(DatasetExport.csvLine(["h\r\ni", "j,\u{301}k", "é"]) == "\"h\r\ni\",\"j,\u{301}k\",é\r\n")
        #expect(DatasetExport.jsonLine(["ImageType", "Rows", "name", "x"], [.text("[\"A\",\"B\"]"), .integer(5), .text("n\"1"), nil],
                                       jsonColumns: ["ImageType"]) == "{\"ImageType\":[\"A\",\"B\"],\"Rows\":5,\"name\":\"n\\\"1\",\"x\":null}\n")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: root) }
        let lines = LockedBox<[String]>([])
        try DatasetExport.write(bucket: nil, from: try Ledger(path: database), format: .csv, extraColumns: []) { data in
            lines.value.append(String(decoding: data, as: UTF8.self))
        }
        #expect(lines.value.count == 1)
        #expect(lines.value.first?.hasPrefix("name,bucket,directory,reason,suboptimal,outputs,unit,processed_at,sha256,") == true)
    }
}
