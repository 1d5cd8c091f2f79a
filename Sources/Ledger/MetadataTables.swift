import GRDB
import Shared
import Synchronization

/// The metadata tables' columns, and the rows of each processed instance written in the
/// same transaction as its contents row.
///
/// Migration v5 creates the tables with their key columns only; the attribute columns are
/// the catalog's and watch.yaml's `extra_columns`, added by `prepareMetadataColumns` when
/// missing (never dropped: a column a configuration no longer names keeps its values).
extension Ledger {
    static func registerMetadataMigration(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v5: metadata tables") { db in
            try db.execute(sql: """
                -- A capacity-limited bucket's images are spread over directories (small,
                -- small-0002, ...): the one this content's outputs are in; NULL: the bucket's own.
                ALTER TABLE contents ADD COLUMN directory TEXT;
                CREATE TABLE patients ("PatientID" TEXT PRIMARY KEY);   -- pseudonymized
                CREATE TABLE devices (
                    id INTEGER PRIMARY KEY,
                    device_key TEXT NOT NULL UNIQUE                       -- the device columns' values, joined
                );
                CREATE TABLE studies (
                    "StudyInstanceUID" TEXT PRIMARY KEY,
                    "PatientID" TEXT REFERENCES patients("PatientID")
                );
                CREATE INDEX studies_by_patient ON studies("PatientID");
                CREATE TABLE series (
                    "SeriesInstanceUID" TEXT PRIMARY KEY,
                    "StudyInstanceUID" TEXT REFERENCES studies("StudyInstanceUID"),
                    device_id INTEGER REFERENCES devices(id)
                );
                CREATE INDEX series_by_study ON series("StudyInstanceUID");
                CREATE INDEX series_by_device ON series(device_id);
                CREATE TABLE instances (
                    sha256 TEXT PRIMARY KEY REFERENCES contents(sha256) ON DELETE CASCADE,
                    "SeriesInstanceUID" TEXT REFERENCES series("SeriesInstanceUID"),
                    name TEXT NOT NULL                                    -- <name>.png, <name>.json
                );
                CREATE INDEX instances_by_series ON instances("SeriesInstanceUID");
                """)
        }
    }

    /// Adds the columns the tables lack and makes `instance_overview` again over every
    /// column the tables have. Call once at start-up, before any run. Another process (a
    /// `--reprocess` beside the daemon) may add the same column at the same moment: the
    /// loser's attempt then fails on "duplicate column name" and the next finds it done.
    public func prepareMetadataColumns(_ columns: [MetadataColumn]) throws(LedgerError) {
        do {
            try Self.retryingLostSchemaRaces {
                try pool.write { db in
                    for table in MetadataTable.allCases {
                        var known = Set(try Self.columnNames(of: table, in: db).map { $0.lowercased() })
                        let missing = columns.filter { $0.table == table && known.insert($0.name.lowercased()).inserted }
                        guard !missing.isEmpty else { continue }
                        if try Self.rebuildEmptyTable(table, adding: missing, in: db) { continue }
                        for column in missing {
                            try db.execute(sql: "ALTER TABLE \(table.rawValue) ADD COLUMN \(column.name.quotedDatabaseIdentifier) \(column.type.rawValue)")
                        }
                    }
                    if try Self.columnNames(of: .instances, in: db).contains("SOPInstanceUID") {
                        // Labels find their image by UID (`refreshAnnotations`).
                        try db.execute(sql: #"CREATE INDEX IF NOT EXISTS instances_by_sop_instance_uid ON instances("SOPInstanceUID")"#)
                    }
                    try Self.createOverview(db)
                }
            }
        } catch {
            throw .database("\(error)")
        }
        try loadMetadataColumns()
    }

    /// A table without rows (a new ledger's) made again with its missing columns in one
    /// CREATE TABLE, its indexes and triggers after it: SQLite reads its whole schema again
    /// after every ADD COLUMN, and a new ledger's 140 columns took about 47 ms of a start-up
    /// that way. The columns come out in the order ADD COLUMN gives. False, with nothing
    /// changed, when the table has rows or its definition does not end in its column list's
    /// parenthesis: the caller adds the columns one by one then.
    static func rebuildEmptyTable(_ table: MetadataTable, adding missing: [MetadataColumn], in db: Database) throws -> Bool {
        guard try Bool.fetchOne(db, sql: "SELECT NOT EXISTS (SELECT 1 FROM \(table.rawValue))") == true,
              let definition = try String.fetchOne(db, sql: "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?",
                                                   arguments: [table.rawValue]),
              let close = definition.lastIndex(of: ")"),
              definition[definition.index(after: close)...].allSatisfy(\.isWhitespace) else { return false }
        let dependents = try String.fetchAll(db, sql: """
            SELECT sql FROM sqlite_master WHERE type IN ('index', 'trigger') AND tbl_name = ? AND sql IS NOT NULL ORDER BY rowid
            """, arguments: [table.rawValue])
        let added = missing.map { "\($0.name.quotedDatabaseIdentifier) \($0.type.rawValue)" }.joined(separator: ", ")
        // On a new line: the definition's last line may end in a comment.
        let rebuilt = String(definition[..<close]) + "\n, " + added + ")"
        do {
            try db.inSavepoint {
                try db.execute(sql: "DROP TABLE \(table.rawValue)")
                try db.execute(sql: rebuilt)
                for statement in dependents { try db.execute(sql: statement) }
                return .commit
            }
            return true
        } catch {
            // Anything unforeseen (a foreign key another table's rows hold): added one by one.
            return false
        }
    }

    /// Reads the tables' columns, which the record statements name.
    func loadMetadataColumns() throws(LedgerError) {
        let columns = try read { db in
            try MetadataTable.allCases.map { table in (table, try Self.columnNames(of: table, in: db)) }
        }
        let writer = MetadataRowWriter(layout: MetadataLayout(columns: Dictionary(uniqueKeysWithValues: columns)))
        metadataWriter.withLock { $0 = writer }
    }

    /// The columns the rows of `InstanceMetadata` are laid out by.
    public func metadataLayout() -> MetadataLayout {
        metadataWriter.withLock { $0.layout }
    }

    static func columnNames(of table: MetadataTable, in db: Database) throws -> [String] {
        try Row.fetchAll(db, sql: "PRAGMA table_info(\(table.rawValue))").map { $0["name"] }
    }

    /// `instance_overview`: one row per instance with its bucket, directory, reason,
    /// outputs, and the columns of its series, study, patient and device (each attribute
    /// once, under its keyword).
    static func createOverview(_ db: Database) throws {
        var seen: Set<String> = ["sha256", "name", "device_id", "device_key", "id", "labels", "boxes", "held_by_run"]
        var selected: [String] = []
        for (alias, table) in [("i", MetadataTable.instances), ("se", .series), ("st", .studies), ("p", .patients), ("d", .devices)] {
            for column in try columnNames(of: table, in: db) where seen.insert(column.lowercased()).inserted {
                selected.append("\(alias).\(column.quotedDatabaseIdentifier)")
            }
        }
        try db.execute(sql: """
            DROP VIEW IF EXISTS instance_overview;
            CREATE VIEW instance_overview AS
            SELECT i.name AS name, c.bucket AS bucket, coalesce(c.directory, c.bucket) AS directory, c.reason AS reason,
                (SELECT max(q.suboptimal) FROM image_quality q WHERE q.sha256 = i.sha256) AS suboptimal,
                (SELECT json_group_array(path) FROM (SELECT o.path FROM outputs o WHERE o.sha256 = i.sha256 ORDER BY o.path)) AS outputs,
                c.unit AS unit, c.processed_at AS processed_at, i.sha256 AS sha256,
                (SELECT group_concat(label, ';') FROM (SELECT DISTINCT a.label FROM annotations a
                    WHERE a.instance = i.sha256 AND a.withdrawn_at IS NULL ORDER BY a.label)) AS labels,
                (SELECT count(*) FROM annotations a JOIN boxes b ON b.annotation = a.id
                    WHERE a.instance = i.sha256 AND a.withdrawn_at IS NULL) AS boxes,
                c.held_by_run AS held_by_run,
                \(selected.joined(separator: ", "))
            FROM instances i
            JOIN contents c ON c.sha256 = i.sha256
            LEFT JOIN series se ON se."SeriesInstanceUID" = i."SeriesInstanceUID"
            LEFT JOIN studies st ON st."StudyInstanceUID" = se."StudyInstanceUID"
            LEFT JOIN patients p ON p."PatientID" = st."PatientID"
            LEFT JOIN devices d ON d.id = se.device_id;
            """)
        try createImagesView(db)
    }

    /// Removes the devices, series, studies and patients no instance leads to any more: a
    /// reprocess under other options (device identity kept, UIDs retained) gives its
    /// instances other rows, and the old ones must not count as data.
    public func removeOrphanedMetadata() throws(LedgerError) {
        try write { db in
            try db.execute(sql: """
                DELETE FROM series WHERE NOT EXISTS (SELECT 1 FROM instances i WHERE i."SeriesInstanceUID" = series."SeriesInstanceUID");
                DELETE FROM devices WHERE NOT EXISTS (SELECT 1 FROM series s WHERE s.device_id = devices.id);
                DELETE FROM studies WHERE NOT EXISTS (SELECT 1 FROM series s WHERE s."StudyInstanceUID" = studies."StudyInstanceUID");
                DELETE FROM patients WHERE NOT EXISTS (SELECT 1 FROM studies s WHERE s."PatientID" = patients."PatientID");
                """)
        }
    }

    // MARK: Filling the tables of a ledger that predates them

    /// Processed contents without an instance row, with their JSON sidecar (relative to the
    /// output directory): what a ledger made before the metadata tables holds.
    /// `after`: the last hash of the previous page (a sidecar that cannot be read leaves its
    /// content without rows, and must not be handed out again).
    public func contentsWithoutMetadata(after: String, limit: Int) throws(LedgerError) -> [(sha256: String, sidecar: String)] {
        try read { db in
            try Row.fetchAll(db, sql: """
                SELECT c.sha256, min(o.path) AS sidecar FROM contents c JOIN outputs o ON o.sha256 = c.sha256
                WHERE c.sha256 > ? AND c.outcome = 'processed' AND o.path LIKE '%.json'
                    AND NOT EXISTS (SELECT 1 FROM instances i WHERE i.sha256 = c.sha256)
                    AND NOT EXISTS (SELECT 1 FROM plain_images p WHERE p.sha256 = c.sha256)
                GROUP BY c.sha256 ORDER BY c.sha256 LIMIT ?
                """, arguments: [after, limit]).map { (sha256: $0["sha256"], sidecar: $0["sidecar"]) }
        }
    }

    /// Writes the rows of instances read back from their sidecars, in one transaction.
    public func recordMetadata(_ instances: [(sha256: String, metadata: InstanceMetadata)]) throws(LedgerError) {
        let writer = metadataWriter.withLock { $0 }
        try write { db in
            var written = MetadataRowWriter.WrittenRows()
            for instance in instances {
                try writer.record(instance.metadata, sha256: instance.sha256, in: db, written: &written)
            }
        }
    }
}

