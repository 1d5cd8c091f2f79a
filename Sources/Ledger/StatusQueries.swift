import Foundation
import GRDB
import Shared

/// What the status server and `dicomdrop status` show, read from the ledger: units, runs,
/// buckets, failures, throughput and images. Only reads; each is one read transaction, so a
/// daemon writing beside it is never blocked (WAL) and the answer is one consistent state.
/// The records are Codable for the JSON API (snake_case keys by the encoder).
extension Ledger {
    public struct RunSummaryRow: Sendable, Codable, Equatable {
        public let id: Int64
        public let unit: String
        public let trigger: String
        public let started: String
        public let finished: String?
        public let outcome: String?
        public let error: String?
        public let files: Files
        /// `passed` or `failed_validation` when `expectations:` validated the run.
        public let verdict: String?

        public struct Files: Sendable, Codable, Equatable {
            public let seen, new, duplicate, skipped, failed: Int
        }

        init(_ row: Row) {
            id = row["id"]
            unit = row["unit"]
            trigger = row["trigger"]
            started = row["started_at"]
            finished = row["finished_at"]
            outcome = row["outcome"]
            error = row["error"]
            verdict = row["verdict"]
            files = Files(seen: row["files_seen"] ?? 0, new: row["files_new"] ?? 0, duplicate: row["files_duplicate"] ?? 0,
                          skipped: row["files_skipped"] ?? 0, failed: row["files_failed"] ?? 0)
        }
    }

    public struct UnitRow: Sendable, Codable, Equatable {
        public let name: String
        public let state: String
        public let updated: String
        /// Recorded paths, and how their contents ended: `processed`, `notDICOM` and `failed`
        /// count contents this unit produced; a path whose content was produced by another
        /// path first is a `duplicate`.
        public var files = 0, processed = 0, duplicate = 0, notDICOM = 0, failed = 0, unreadable = 0
        /// Annotation files (their labels are in `annotations`).
        public var annotationFiles = 0
        public var lastRun: RunSummaryRow?

        enum CodingKeys: String, CodingKey {
            case name, state, updated, files, processed, duplicate, failed, unreadable, lastRun, annotationFiles
            case notDICOM = "notDicom"
        }
    }

