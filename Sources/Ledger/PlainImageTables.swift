import Foundation
import GRDB
import Shared

/// A PNG or JPEG file of a plain image dataset (table `plain_images`): what it is, and the
/// row of its `metadata.csv`, kept as given.
public struct PlainImageRecord: Sendable, Equatable {
    /// The output name: `<name>.png`, `<name>.json`.
    public var name: String
    /// `png` or `jpeg`.
    public var kind: String
    /// The file, relative to the drop directory (its first path).
    public var source: String
    public var width: Int
    public var height: Int
    /// Of the decoded samples: 8 or 16.
    public var bitDepth: Int
    /// `gray`, `gray+alpha`, `rgb` or `rgba`.
    public var color: String
    /// The row: its file (relative to the drop directory), its line, and its columns as one
    /// JSON object of strings in the header's order; all nil for an image no row names.
    public var row: PlainImageRow?

    public init(name: String, kind: String, source: String, width: Int, height: Int, bitDepth: Int, color: String, row: PlainImageRow?) {
        self.name = name
        self.kind = kind
        self.source = source
        self.width = width
        self.height = height
        self.bitDepth = bitDepth
        self.color = color
        self.row = row
    }
}

/// Where a plain image's metadata came from: a `metadata.csv` row. Two are equal when the
/// file, the line and every value are: a changed CSV gives its images other rows.
public struct PlainImageRow: Sendable, Equatable, Hashable {
    public var csv: String
    public var line: Int
    /// A JSON object of strings, keys in the header's order.
    public var columns: String

    public init(csv: String, line: Int, columns: String) {
        self.csv = csv
        self.line = line
        self.columns = columns
    }
}

/// Something wrong between a `metadata.csv` and the images beside it (table
/// `plain_image_problems`), replaced at every run of its unit.
public struct PlainImageProblem: Sendable, Equatable, Codable {
    public enum Kind: String, Sendable, Codable {
        /// A row names an image that is not there.
        case missingImage = "missing_image"
        /// An image file no row names (processed all the same, without columns).
        case extraImage = "extra_image"
        /// A second row names an image a row before it names (the first is used).
        case duplicateRow = "duplicate_row"
        /// The CSV cannot be read (quoting, encoding, header): its images have no columns.
        case badCSV = "bad_csv"
    }

    public var unit: String
    public var kind: Kind
    /// The image as the row names it (missing), its path (extra), or the CSV's (bad CSV).
    public var name: String
    public var csv: String?
    public var line: Int?
    public var detail: String

    public init(unit: String, kind: Kind, name: String, csv: String?, line: Int?, detail: String) {
        self.unit = unit
        self.kind = kind
        self.name = name
        self.csv = csv
        self.line = line
        self.detail = detail
    }
}

/// A plain image as the manifests and `dicomdrop export` print it: the values of the columns
/// it shares with `instance_overview` and the manifests (`name`, `bucket`, `Rows`, quality
/// features ...) by name, and its CSV columns in order.
public struct PlainImageExportRow: Sendable {
    public var values: [String: MetadataValue]
    public var columns: [(name: String, value: String)]
}