// MARK: Reading the joined metadata

extension Ledger {
    /// What to read of `instance_overview`.
    public enum OverviewSelection: Sendable {
        /// Every instance, or those of one bucket.
        case instances(bucket: String?)
        /// A bucket directory's manifest: its images in name order, with their first
        /// frame's quality features and the number of PNGs.
        case manifest(directory: String)
    }

    /// Calls `body` with the column names once, then with each row's values, without holding
    /// every row in memory (an export of the whole ledger).
    public func forEachOverviewRow(_ selection: OverviewSelection,
                                   _ body: @Sendable ([String], [MetadataValue?]) throws -> Void) throws(LedgerError) {
        let features = QualityFeatureNames.all.map { "q.\($0.quotedDatabaseIdentifier)" }.joined(separator: ", ")
        let (sql, arguments): (String, StatementArguments) = switch selection {
        case .instances(nil): ("SELECT * FROM instance_overview ORDER BY directory, name", [])
        case .instances(let bucket?): ("SELECT * FROM instance_overview WHERE bucket = ? ORDER BY directory, name", [bucket])
        case .manifest(let directory):
            ("""
            SELECT o.name,
                (SELECT group_concat(file, ';') FROM (SELECT substr(p.path, length(o.directory) + 2) AS file FROM outputs p
                    WHERE p.sha256 = o.sha256 ORDER BY p.path)) AS files,
                o."StudyInstanceUID", o."SeriesInstanceUID", o."SOPInstanceUID", o."Modality",
                o."ViewPosition", o."Rows", o."Columns",
                (SELECT count(*) FROM image_quality f WHERE f.sha256 = o.sha256) AS frames,
                o.suboptimal, q.model_score, \(features), o.bucket, o.reason, o.labels
            FROM instance_overview o LEFT JOIN image_quality q ON q.sha256 = o.sha256 AND q.frame = 1
            WHERE o.directory = ? ORDER BY o.name
            """, [directory])
        }
        try read { db in
            let statement = try db.makeStatement(sql: sql)
            try body(statement.columnNames, [])
            let cursor = try Row.fetchCursor(statement, arguments: arguments)
            while let row = try cursor.next() {
                try body([], row.databaseValues.map(MetadataValue.fromDatabaseValue))
            }
        }
    }

