import Foundation
import GRDB

/// One label read from an annotation file: which image it is about, the label, and an
/// optional box. The image is named by its SOP Instance UID as the outputs carry it
/// (pseudonymized; an original UID never reaches the ledger) or by its output name.
public struct AnnotationRecord: Sendable, Equatable {
    /// Where in its file: the CSV line, or the JSON list item (both from 1).
    public var line: Int
    public var sopInstanceUID: String?
    public var image: String?
    public var label: String
    /// Which frame (from 1) of a multi-frame image; nil: the image, or its only frame.
    public var frame: Int?
    public var annotator: String?
    public var confidence: Double?
    /// Who or what labelled it: `radiologist`, `model:retinanet-v3`.
    public var source: String?
    public var box: Box?
    /// The row's other columns, as a JSON object.
    public var extra: String?

    public struct Box: Sendable, Equatable {
        public enum Units: String, Sendable {
            /// Pixels of the rendered image.
            case pixels
            /// Shares (0-1) of its width and height.
            case normalized
        }

        public var x, y, width, height: Double
        public var units: Units

        public init(x: Double, y: Double, width: Double, height: Double, units: Units) {
            self.x = x
            self.y = y
            self.width = width
            self.height = height
            self.units = units
        }
    }

    public init(line: Int, sopInstanceUID: String?, image: String?, label: String, frame: Int? = nil, annotator: String? = nil,
                confidence: Double? = nil, source: String? = nil, box: Box? = nil, extra: String? = nil) {
        self.line = line
        self.sopInstanceUID = sopInstanceUID
        self.image = image
        self.label = label
        self.frame = frame
        self.annotator = annotator
        self.confidence = confidence
        self.source = source
        self.box = box
        self.extra = extra
    }
}

/// A row of an annotation file that could not be read as a label.
public struct AnnotationProblem: Error, Sendable, Equatable {
    public var line: Int
    public var reason: String

    public init(line: Int, reason: String) {
        self.line = line
        self.reason = reason
    }
}

/// What one annotation file held.
public struct AnnotationFile: Sendable, Equatable {
    public var labels: [AnnotationRecord]
    public var problems: [AnnotationProblem]

    public init(labels: [AnnotationRecord], problems: [AnnotationProblem]) {
        self.labels = labels
        self.problems = problems
    }
}

