import Foundation
import Shared
import GRDB

/// Capacity-limited buckets: a bucket's images are spread over directories of at most
/// `capacity` images each (`small`, then `small-20261202T101500Z` or `small-0002`, ...).
/// Every image's directory is assigned here, in one write transaction per image, before
/// its outputs are written: SQLite's single writer makes the count and the assignment one
/// step, so no two workers (or processes) can both take a directory's last place, and the
/// assignment survives a kill and is found again for the same content.
extension Ledger {
    static func registerBucketDirectoriesMigration(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v6: capacity-limited bucket directories") { db in
            try db.execute(sql: """
                CREATE TABLE bucket_directories (
                    directory TEXT PRIMARY KEY,     -- relative to the output directory
                    bucket TEXT NOT NULL,
                    sequence INTEGER NOT NULL,      -- 1: the bucket's own directory
                    opened_at TEXT NOT NULL,
                    UNIQUE (bucket, sequence)
                );
                CREATE TABLE placements (
                    -- Taken before the content's outputs are written, so before it has a
                    -- contents row: a place a crash left unused is never given to another.
                    sha256 TEXT PRIMARY KEY,
                    directory TEXT NOT NULL REFERENCES bucket_directories(directory)
                );
                CREATE INDEX placements_by_directory ON placements(directory);
                -- A directory's manifest reads its images by instance_overview's directory.
                CREATE INDEX contents_by_directory ON contents(coalesce(directory, bucket));
                """)
        }
    }

    /// How the directories after a bucket's first are named.
    public enum DirectoryNaming: String, Sendable {
        /// `<bucket>-YYYYMMDDTHHMMSSZ`, the UTC time it was opened.
        case timestamp
        /// `<bucket>-0002`, `<bucket>-0003`, ...
        case sequence
    }

    /// The directory of `bucket` that holds the content `sha256`'s outputs: the one it was
    /// given before if that is a directory of the same bucket (a reprocess keeps an image
    /// where it was), else the bucket's newest directory while it has fewer than `capacity`
    /// images, else a new one.
    public func place(_ sha256: String, in bucket: String, capacity: Int, naming: DirectoryNaming,
                      now: Date = Date()) throws(LedgerError) -> String {
        try write { db in
            if let row = try Row.fetchOne(db, sql: """
                SELECT p.directory, d.bucket FROM placements p JOIN bucket_directories d ON d.directory = p.directory WHERE p.sha256 = ?
                """, arguments: [sha256]) {
                if row["bucket"] as String == bucket { return row["directory"] as String }
                try db.execute(sql: "DELETE FROM placements WHERE sha256 = ?", arguments: [sha256])
            }
            let opened = Self.timestamp(now)
            var current = try Row.fetchOne(db, sql: """
                SELECT directory, sequence FROM bucket_directories WHERE bucket = ? ORDER BY sequence DESC LIMIT 1
                """, arguments: [bucket]).map { (directory: $0["directory"] as String, sequence: $0["sequence"] as Int) }
            if current == nil {
                try db.execute(sql: "INSERT INTO bucket_directories (directory, bucket, sequence, opened_at) VALUES (?, ?, 1, ?)",
                               arguments: [bucket, bucket, opened])
                current = (bucket, 1)
            }
            guard var (directory, sequence) = current else { return bucket }
            let held = try Int.fetchOne(db, sql: "SELECT count(*) FROM placements WHERE directory = ?", arguments: [directory]) ?? 0
            if held >= capacity {
                sequence += 1
                directory = switch naming {
                case .sequence: bucket + "-" + String(format: "%04d", sequence)
                case .timestamp: bucket + "-" + Self.compactTimestamp(now)
                }
                // Two directories opened within one second: the second gets its number too.
                if try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM bucket_directories WHERE directory = ?)", arguments: [directory]) == true {
                    directory += "-" + String(format: "%04d", sequence)
                }
                try db.execute(sql: "INSERT INTO bucket_directories (directory, bucket, sequence, opened_at) VALUES (?, ?, ?, ?)",
                               arguments: [directory, bucket, sequence, opened])
            }
            try db.execute(sql: "INSERT INTO placements (sha256, directory) VALUES (?, ?)", arguments: [sha256, directory])
            return directory
        }
    }

    /// Each directory of a capacity-limited bucket with its bucket and the images placed in it.
    public func bucketDirectories() throws(LedgerError) -> [(directory: String, bucket: String, images: Int)] {
        try read { db in
            try Row.fetchAll(db, sql: """
                SELECT d.directory, d.bucket, (SELECT count(*) FROM placements p WHERE p.directory = d.directory) AS images
                FROM bucket_directories d ORDER BY d.bucket, d.sequence
                """).map { (directory: $0["directory"], bucket: $0["bucket"], images: $0["images"]) }
        }
    }

    static func timestamp(_ date: Date) -> String {
        UTCTimestamp.string(date)
    }

    /// `YYYYMMDDTHHMMSSZ`, in UTC.
    static func compactTimestamp(_ date: Date) -> String {
        var time = time_t(date.timeIntervalSince1970)
        var parts = tm()
        gmtime_r(&time, &parts)
        return String(format: "%04d%02d%02dT%02d%02d%02dZ", parts.tm_year + 1900, parts.tm_mon + 1, parts.tm_mday,
                      parts.tm_hour, parts.tm_min, parts.tm_sec)
    }
}