    /// The directories that hold outputs of processed images: a bucket's own, and those of
    /// capacity-limited buckets.
    public func outputDirectories() throws(LedgerError) -> [String] {
        try read { db in
            try String.fetchAll(db, sql: """
                SELECT DISTINCT coalesce(directory, bucket) FROM contents WHERE bucket IS NOT NULL AND outcome = 'processed' ORDER BY 1
                """)
        }
    }
}

extension MetadataValue: DatabaseValueConvertible {
    public var databaseValue: DatabaseValue {
        switch self {
        case .text(let text): text.databaseValue
        case .integer(let number): number.databaseValue
        case .real(let number): number.databaseValue
        }
    }

    /// nil for NULL (and for a blob, which no metadata column holds).
    public static func fromDatabaseValue(_ value: DatabaseValue) -> MetadataValue? {
        switch value.storage {
        case .null, .blob: nil
        case .int64(let number): .integer(number)
        case .double(let number): .real(number)
        case .string(let text): .text(text)
        }
    }
}

/// Writes an instance's rows with one statement per table, built once for the layout: an
/// upsert on the table's key that sets every column (a reprocessed instance's rows are
/// replaced in place, absent values becoming NULL).
struct MetadataRowWriter: Sendable {
    let layout: MetadataLayout
    private let statements: [String]
    /// Positions of the key and link columns in each table's row.
    private let patientKey, studyKey, studyPatient, seriesKey, seriesStudy, seriesDevice: Int?
    private let deviceID, deviceKey, instanceKey, instanceSeries, instanceName: Int?