/// Labels and boxes (tables `annotations`, `boxes`, `annotation_problems`). Rows belong to
/// the content of the file that carried them: a changed file is new content whose rows
/// arrive beside the old ones, and rows whose file no path of the drop holds any more are
/// marked withdrawn, never deleted (labels are history). A label is tied to its instance
/// when the image is known, whichever arrived first.
extension Ledger {
    static func registerValidationMigration(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v8: annotations and expectations") { db in
            try db.execute(sql: """
                CREATE TABLE annotations (
                    id INTEGER PRIMARY KEY,
                    file_sha256 TEXT NOT NULL,      -- the annotation file's content
                    line INTEGER NOT NULL,          -- CSV line or JSON item, from 1
                    instance TEXT REFERENCES instances(sha256) ON DELETE SET NULL,  -- NULL: its image is not known yet
                    sop_instance_uid TEXT,          -- as the outputs carry it (pseudonymized)
                    image TEXT,                     -- the output name given instead
                    label TEXT NOT NULL,
                    frame INTEGER,
                    annotator TEXT,
                    confidence REAL,
                    source TEXT,
                    extra TEXT,                     -- unknown columns, a JSON object
                    recorded_at TEXT NOT NULL,
                    withdrawn_at TEXT               -- set when no dropped file holds its content any more
                );
                CREATE INDEX annotations_by_file ON annotations(file_sha256);
                CREATE INDEX annotations_by_instance ON annotations(instance);
                CREATE TABLE boxes (
                    annotation INTEGER PRIMARY KEY REFERENCES annotations(id) ON DELETE CASCADE,
                    x REAL NOT NULL, y REAL NOT NULL, width REAL NOT NULL, height REAL NOT NULL,
                    units TEXT NOT NULL             -- pixels, normalized
                );
                CREATE TABLE annotation_problems (
                    file_sha256 TEXT NOT NULL,
                    line INTEGER NOT NULL,
                    reason TEXT NOT NULL
                );
                CREATE INDEX annotation_problems_by_file ON annotation_problems(file_sha256);

                ALTER TABLE runs ADD COLUMN verdict TEXT;           -- passed, failed_validation; NULL: not validated
                ALTER TABLE runs ADD COLUMN released_at TEXT;       -- when its held images were released
                ALTER TABLE contents ADD COLUMN held_by_run INTEGER; -- the run whose failed validation holds its images
                ALTER TABLE contents ADD COLUMN awaiting_validation INTEGER; -- 1: recorded, not yet checked by expectations
                CREATE TABLE expectation_results (
                    run INTEGER NOT NULL REFERENCES runs(id),
                    rule TEXT NOT NULL,
                    kind TEXT NOT NULL,             -- required, regex, in, range, unique, unique_within, row_count, meta
                    severity TEXT NOT NULL,         -- warn, error
                    checked INTEGER NOT NULL,
                    failed INTEGER NOT NULL,
                    examples TEXT NOT NULL,         -- up to 20 failing instance names, a JSON array
                    passed INTEGER NOT NULL,
                    detail TEXT,
                    PRIMARY KEY (run, rule)
                );
                CREATE INDEX contents_by_held_run ON contents(held_by_run) WHERE held_by_run IS NOT NULL;
                CREATE INDEX contents_awaiting_validation ON contents(unit) WHERE awaiting_validation = 1;
                CREATE INDEX contents_annotation_files ON contents(sha256) WHERE outcome = 'annotations';
                """)
        }
    }

    /// Writes an annotation file's rows, replacing what the same content gave before.
    static func recordAnnotations(_ file: AnnotationFile, of sha256: String, at now: String, in db: Database) throws {
        try db.cachedStatement(sql: "DELETE FROM boxes WHERE annotation IN (SELECT id FROM annotations WHERE file_sha256 = ?)")
            .execute(arguments: [sha256])
        try db.cachedStatement(sql: "DELETE FROM annotations WHERE file_sha256 = ?").execute(arguments: [sha256])
        try db.cachedStatement(sql: "DELETE FROM annotation_problems WHERE file_sha256 = ?").execute(arguments: [sha256])
        let insert = try db.cachedStatement(sql: """
            INSERT INTO annotations (file_sha256, line, sop_instance_uid, image, label, frame, annotator, confidence, source, extra, recorded_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """)
        let insertBox = try db.cachedStatement(sql: "INSERT INTO boxes (annotation, x, y, width, height, units) VALUES (?, ?, ?, ?, ?, ?)")
        for label in file.labels {
            try insert.execute(arguments: [sha256, label.line, label.sopInstanceUID, label.image, label.label, label.frame, label.annotator,
                                           label.confidence, label.source, label.extra, now])
            if let box = label.box {
                try insertBox.execute(arguments: [db.lastInsertedRowID, box.x, box.y, box.width, box.height, box.units.rawValue])
            }
        }
        let insertProblem = try db.cachedStatement(sql: "INSERT INTO annotation_problems (file_sha256, line, reason) VALUES (?, ?, ?)")
        for problem in file.problems {
            try insertProblem.execute(arguments: [sha256, problem.line, problem.reason])
        }
    }

    /// What `refreshAnnotations` changed.
    public struct AnnotationChanges: Sendable, Equatable {
        public var matched = 0
        public var withdrawn = 0
        public var restored = 0
        /// The directories of the images whose labels changed: their manifests' `labels`.
        public var directories: Set<String> = []
    }

    /// Brings the labels up to date with the drop and the instances: the rows of annotation
    /// files no path holds any more are withdrawn (and those whose file came back
    /// restored), and rows not yet tied to an instance are tied to the one their UID or
    /// image name now names. Runs after every run, so it works per annotation file (a few
    /// dozen) and on the rows not yet tied (an index on `instance`), never over every label.
    @discardableResult
    public func refreshAnnotations() throws(LedgerError) -> AnnotationChanges {
        let now = Self.timestamp(Date())
        return try write { db in
            var changes = AnnotationChanges()
            var instances: Set<String> = []
            func run(_ sql: String, _ arguments: StatementArguments = []) throws -> Int {
                let touched = try Optional<String>.fetchAll(db, sql: sql + " RETURNING instance", arguments: arguments)
                instances.formUnion(touched.compactMap { $0 })
                return touched.count
            }
            let files = try Row.fetchAll(db, sql: """
                SELECT c.sha256, EXISTS (SELECT 1 FROM sources s WHERE s.sha256 = c.sha256) AS present
                FROM contents c WHERE c.outcome = 'annotations'
                """)
            for file in files {
                if file["present"] as Bool {
                    changes.restored += try run("""
                        UPDATE annotations SET withdrawn_at = NULL WHERE file_sha256 = ? AND withdrawn_at IS NOT NULL
                        """, [file["sha256"] as String])
                } else {
                    changes.withdrawn += try run("""
                        UPDATE annotations SET withdrawn_at = ? WHERE file_sha256 = ? AND withdrawn_at IS NULL
                        """, [now, file["sha256"] as String])
                }
            }
            changes.matched = try run("""
                UPDATE annotations SET instance = (SELECT i.sha256 FROM instances i WHERE i."SOPInstanceUID" = annotations.sop_instance_uid)
                WHERE instance IS NULL AND sop_instance_uid IS NOT NULL
                    AND EXISTS (SELECT 1 FROM instances i WHERE i."SOPInstanceUID" = annotations.sop_instance_uid)
                """)
            changes.matched += try run("""
                UPDATE annotations SET instance = (SELECT min(i.sha256) FROM instances i WHERE i.name = annotations.image)
                WHERE instance IS NULL AND sop_instance_uid IS NULL AND image IS NOT NULL
                    AND EXISTS (SELECT 1 FROM instances i WHERE i.name = annotations.image)
                """)
            let lookup = try db.cachedStatement(sql: """
                SELECT coalesce(directory, bucket) FROM contents WHERE sha256 = ? AND bucket IS NOT NULL AND outcome = 'processed'
                """)
            for instance in instances {
                if let directory = try String.fetchOne(lookup, arguments: [instance]) { changes.directories.insert(directory) }
            }
            return changes
        }
    }

    /// Whether an instance carries this SOP Instance UID (a UID given already pseudonymized).
    public func hasInstance(withSOPInstanceUID uid: String) throws(LedgerError) -> Bool {
        try read { db in
            try Bool.fetchOne(db, sql: #"SELECT EXISTS (SELECT 1 FROM instances WHERE "SOPInstanceUID" = ?)"#, arguments: [uid]) ?? false
        }
    }

    /// One annotation file's state: its labels, those still waiting for their image (by
    /// line), and the rows that could not be read.
    public struct AnnotationFileReport: Sendable, Codable, Equatable {
        /// A path of the drop directory holding the file (the first by name).
        public let path: String
        public let labels: Int
        public let matched: Int
        public let withdrawn: Bool
        /// Lines whose image no instance is yet (at most 50).
        public let unmatchedLines: [Int]
        public let problems: [Problem]

        public struct Problem: Sendable, Codable, Equatable {
            public let line: Int
            public let reason: String
        }
    }

    /// Every annotation file the ledger knows, by path; withdrawn files only with `withdrawn`.
    public func annotationReports(includingWithdrawn withdrawn: Bool = false) throws(LedgerError) -> [AnnotationFileReport] {
        try read { db in
            // A ledger an older daemon still runs has no labels yet (read-only: not migrated).
            guard try db.tableExists("annotations") else { return [] }
            let files = try Row.fetchAll(db, sql: """
                SELECT c.sha256, (SELECT min(s.path) FROM sources s WHERE s.sha256 = c.sha256) AS path,
                    (SELECT count(*) FROM annotations a WHERE a.file_sha256 = c.sha256) AS labels,
                    (SELECT count(*) FROM annotations a WHERE a.file_sha256 = c.sha256 AND a.instance IS NOT NULL) AS matched
                FROM contents c WHERE c.outcome = 'annotations' ORDER BY path IS NULL, path, c.rowid DESC
                """)
            return try files.compactMap { row -> AnnotationFileReport? in
                let path: String? = row["path"]
                guard path != nil || withdrawn else { return nil }
                let sha: String = row["sha256"]
                let unmatched = try Int.fetchAll(db, sql: """
                    SELECT line FROM annotations WHERE file_sha256 = ? AND instance IS NULL ORDER BY line LIMIT 50
                    """, arguments: [sha])
                let problems = try Row.fetchAll(db, sql: "SELECT line, reason FROM annotation_problems WHERE file_sha256 = ? ORDER BY line LIMIT 50",
                                                arguments: [sha]).map { AnnotationFileReport.Problem(line: $0["line"], reason: $0["reason"]) }
                return AnnotationFileReport(path: path ?? "(withdrawn)", labels: row["labels"], matched: row["matched"], withdrawn: path == nil,
                                            unmatchedLines: unmatched, problems: problems)
            }
        }
    }

    /// A box to draw: its label and where, on which frame.
    public struct DrawableBox: Sendable, Equatable {
        public let label: String
        public let frame: Int?
        public let box: AnnotationRecord.Box
    }

    /// The image named `name` (an instance's output name): its PNGs (relative to the output
    /// directory), its Rows and Columns, and the boxes of its labels not withdrawn.
    public func boxes(ofImage name: String) throws(LedgerError) -> (pngs: [String], rows: Int?, columns: Int?, boxes: [DrawableBox])? {
        try read { db in
            guard let instance = try Row.fetchOne(db, sql: #"SELECT sha256, "Rows", "Columns" FROM instances WHERE name = ? ORDER BY sha256 LIMIT 1"#,
                                                  arguments: [name]) else { return nil }
            let sha: String = instance["sha256"]
            let pngs = try String.fetchAll(db, sql: "SELECT path FROM outputs WHERE sha256 = ? AND path LIKE '%.png' ORDER BY path", arguments: [sha])
            let boxes = try Row.fetchAll(db, sql: """
                SELECT a.label, a.frame, b.x, b.y, b.width, b.height, b.units FROM annotations a JOIN boxes b ON b.annotation = a.id
                WHERE a.instance = ? AND a.withdrawn_at IS NULL ORDER BY a.file_sha256, a.line
                """, arguments: [sha]).map { row in
                DrawableBox(label: row["label"], frame: row["frame"],
                            box: AnnotationRecord.Box(x: row["x"], y: row["y"], width: row["width"], height: row["height"],
                                                      units: AnnotationRecord.Box.Units(rawValue: row["units"]) ?? .pixels))
            }
            return (pngs, instance["Rows"], instance["Columns"], boxes)
        }
    }
}