    public func unitRows() throws(LedgerError) -> [UnitRow] {
        try read { db in
            var units: [String: UnitRow] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT name, state, updated_at FROM units") {
                units[row["name"]] = UnitRow(name: row["name"], state: row["state"], updated: row["updated_at"])
            }
            // A content is counted once, for the unit that produced it; its other paths are copies.
            for row in try Row.fetchAll(db, sql: """
                SELECT s.unit AS unit, c.outcome AS outcome, c.unit = s.unit AS own,
                    count(*) AS paths, count(DISTINCT s.sha256) AS contents
                FROM sources s JOIN contents c ON c.sha256 = s.sha256 GROUP BY s.unit, c.outcome, own
                """) {
                let name: String = row["unit"]
                guard units[name] != nil else { continue }
                let paths: Int = row["paths"], contents: Int = row["contents"]
                units[name]!.files += paths
                guard row["own"] as Bool else { units[name]!.duplicate += paths; continue }
                units[name]!.duplicate += paths - contents
                switch row["outcome"] as String {
                case "processed": units[name]!.processed += contents
                case "not_dicom": units[name]!.notDICOM += contents
                case "annotations": units[name]!.annotationFiles += contents
                default: units[name]!.failed += contents
                }
            }
            for row in try Row.fetchAll(db, sql: "SELECT unit, count(*) AS n FROM unreadable GROUP BY unit") {
                units[row["unit"]]?.unreadable = row["n"]
            }
            for row in try Row.fetchAll(db, sql: "SELECT * FROM runs WHERE id IN (SELECT max(id) FROM runs GROUP BY unit)") {
                units[row["unit"]]?.lastRun = RunSummaryRow(row)
            }
            return units.values.sorted { $0.name < $1.name }
        }
    }

    /// Newest first.
    public func recentRuns(unit: String?, limit: Int) throws(LedgerError) -> [RunSummaryRow] {
        try read { db in
            let rows = if let unit {
                try Row.fetchAll(db, sql: "SELECT * FROM runs WHERE unit = ? ORDER BY id DESC LIMIT ?", arguments: [unit, limit])
            } else {
                try Row.fetchAll(db, sql: "SELECT * FROM runs ORDER BY id DESC LIMIT ?", arguments: [limit])
            }
            return rows.map(RunSummaryRow.init)
        }
    }

    public struct BucketRow: Sendable, Codable, Equatable {
        public let name: String
        public var images = 0
        public var directories: [Directory] = []
        /// The most frequent reasons first (at most 20); nil: an image placed by size alone.
        public var reasons: [Reason] = []

        public struct Directory: Sendable, Codable, Equatable {
            public let name: String
            public let images: Int
        }

        public struct Reason: Sendable, Codable, Equatable {
            public let reason: String?
            public let images: Int
        }
    }

    /// Processed contents per bucket (an image with all its frames is one), per directory and per reason.
    public func bucketRows() throws(LedgerError) -> [BucketRow] {
        try read { db in
            var buckets: [String: BucketRow] = [:]
            for row in try Row.fetchAll(db, sql: """
                SELECT bucket, coalesce(directory, bucket) AS directory, count(*) AS n FROM contents
                WHERE outcome = 'processed' AND bucket IS NOT NULL GROUP BY bucket, 2 ORDER BY bucket, 2
                """) {
                let name: String = row["bucket"]
                buckets[name, default: BucketRow(name: name)].images += row["n"] as Int
                buckets[name]!.directories.append(BucketRow.Directory(name: row["directory"], images: row["n"]))
            }
            for row in try Row.fetchAll(db, sql: """
                SELECT bucket, reason, count(*) AS n FROM contents WHERE outcome = 'processed' AND bucket IS NOT NULL
                GROUP BY bucket, reason ORDER BY bucket, n DESC, reason
                """) where (buckets[row["bucket"]]?.reasons.count ?? 20) < 20 {
                buckets[row["bucket"]]!.reasons.append(BucketRow.Reason(reason: row["reason"], images: row["n"]))
            }
            return buckets.values.sorted { $0.name < $1.name }
        }
    }

    public struct FailureRow: Sendable, Codable, Equatable {
        /// Relative to the drop directory: one path of the content (the first by name).
        public let path: String?
        public let unit: String
        /// `failed`, `not_dicom` or `unreadable`.
        public let kind: String
        public let reason: String?
        public let at: String
    }

    /// Newest first.
    public func recentFailures(limit: Int) throws(LedgerError) -> [FailureRow] {
        try read { db in
            try Row.fetchAll(db, sql: """
                SELECT * FROM (
                    SELECT (SELECT min(path) FROM sources s WHERE s.sha256 = c.sha256) AS path, c.unit AS unit,
                        c.outcome AS kind, c.reason AS reason, c.processed_at AS at
                    FROM contents c WHERE c.outcome IN ('failed', 'not_dicom')
                    UNION ALL
                    SELECT path, unit, 'unreadable', reason, last_failed_at FROM unreadable
                ) ORDER BY at DESC, path LIMIT ?
                """, arguments: [limit]).map {
                FailureRow(path: $0["path"], unit: $0["unit"], kind: $0["kind"], reason: $0["reason"], at: $0["at"])
            }
        }
    }

    /// Contents recorded per minute (`2026-12-02T08:01`) since `since`.
    public func contentsPerMinute(since: Date) throws(LedgerError) -> [String: Int] {
        let start = Self.timestamp(since)
        return try read { db in
            var minutes: [String: Int] = [:]
            for row in try Row.fetchAll(db, sql: """
                SELECT substr(processed_at, 1, 16) AS minute, count(*) AS n FROM contents WHERE processed_at >= ? GROUP BY minute
                """, arguments: [start]) {
                minutes[row["minute"]] = row["n"]
            }
            return minutes
        }
    }

    public struct ImageRow: Sendable, Codable, Equatable {
        public let name: String
        /// The queries below select only images with a bucket (a filter's `skip` leaves
        /// instances without one); the defaults only keep a row from trapping.
        public let bucket: String
        public let directory: String
        public let reason: String?
        public let suboptimal: Bool
        public let frames: Int
        /// The first PNG, relative to the output directory; nil when none was written.
        public let png: String?
        public let modality: String?
        public let rows: Int?
        public let columns: Int?
        public let outputs: [String]

        init(_ row: Row) {
            name = row["name"]
            bucket = row["bucket"] ?? ""
            directory = row["directory"] ?? ""
            reason = row["reason"]
            suboptimal = (row["suboptimal"] as Int?) == 1
            let outputs = (row["outputs"] as String?).flatMap { try? JSONDecoder().decode([String].self, from: Data($0.utf8)) } ?? []
            self.outputs = outputs
            let pngs = outputs.filter { $0.hasSuffix(".png") }
            png = pngs.first
            frames = pngs.count
            modality = row["Modality"]
            rows = row["Rows"]
            columns = row["Columns"]
        }
    }

    /// Images in directory, then name order, after the cursor `after` (`directory/name`).
    public func imageRows(bucket: String?, after: String?, limit: Int) throws(LedgerError) -> [ImageRow] {
        var conditions = ["bucket IS NOT NULL"], arguments: [any DatabaseValueConvertible] = []
        if let bucket { conditions.append("bucket = ?"); arguments.append(bucket) }
        if let after, let slash = after.lastIndex(of: "/") {
            conditions.append("(directory, name) > (?, ?)")
            arguments += [String(after[..<slash]), String(after[after.index(after: slash)...])]
        }
        arguments.append(limit)
        let filter = "WHERE " + conditions.joined(separator: " AND ")
        let sql = """
            SELECT name, bucket, directory, reason, suboptimal, outputs, "Modality", "Rows", "Columns"
            FROM instance_overview \(filter) ORDER BY directory, name LIMIT ?
            """
        let bound = StatementArguments(arguments.map { $0 as (any DatabaseValueConvertible)? })
        return try read { db in try Row.fetchAll(db, sql: sql, arguments: bound).map(ImageRow.init) }
    }

    public struct ImageDetail: Sendable {
        public let image: ImageRow
        /// The `instance_overview` row without the content hash (a source's hash would let
        /// whoever holds the source find its outputs).
        public let metadata: [(column: String, value: MetadataValue?)]
        public let quality: [ImageQualityRecord]
        /// Its labels not withdrawn, with their boxes, in file and line order.
        public let labels: [Label]

        public struct Label: Sendable, Codable, Equatable {
            public let label: String
            public let frame: Int?
            public let annotator: String?
            public let confidence: Double?
            public let source: String?
            public let box: Box?

            public struct Box: Sendable, Codable, Equatable {
                public let x, y, width, height: Double
                /// `pixels` or `normalized`.
                public let units: String
            }
        }
    }

    /// The image named `name` (in `bucket`, or the first by directory).
    public func imageDetail(name: String, bucket: String?) throws(LedgerError) -> ImageDetail? {
        let arguments: StatementArguments = if let bucket { [name, bucket] } else { [name] }
        return try read { db -> ImageDetail? in
            let sql = "SELECT * FROM instance_overview WHERE name = ? AND bucket IS NOT NULL\(bucket == nil ? "" : " AND bucket = ?") ORDER BY directory LIMIT 1"
            guard let row = try Row.fetchOne(db, sql: sql, arguments: arguments) else {
                return nil
            }
            let hidden: Set<String> = ["sha256", "outputs"]
            let metadata = Array(row.columnNames).filter { !hidden.contains($0) }.map { column in
                (column: column, value: MetadataValue.fromDatabaseValue(row[column] as DatabaseValue))
            }
            let quality = try Row.fetchAll(db, sql: "SELECT * FROM image_quality WHERE sha256 = ? ORDER BY frame",
                                           arguments: [row["sha256"] as String]).map(ImageQualityRecord.init(row:))
            let labels = try Row.fetchAll(db, sql: """
                SELECT a.label, a.frame, a.annotator, a.confidence, a.source, b.x, b.y, b.width, b.height, b.units
                FROM annotations a LEFT JOIN boxes b ON b.annotation = a.id
                WHERE a.instance = ? AND a.withdrawn_at IS NULL ORDER BY a.file_sha256, a.line
                """, arguments: [row["sha256"] as String]).map { label in
                ImageDetail.Label(label: label["label"], frame: label["frame"], annotator: label["annotator"], confidence: label["confidence"],
                                  source: label["source"],
                                  box: (label["units"] as String?).map { units in
                                      ImageDetail.Label.Box(x: label["x"], y: label["y"], width: label["width"], height: label["height"], units: units)
                                  })
            }
            return ImageDetail(image: ImageRow(row), metadata: metadata, quality: quality, labels: labels)
        }
    }
}