    init(layout: MetadataLayout) {
        self.layout = layout
        statements = MetadataTable.allCases.map { table in
            let names = layout.columns[table.index]
            guard !names.isEmpty else { return "" }
            let key = table.keyColumn
            let assignments = names.filter { $0 != key && $0 != "id" }
                .map { "\($0.quotedDatabaseIdentifier) = excluded.\($0.quotedDatabaseIdentifier)" }
            return """
                INSERT INTO \(table.rawValue) (\(names.map(\.quotedDatabaseIdentifier).joined(separator: ", ")))
                VALUES (\(Array(repeating: "?", count: names.count).joined(separator: ", ")))
                ON CONFLICT(\(key.quotedDatabaseIdentifier)) DO \(assignments.isEmpty ? "NOTHING" : "UPDATE SET " + assignments.joined(separator: ", "))
                """
        }
        patientKey = layout.position(of: "PatientID", in: .patients)
        studyKey = layout.position(of: "StudyInstanceUID", in: .studies)
        studyPatient = layout.position(of: "PatientID", in: .studies)
        seriesKey = layout.position(of: "SeriesInstanceUID", in: .series)
        seriesStudy = layout.position(of: "StudyInstanceUID", in: .series)
        seriesDevice = layout.position(of: "device_id", in: .series)
        deviceID = layout.position(of: "id", in: .devices)
        deviceKey = layout.position(of: "device_key", in: .devices)
        instanceKey = layout.position(of: "sha256", in: .instances)
        instanceSeries = layout.position(of: "SeriesInstanceUID", in: .instances)
        instanceName = layout.position(of: "name", in: .instances)
    }