extension Ledger {
    static func registerPlainImagesMigration(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v9: plain images") { db in
            try db.execute(sql: """
                CREATE TABLE plain_images (
                    sha256 TEXT PRIMARY KEY REFERENCES contents(sha256) ON DELETE CASCADE,
                    name TEXT NOT NULL,                 -- <name>.png, <name>.json
                    kind TEXT NOT NULL,                 -- png | jpeg
                    source TEXT NOT NULL,               -- relative to the drop directory
                    width INTEGER NOT NULL,
                    height INTEGER NOT NULL,
                    bit_depth INTEGER NOT NULL,
                    color TEXT NOT NULL,                -- gray | gray+alpha | rgb | rgba
                    csv TEXT,                           -- the metadata.csv naming it; NULL: no row does
                    csv_line INTEGER,
                    columns TEXT                        -- the row as a JSON object, header order
                );
                CREATE INDEX plain_images_by_source ON plain_images(source);
                CREATE TABLE plain_image_problems (
                    unit TEXT NOT NULL,
                    kind TEXT NOT NULL,                 -- missing_image | extra_image | duplicate_row | bad_csv
                    name TEXT NOT NULL,
                    csv TEXT,
                    line INTEGER,
                    detail TEXT NOT NULL,
                    found_at TEXT NOT NULL,
                    PRIMARY KEY (unit, kind, name)
                );
                """)
        }
    }

    /// Writes (or removes) the `plain_images` row of one content, in `record`'s transaction.
    static func recordPlainImage(of content: ContentRecord, in db: Database) throws {
        guard let image = content.plainImage else {
            try db.cachedStatement(sql: "DELETE FROM plain_images WHERE sha256 = ?").execute(arguments: [content.sha256])
            return
        }
        try db.cachedStatement(sql: """
            INSERT OR REPLACE INTO plain_images (sha256, name, kind, source, width, height, bit_depth, color, csv, csv_line, columns)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """).execute(arguments: [content.sha256, image.name, image.kind, image.source, image.width, image.height, image.bitDepth,
                                     image.color, image.row?.csv, image.row?.line, image.row?.columns])
    }

    /// `images`: DICOM instances (`instance_overview`) and plain images in one view. Made
    /// again with `instance_overview`, whose columns it reads.
    static func createImagesView(_ db: Database) throws {
        try db.execute(sql: """
            DROP VIEW IF EXISTS images;
            CREATE VIEW images AS
            SELECT o.name AS name, 'dicom' AS kind, o.bucket AS bucket, o.directory AS directory, o.reason AS reason,
                o.suboptimal AS suboptimal, o.outputs AS outputs, o.unit AS unit, o.processed_at AS processed_at, o.sha256 AS sha256,
                o."Rows" AS rows, o."Columns" AS columns, NULL AS source, NULL AS metadata
            FROM instance_overview o
            UNION ALL
            SELECT p.name, p.kind, c.bucket, coalesce(c.directory, c.bucket), c.reason,
                (SELECT max(q.suboptimal) FROM image_quality q WHERE q.sha256 = p.sha256),
                (SELECT json_group_array(path) FROM (SELECT o.path FROM outputs o WHERE o.sha256 = p.sha256 ORDER BY o.path)),
                c.unit, c.processed_at, p.sha256, p.height, p.width, p.source, p.columns
            FROM plain_images p JOIN contents c ON c.sha256 = p.sha256;
            """)
    }

    /// The CSV row each plain image of the unit was processed with, by source path (nil:
    /// no row named it): a changed `metadata.csv` reprocesses the images whose row changed.
    public func plainImageRows(inUnit unit: String) throws(LedgerError) -> [String: PlainImageRow?] {
        try read { db in
            var rows: [String: PlainImageRow?] = [:]
            for row in try Row.fetchAll(db, sql: """
                SELECT s.path, p.csv, p.csv_line, p.columns FROM sources s JOIN plain_images p ON p.sha256 = s.sha256 WHERE s.unit = ?
                """, arguments: [unit]) {
                let csv: String? = row["csv"], line: Int? = row["csv_line"], columns: String? = row["columns"]
                if let csv, let line, let columns {
                    rows[row["path"]] = PlainImageRow(csv: csv, line: line, columns: columns)
                } else {
                    rows[row["path"]] = .some(nil)
                }
            }
            return rows
        }
    }

    /// Replaces the unit's problems with `problems` (none: the unit has none left).
    public func replacePlainImageProblems(inUnit unit: String, with problems: [PlainImageProblem]) throws(LedgerError) {
        let now = Self.timestamp(Date())
        try write { db in
            try db.execute(sql: "DELETE FROM plain_image_problems WHERE unit = ?", arguments: [unit])
            let insert = try db.cachedStatement(sql: """
                INSERT OR IGNORE INTO plain_image_problems (unit, kind, name, csv, line, detail, found_at) VALUES (?, ?, ?, ?, ?, ?, ?)
                """)
            for problem in problems {
                try insert.execute(arguments: [problem.unit, problem.kind.rawValue, problem.name, problem.csv, problem.line, problem.detail, now])
            }
        }
    }

    /// Every unit's problems, by unit, kind and name.
    public func plainImageProblems() throws(LedgerError) -> [PlainImageProblem] {
        try read { db in
            guard try db.tableExists("plain_image_problems") else { return [] }
            return try Row.fetchAll(db, sql: "SELECT * FROM plain_image_problems ORDER BY unit, kind, name").compactMap { row in
                guard let kind = PlainImageProblem.Kind(rawValue: row["kind"]) else { return nil }
                return PlainImageProblem(unit: row["unit"], kind: kind, name: row["name"], csv: row["csv"], line: row["line"], detail: row["detail"])
            }
        }
    }

    /// The plain images of `selection` (a bucket's, a directory's, or all), in directory and
    /// name order, with what the manifests and the export print of them.
    public func plainImageExportRows(_ selection: OverviewSelection) throws(LedgerError) -> [PlainImageExportRow] {
        let features = QualityFeatureNames.all.map { "q.\($0.quotedDatabaseIdentifier)" }.joined(separator: ", ")
        let (filter, arguments): (String, StatementArguments) = switch selection {
        case .instances(nil): ("", [])
        case .instances(let bucket?): ("WHERE c.bucket = ?", [bucket])
        case .manifest(let directory): ("WHERE coalesce(c.directory, c.bucket) = ?", [directory])
        }
        return try read { db in
            guard try db.tableExists("plain_images") else { return [] }
            let statement = try db.makeStatement(sql: """
                SELECT p.name AS name, p.kind AS kind,
                    -- Within its unit: the outputs leave the drop's folder names to the ledger.
                    CASE WHEN instr(p.source, '/') > 0 THEN substr(p.source, instr(p.source, '/') + 1) ELSE p.source END AS source,
                    c.bucket AS bucket,
                    coalesce(c.directory, c.bucket) AS directory, c.reason AS reason,
                    (SELECT max(f.suboptimal) FROM image_quality f WHERE f.sha256 = p.sha256) AS suboptimal,
                    (SELECT json_group_array(path) FROM (SELECT o.path FROM outputs o WHERE o.sha256 = p.sha256 ORDER BY o.path)) AS outputs,
                    (SELECT group_concat(file, ';') FROM (SELECT substr(o.path, length(coalesce(c.directory, c.bucket)) + 2) AS file
                        FROM outputs o WHERE o.sha256 = p.sha256 ORDER BY o.path)) AS files,
                    (SELECT count(*) FROM image_quality f WHERE f.sha256 = p.sha256) AS frames,
                    c.unit AS unit, c.processed_at AS processed_at, p.sha256 AS sha256, p.height AS "Rows", p.width AS "Columns",
                    q.model_score AS model_score, \(features), p.columns AS csv_columns
                FROM plain_images p JOIN contents c ON c.sha256 = p.sha256
                LEFT JOIN image_quality q ON q.sha256 = p.sha256 AND q.frame = 1
                \(filter) ORDER BY directory, p.name
                """)
            let names = statement.columnNames
            let members = try db.cachedStatement(sql: "SELECT key, value FROM json_each(?) ORDER BY id")
            var rows: [PlainImageExportRow] = []
            let cursor = try Row.fetchCursor(statement, arguments: arguments)
            while let row = try cursor.next() {
                var values: [String: MetadataValue] = [:]
                for (name, value) in zip(names, row.databaseValues) where name != "csv_columns" {
                    if let value = MetadataValue.fromDatabaseValue(value) { values[name] = value }
                }
                var columns: [(name: String, value: String)] = []
                if let json: String = row["csv_columns"] {
                    for member in try Row.fetchAll(members, arguments: [json]) {
                        columns.append((member["key"], member["value"] ?? ""))
                    }
                }
                rows.append(PlainImageExportRow(values: values, columns: columns))
            }
            return rows
        }
    }
}