    init() { self.init(layout: MetadataLayout(columns: [:])) }

    /// The rows one transaction has already written, so that the instances of one series
    /// write their patient, study, series and device once: an upsert of the very row the
    /// table already holds changes nothing, and a batch of a series' slices asked SQLite
    /// for the same four upserts (and the device's id) file after file. Valid for one
    /// transaction only: outside it another writer (a `--reprocess`, the orphan cleanup)
    /// may have changed the rows.
    struct WrittenRows {
        /// Per table (by `MetadataTable.index`), the key's last row as written.
        fileprivate var rows: [[String: [MetadataValue?]]] = Array(repeating: [:], count: MetadataTable.allCases.count)
        /// The device id of each device key written.
        fileprivate var deviceIDs: [String: Int64?] = [:]
        init() {}
    }

    func record(_ metadata: InstanceMetadata, sha256: String, in db: Database, written: inout WrittenRows) throws {
        guard metadata.rows.count == MetadataTable.allCases.count else { return }
        var rows = metadata.rows
        func text(_ table: MetadataTable, _ position: Int?) -> String? {
            guard let position, position < rows[table.index].count, case .text(let value)? = rows[table.index][position] else { return nil }
            return value
        }
        func set(_ table: MetadataTable, _ position: Int?, _ value: MetadataValue?) {
            if let position, position < rows[table.index].count { rows[table.index][position] = value }
        }
        func upsert(_ table: MetadataTable) throws {
            let sql = statements[table.index]
            guard !sql.isEmpty else { return }
            try db.cachedStatement(sql: sql).execute(binding: rows[table.index])
        }
        /// Upserts the row of `table` under `key` unless this transaction already wrote
        /// that very row; true when it was written now.
        @discardableResult
        func upsertOnce(_ table: MetadataTable, key: String) throws -> Bool {
            if written.rows[table.index][key] == rows[table.index] { return false }
            try upsert(table)
            written.rows[table.index][key] = rows[table.index]
            return true
        }
        let patient = text(.patients, patientKey)
        if let patient { try upsertOnce(.patients, key: patient) }
        var device: Int64?
        let deviceValues = rows[MetadataTable.devices.index].enumerated().compactMap { position, value in
            value.map { (layout.columns[MetadataTable.devices.index][position], $0) }
        }
        if !deviceValues.isEmpty {
            let key = deviceValues.map { name, value in "\(name)=\(value.text)" }.joined(separator: "|")
            set(.devices, deviceKey, .text(key))
            set(.devices, deviceID, nil)
            if try upsertOnce(.devices, key: key) || written.deviceIDs[key] == nil {
                device = try Int64.fetchOne(db.cachedStatement(sql: "SELECT id FROM devices WHERE device_key = ?"), arguments: [key])
                written.deviceIDs[key] = device
            } else {
                device = written.deviceIDs[key] ?? nil
            }
        }
        let study = text(.studies, studyKey)
        if let study {
            set(.studies, studyPatient, patient.map(MetadataValue.text))
            try upsertOnce(.studies, key: study)
        }
        let series = text(.series, seriesKey)
        if let series {
            set(.series, seriesStudy, study.map(MetadataValue.text))
            set(.series, seriesDevice, device.map(MetadataValue.integer))
            try upsertOnce(.series, key: series)
        }
        set(.instances, instanceKey, .text(sha256))
        set(.instances, instanceSeries, series.map(MetadataValue.text))
        set(.instances, instanceName, .text(metadata.name))
        try upsert(.instances)
    }
}

extension MetadataTable {
    /// The column a row is found again by (each table's primary key, devices' by its values).
    var keyColumn: String {
        switch self {
        case .patients: "PatientID"
        case .studies: "StudyInstanceUID"
        case .series: "SeriesInstanceUID"
        case .devices: "device_key"
        case .instances: "sha256"
        }
    }
}
