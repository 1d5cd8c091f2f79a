import Foundation
import GRDB
import Shared
import Synchronization

/// The SQLite ledger (GRDB, WAL): what every path held, what every content hash gave, and
/// every run of every unit. "Already done" lives here, never in the drop directory.
public final class Ledger: Sendable {
    let pool: DatabasePool
    /// The workers' per-file lookups: see LookupConnections.
    let lookups: LookupConnections
    /// Each metadata table's columns and the statements that write them.
    let metadataWriter = Mutex(MetadataRowWriter())

    public enum LedgerError: Error, Sendable, CustomStringConvertible {
        case cannotOpen(path: String, reason: String)
        case database(String)

        public var description: String {
            switch self {
            case .cannotOpen(let path, let reason): "cannot open the ledger \(path): \(reason)"
            case .database(let reason): "ledger: \(reason)"
            }
        }
    }

    public init(path: URL) throws(LedgerError) {
        do {
            try FileManager.default.createDirectory(at: path.deletingLastPathComponent(), withIntermediateDirectories: true)
            // Source paths are folder names, which hospitals make of patients' names: the
            // ledger is for the operator only. Created 0600 before SQLite opens it (its WAL
            // and shared-memory files take the same mode), and made 0600 if an older
            // version left it readable.
            let descriptor = open(path.path, O_WRONLY | O_CREAT | O_CLOEXEC, 0o600)
            if descriptor >= 0 { close(descriptor) }
            for file in [path.path, path.path + "-wal", path.path + "-shm"] { chmod(file, 0o600) }
            var configuration = Configuration()
            configuration.busyMode = .timeout(10)
            pool = try Self.openRetrying(path.path, configuration: configuration)
            lookups = LookupConnections(path: path.path)
            try Self.migrate(pool)
        } catch {
            throw .cannotOpen(path: path.path, reason: "\(error)")
        }
        do { try loadMetadataColumns() } catch { throw .cannotOpen(path: path.path, reason: "\(error)") }
    }

    /// Opens an existing ledger to read only (`dicomdrop status`, beside a running daemon):
    /// nothing is created, migrated or written; WAL lets it read while the daemon writes.
    public init(readingOnly path: URL) throws(LedgerError) {
        guard FileManager.default.fileExists(atPath: path.path) else {
            throw .cannotOpen(path: path.path, reason: "there is no ledger there (has the daemon run with this configuration?)")
        }
        do {
            var configuration = Configuration()
            configuration.readonly = true
            configuration.busyMode = .timeout(10)
            pool = try DatabasePool(path: path.path, configuration: configuration)
            lookups = LookupConnections(path: path.path)
            try loadMetadataColumns()
        } catch {
            throw .cannotOpen(path: path.path, reason: "\(error)")
        }
    }

    /// Opens the pool. A new database is switched to WAL when it is opened, which needs the
    /// file to itself for a moment: another process opening it at the same moment (a
    /// `--reprocess` started with the daemon) gets SQLITE_BUSY at once, without the busy
    /// timeout, so the open is tried again for up to 5 s.
    private static func openRetrying(_ path: String, configuration: Configuration) throws -> DatabasePool {
        var attempt = 0
        while true {
            do {
                return try DatabasePool(path: path, configuration: configuration)
            } catch let error as DatabaseError where error.resultCode == .SQLITE_BUSY && attempt < 100 {
                attempt += 1
                usleep(50_000)
            }
        }
    }

    /// The quality feature columns migration v2 created.
    static let qualityColumnsOfV2 = [
        "mean", "std", "foreground_mean", "foreground_std", "foreground_fraction", "p1", "p99",
        "darkest_fraction", "brightest_fraction", "foreground_clipped", "laplacian_variance",
        "sharpness", "log_sharpness", "uniform_fraction",
    ]

    static func migrate(_ writer: some DatabaseWriter) throws {
        try migrator.migrateRetrying(writer)
    }

    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1: units, runs, sources, contents, outputs") { db in
            try db.execute(sql: """
                CREATE TABLE units (
                    name TEXT PRIMARY KEY,          -- relative to the drop directory
                    state TEXT NOT NULL,            -- waiting, settling, processing, done, failed
                    updated_at TEXT NOT NULL
                );
                CREATE TABLE runs (
                    id INTEGER PRIMARY KEY,
                    unit TEXT NOT NULL REFERENCES units(name),
                    trigger TEXT NOT NULL,          -- startup, inotify, rescan, reprocess
                    started_at TEXT NOT NULL,
                    finished_at TEXT,
                    files_seen INTEGER, files_new INTEGER, files_duplicate INTEGER,
                    files_skipped INTEGER, files_failed INTEGER
                );
                CREATE TABLE sources (
                    path TEXT PRIMARY KEY,          -- relative to the drop directory
                    unit TEXT NOT NULL REFERENCES units(name),
                    device INTEGER NOT NULL, inode INTEGER NOT NULL, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,
                    sha256 TEXT NOT NULL,
                    first_seen TEXT NOT NULL,
                    last_seen TEXT NOT NULL
                );
                CREATE INDEX sources_by_unit ON sources(unit);
                CREATE INDEX sources_by_sha256 ON sources(sha256);
                CREATE TABLE contents (
                    sha256 TEXT PRIMARY KEY,
                    outcome TEXT NOT NULL,          -- processed, not_dicom, failed
                    reason TEXT,
                    bucket TEXT,
                    config_digest TEXT NOT NULL,
                    unit TEXT NOT NULL,             -- the unit whose run produced the outputs
                    processed_at TEXT NOT NULL
                );
                CREATE TABLE outputs (
                    path TEXT PRIMARY KEY,          -- relative to the output directory
                    sha256 TEXT NOT NULL REFERENCES contents(sha256) ON DELETE CASCADE
                );
                CREATE INDEX outputs_by_sha256 ON outputs(sha256);
                """)
        }
        migrator.registerMigration("v2: image_quality") { db in
            // Frozen: a migration is history and must create the same table on every
            // machine. A feature added later needs a migration that adds its column
            // (LedgerTests checks that every feature has one).
            let features = Self.qualityColumnsOfV2.map { "\($0) REAL" }.joined(separator: ", ")
            try db.execute(sql: """
                CREATE TABLE image_quality (
                    output TEXT PRIMARY KEY,        -- the PNG, relative to the output directory
                    sha256 TEXT NOT NULL REFERENCES contents(sha256) ON DELETE CASCADE,
                    frame INTEGER NOT NULL,         -- from 1
                    \(features),
                    model_score REAL,
                    suboptimal INTEGER NOT NULL,    -- 1: this frame failed a rule or the model
                    reason TEXT
                );
                CREATE INDEX image_quality_by_sha256 ON image_quality(sha256);
                """)
        }
        migrator.registerMigration("v3: fingerprints without st_dev, run outcomes") { db in
            // A remount gives the same files another device number: it must not make them new.
            try db.execute(sql: """
                ALTER TABLE sources DROP COLUMN device;
                ALTER TABLE runs ADD COLUMN outcome TEXT;      -- done, interrupted, failed; NULL while running
                ALTER TABLE runs ADD COLUMN error TEXT;        -- why a failed run failed
                ALTER TABLE runs ADD COLUMN pid INTEGER;       -- the process running it, to tell a crash from a live run
                UPDATE runs SET outcome = 'done' WHERE finished_at IS NOT NULL;
                """)
        }
        migrator.registerMigration("v4: unreadable files") { db in
            // A file that cannot be read has no hash, hence no sources row: without this
            // table it left no trace but a log line.
            try db.execute(sql: """
                CREATE TABLE unreadable (
                    path TEXT PRIMARY KEY,          -- relative to the drop directory
                    unit TEXT NOT NULL,
                    reason TEXT NOT NULL,
                    attempts INTEGER NOT NULL,      -- reads tried by the last run that met it
                    runs INTEGER NOT NULL,          -- runs that met it
                    first_failed_at TEXT NOT NULL,
                    last_failed_at TEXT NOT NULL
                );
                CREATE INDEX unreadable_by_unit ON unreadable(unit);
                """)
        }
        registerMetadataMigration(&migrator)
        registerBucketDirectoriesMigration(&migrator)
        registerOperatorMigration(&migrator)
        registerValidationMigration(&migrator)
        registerPlainImagesMigration(&migrator)
        registerStaleManifestsMigration(&migrator)
        return migrator
    }

    private static func now() -> String { timestamp(Date()) }

    func write<T: Sendable>(_ body: @Sendable (Database) throws -> T) throws(LedgerError) -> T {
        do { return try pool.write(body) } catch { throw .database("\(error)") }
    }

    func read<T: Sendable>(_ body: @Sendable (Database) throws -> T) throws(LedgerError) -> T {
        do { return try pool.read(body) } catch { throw .database("\(error)") }
    }

    /// A read of one statement, which SQLite already runs in a consistent snapshot of its
    /// own: without `read`'s BEGIN and COMMIT around it, on a pooled connection. The
    /// workers' two lookups per file go through `lookUp` instead.
    private func readOneStatement<T: Sendable>(_ body: @Sendable (Database) throws -> T) throws(LedgerError) -> T {
        do { return try pool.unsafeRead(body) } catch { throw .database("\(error)") }
    }

    /// One of the workers' per-file lookups, on the calling thread's own connection.
    private func lookUp(_ query: LookupQuery, _ values: [String]) throws(LedgerError) -> Bool {
        do {
            return try lookups.exists(query, values, beyondLimit: {
                try pool.unsafeRead { db in try Bool.fetchOne(db, sql: query.sql, arguments: StatementArguments(values)) ?? false }
            })
        } catch {
            throw .database("\(error)")
        }
    }

    // MARK: Units and runs

    public func setState(_ state: UnitState, of unit: String) throws(LedgerError) {
        let now = Self.now()
        try write { db in
            try db.execute(sql: """
                INSERT INTO units (name, state, updated_at) VALUES (?, ?, ?)
                ON CONFLICT(name) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at
                """, arguments: [unit, state.rawValue, now])
        }
    }

    /// Several units' states in one transaction (a start-up catch-up touches thousands).
    public func setStates(_ changes: [(unit: String, state: UnitState)]) throws(LedgerError) {
        guard !changes.isEmpty else { return }
        let now = Self.now()
        try write { db in
            let statement = try db.cachedStatement(sql: """
                INSERT INTO units (name, state, updated_at) VALUES (?, ?, ?)
                ON CONFLICT(name) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at
                """)
            for change in changes { try statement.execute(arguments: [change.unit, change.state.rawValue, now]) }
        }
    }

    /// Removes a unit that vanished before it was ever run: no row of it is left behind.
    public func forgetUnitNeverRun(_ unit: String) throws(LedgerError) {
        try write { db in
            try db.execute(sql: """
                DELETE FROM units WHERE name = ? AND NOT EXISTS (SELECT 1 FROM runs WHERE unit = ?)
                    AND NOT EXISTS (SELECT 1 FROM sources WHERE unit = ?)
                """, arguments: [unit, unit, unit])
        }
    }

    /// Units whose last state is not an end (`waiting`, `settling`, `processing`): what a
    /// crash or a stop left unfinished. One whose files were all recorded before the stop
    /// has nothing that a pass would find changed, and must still be run to be `done`.
    public func unitsLeftUnfinished() throws(LedgerError) -> [String] {
        try read { db in
            try String.fetchAll(db, sql: "SELECT name FROM units WHERE state IN ('waiting', 'settling', 'processing') ORDER BY name")
        }
    }

    public func state(of unit: String) throws(LedgerError) -> UnitState? {
        try read { db in
            try String.fetchOne(db, sql: "SELECT state FROM units WHERE name = ?", arguments: [unit]).flatMap(UnitState.init)
        }
    }

    public func beginRun(of unit: String, trigger: RunTrigger) throws(LedgerError) -> Int64 {
        let now = Self.now()
        return try write { db in
            try db.execute(sql: """
                INSERT INTO units (name, state, updated_at) VALUES (?, 'processing', ?)
                ON CONFLICT(name) DO UPDATE SET state = 'processing', updated_at = excluded.updated_at
                """, arguments: [unit, now])
            try db.execute(sql: "INSERT INTO runs (unit, trigger, started_at, pid) VALUES (?, ?, ?, ?)",
                           arguments: [unit, trigger.rawValue, now, Int(getpid())])
            return db.lastInsertedRowID
        }
    }

    /// Closes a run with how it ended, and moves its unit to `state` in the same
    /// transaction: a unit is never left `processing` by a run that is over.
    /// `staleManifests`: the directories whose images it changed, marked in that transaction
    /// too, so that no crash leaves a closed run's manifests unwritten for good (an open run
    /// has all of them written at the next start).
    public func finishRun(_ run: Int64, of unit: String, counts: RunCounts, outcome: RunOutcome, error: String? = nil,
                          state: UnitState, staleManifests: Set<String> = []) throws(LedgerError) {
        let now = Self.now()
        try write { db in
            try Self.markManifestsStale(staleManifests, in: db)
            try db.execute(sql: """
                UPDATE runs SET finished_at = ?, files_seen = ?, files_new = ?, files_duplicate = ?,
                    files_skipped = ?, files_failed = ?, outcome = ?, error = ? WHERE id = ?
                """, arguments: [now, counts.seen, counts.new, counts.duplicate, counts.skipped, counts.failed,
                                 outcome.rawValue, error, run])
            try db.execute(sql: "UPDATE units SET state = ?, updated_at = ? WHERE name = ?", arguments: [state.rawValue, now, unit])
        }
    }

    /// Runs that a crash (SIGKILL, power cut) left open are closed as `interrupted` and their
    /// units set back to `waiting`: their unrecorded files are pending, and the start-up
    /// catch-up takes them up. A run whose process is still alive (a `--reprocess` beside
    /// the daemon) is left alone. Returns how many runs were closed.
    @discardableResult
    public func closeRunsLeftOpen() throws(LedgerError) -> Int {
        let now = Self.now()
        return try write { db in
            let open = try Row.fetchAll(db, sql: "SELECT id, unit, pid FROM runs WHERE outcome IS NULL")
            let dead = open.filter { row in
                guard let pid = row["pid"] as Int32? else { return true }
                return kill(pid, 0) != 0 && errno == ESRCH
            }
            for row in dead {
                try db.execute(sql: "UPDATE runs SET finished_at = ?, outcome = 'interrupted' WHERE id = ?", arguments: [now, row["id"] as Int64])
                try db.execute(sql: "UPDATE units SET state = 'waiting', updated_at = ? WHERE name = ? AND state = 'processing'",
                               arguments: [now, row["unit"] as String])
            }
            return dead.count
        }
    }

    /// One closed or open run of a unit.
    public struct RunRecord: Sendable, Equatable {
        public let trigger: RunTrigger
        public let counts: RunCounts
        /// nil while the run is open (or when a crash ended it).
        public let outcome: RunOutcome?
        public let error: String?
    }

    /// Runs of a unit, oldest first.
    public func runs(of unit: String) throws(LedgerError) -> [RunRecord] {
        try read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM runs WHERE unit = ? ORDER BY id", arguments: [unit]).map { row in
                RunRecord(trigger: RunTrigger(rawValue: row["trigger"]) ?? .rescan,
                          counts: RunCounts(seen: row["files_seen"] ?? 0, new: row["files_new"] ?? 0, duplicate: row["files_duplicate"] ?? 0,
                                            skipped: row["files_skipped"] ?? 0, failed: row["files_failed"] ?? 0),
                          outcome: (row["outcome"] as String?).flatMap(RunOutcome.init(rawValue:)),
                          error: row["error"])
            }
        }
    }

    // MARK: Sources

    /// Every known path with its fingerprint and hash: what a rescan compares the disk with.
    public func sources(inUnit unit: String? = nil) throws(LedgerError) -> [String: SourceRecord] {
        try read { db in
            let cursor = unit == nil
                ? try Row.fetchCursor(db, sql: "SELECT * FROM sources")
                : try Row.fetchCursor(db, sql: "SELECT * FROM sources WHERE unit = ?", arguments: [unit])
            var result: [String: SourceRecord] = [:]
            while let row = try cursor.next() {
                let record = SourceRecord(
                    path: row["path"], unit: row["unit"],
                    fingerprint: Fingerprint(inode: UInt64(bitPattern: row["inode"]),
                                             size: row["size"], modifiedNanoseconds: row["mtime_ns"]),
                    sha256: row["sha256"])
                result[record.path] = record
            }
            return result
        }
    }

    /// Every known path's fingerprint, without its hash or unit: the seed of a full pass,
    /// read at every rescan. Built as `sources()` then mapped, a 100,000-file ledger's
    /// restart held both dictionaries and the hashes' strings at once (peak RSS 195-248 MB);
    /// here one dictionary, sized before it is filled.
    public func fingerprints() throws(LedgerError) -> [String: Fingerprint] {
        try read { db in
            var result: [String: Fingerprint] = [:]
            result.reserveCapacity(try Int.fetchOne(db, sql: "SELECT count(*) FROM sources") ?? 0)
            let cursor = try Row.fetchCursor(db, sql: "SELECT path, inode, size, mtime_ns FROM sources")
            while let row = try cursor.next() {
                result[row[0]] = Fingerprint(inode: UInt64(bitPattern: row[1]), size: row[2], modifiedNanoseconds: row[3])
            }
            return result
        }
    }

    public func paths(withContent sha256: String) throws(LedgerError) -> [String] {
        try read { db in
            try String.fetchAll(db, sql: "SELECT path FROM sources WHERE sha256 = ? ORDER BY path", arguments: [sha256])
        }
    }

    public func removeSources(_ paths: [String]) throws(LedgerError) {
        try write { db in
            for path in paths { try db.execute(sql: "DELETE FROM sources WHERE path = ?", arguments: [path]) }
        }
    }

    /// The unit's files that could not be read, by path: what each last failed with, and
    /// how many runs met it.
    public func unreadable(inUnit unit: String) throws(LedgerError) -> [String: (reason: String, attempts: Int, runs: Int)] {
        try read { db in
            var result: [String: (reason: String, attempts: Int, runs: Int)] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT * FROM unreadable WHERE unit = ?", arguments: [unit]) {
                result[row["path"]] = (row["reason"], row["attempts"], row["runs"])
            }
            return result
        }
    }

    /// Forgets the unreadable rows of `unit` whose paths are not in `present` (deleted, or
    /// no longer regular files).
    public func forgetUnreadable(inUnit unit: String, except present: Set<String>) throws(LedgerError) {
        try write { db in
            let paths = try String.fetchAll(db, sql: "SELECT path FROM unreadable WHERE unit = ?", arguments: [unit])
            for path in paths where !present.contains(path) {
                try db.execute(sql: "DELETE FROM unreadable WHERE path = ?", arguments: [path])
            }
        }
    }

    // MARK: Contents and outputs

    public func content(_ sha256: String) throws(LedgerError) -> ContentRecord? {
        // Nearly every lookup is of new content: one statement says so.
        guard try lookUp(.contentKnown, [sha256]) else { return nil }
        return try read { db in try Self.fetchContent(db, sha256) }
    }

    private static func fetchContent(_ db: Database, _ sha256: String) throws -> ContentRecord? {
        guard let row = try Row.fetchOne(db, sql: "SELECT * FROM contents WHERE sha256 = ?", arguments: [sha256]) else { return nil }
        let outputs = try String.fetchAll(db, sql: "SELECT path FROM outputs WHERE sha256 = ? ORDER BY path", arguments: [sha256])
        let images = try Row.fetchAll(db, sql: "SELECT * FROM image_quality WHERE sha256 = ? ORDER BY output", arguments: [sha256])
            .map(ImageQualityRecord.init(row:))
        return ContentRecord(sha256: row["sha256"], outcome: ContentRecord.Outcome(rawValue: row["outcome"]) ?? .failed,
                             reason: row["reason"], bucket: row["bucket"], directory: row["directory"], outputs: outputs,
                             configurationDigest: row["config_digest"], unit: row["unit"], images: images)
    }

    /// Units whose processed content was made under another configuration digest, with how
    /// many contents each: what a change of watch.yaml left as it was.
    public func unitsProcessed(underDigestOtherThan digest: String) throws(LedgerError) -> [(unit: String, contents: Int)] {
        try read { db in
            try Row.fetchAll(db, sql: """
                SELECT unit, count(*) AS n FROM contents WHERE outcome = 'processed' AND config_digest != ?
                GROUP BY unit ORDER BY unit
                """, arguments: [digest]).map { (unit: $0["unit"], contents: $0["n"]) }
        }
    }

    /// Every output the ledger names (relative to the output directory), with the content
    /// that made it, by path.
    public func outputs() throws(LedgerError) -> [(path: String, sha256: String)] {
        try read { db in
            // Through a cursor into an array sized first: `fetchAll` held a row object per
            // output besides the tuples (200,000 of each for a 100,000-image ledger).
            var result: [(path: String, sha256: String)] = []
            result.reserveCapacity(try Int.fetchOne(db, sql: "SELECT count(*) FROM outputs") ?? 0)
            let cursor = try Row.fetchCursor(db, sql: "SELECT path, sha256 FROM outputs ORDER BY path")
            while let row = try cursor.next() { result.append((path: row[0], sha256: row[1])) }
            return result
        }
    }

    /// Forgets these contents (their outputs and quality rows with them) and every path that
    /// held them: the next full pass finds those files new and processes them again. What
    /// `dicomdrop check --repair` does to content whose outputs went missing.
    public func requeue(contents hashes: [String]) throws(LedgerError) {
        try write { db in
            for sha256 in hashes {
                try db.execute(sql: "DELETE FROM sources WHERE sha256 = ?", arguments: [sha256])
                try db.execute(sql: "DELETE FROM image_quality WHERE sha256 = ?", arguments: [sha256])
                try db.execute(sql: "DELETE FROM instances WHERE sha256 = ?", arguments: [sha256])
                try db.execute(sql: "DELETE FROM outputs WHERE sha256 = ?", arguments: [sha256])
                try db.execute(sql: "DELETE FROM contents WHERE sha256 = ?", arguments: [sha256])
            }
        }
    }

    /// SQLite's `quick_check`: the damage it finds in the file's pages and indexes (at most
    /// `limit` lines), empty when there is none. Reads every page once.
    public func damage(limit: Int = 10) throws(LedgerError) -> [String] {
        try read { db in
            try String.fetchAll(db, sql: "PRAGMA quick_check(\(limit))").filter { $0 != "ok" }
        }
    }

    /// The outputs whose path starts with `prefix` (an ASCII folder name and its slash, such
    /// as `held/`), in path order: a range of the primary key, not every output's row.
    public func outputPaths(startingWith prefix: String) throws(LedgerError) -> [String] {
        precondition(prefix.utf8.last.map { $0 < 0x7F } ?? false && prefix.utf8.allSatisfy { $0 < 0x80 }, "an ASCII prefix")
        // Every text starting with the prefix sorts (bytewise, SQLite's BINARY collation) at
        // or after it and before the prefix with its last byte raised by one.
        var end = Array(prefix.utf8)
        end[end.count - 1] += 1
        let upper = String(decoding: end, as: UTF8.self)
        return try read { db in
            try String.fetchAll(db, sql: "SELECT path FROM outputs WHERE path >= ? AND path < ? ORDER BY path", arguments: [prefix, upper])
        }
    }

    /// The hash whose outputs include this path, if any.
    public func owner(ofOutput path: String) throws(LedgerError) -> String? {
        try readOneStatement { db in try String.fetchOne(db.cachedStatement(sql: "SELECT sha256 FROM outputs WHERE path = ?"), arguments: [path]) }
    }

    /// Whether any of `paths` is an output of a content other than `sha256`: the names a new
    /// output would take, asked in one read (each read takes a pooled connection and a
    /// shared lock, three per file when each name was asked alone).
    public func anyOutput(of paths: [String], ownedByOtherThan sha256: String) throws(LedgerError) -> Bool {
        guard !paths.isEmpty else { return false }
        // Two names (the image's and its held place) is the workers' lookup for every file.
        if paths.count == 2 { return try lookUp(.eitherOutputOwnedByOther, paths + [sha256]) }
        let sql = "SELECT EXISTS (SELECT 1 FROM outputs WHERE path IN (\(Array(repeating: "?", count: paths.count).joined(separator: ", "))) AND sha256 != ?)"
        let values: [(any DatabaseValueConvertible)?] = (paths + [sha256]).map { $0 }
        let arguments = StatementArguments(values)
        return try readOneStatement { db in try Bool.fetchOne(db.cachedStatement(sql: sql), arguments: arguments) ?? false }
    }

    /// One batch of results in one transaction: contents (replacing earlier records of the
    /// same hashes, outputs included) and sources. Committed after the outputs were renamed
    /// into place, so the ledger never points at a file that is not there.
    public func record(contents: [ContentRecord], sources: [SourceRecord], unreadable: [UnreadableRecord] = []) throws(LedgerError) {
        let now = Self.now()
        let columns = QualityFeatureNames.all
        let metadataWriter = metadataWriter.withLock { $0 }
        try write { db in
            // Prepared once per connection (GRDB's statement cache), not once per row: the
            // preparation was most of the ledger's time in a 2,000-file run.
            let deleteOutputs = try db.cachedStatement(sql: "DELETE FROM outputs WHERE sha256 = ?")
            let deleteQuality = try db.cachedStatement(sql: "DELETE FROM image_quality WHERE sha256 = ?")
            let upsertContent = try db.cachedStatement(sql: """
                INSERT INTO contents (sha256, outcome, reason, bucket, directory, config_digest, unit, processed_at, awaiting_validation)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT(sha256) DO UPDATE SET outcome = excluded.outcome, reason = excluded.reason,
                    bucket = excluded.bucket, directory = excluded.directory, config_digest = excluded.config_digest,
                    unit = excluded.unit, processed_at = excluded.processed_at, held_by_run = NULL,
                    awaiting_validation = excluded.awaiting_validation
                """)
            let deleteInstance = try db.cachedStatement(sql: "DELETE FROM instances WHERE sha256 = ?")
            let withdrawLabels = try db.cachedStatement(sql: "UPDATE annotations SET withdrawn_at = ? WHERE file_sha256 = ? AND withdrawn_at IS NULL")
            let insertOutput = try db.cachedStatement(sql: "INSERT OR REPLACE INTO outputs (path, sha256) VALUES (?, ?)")
            let insertQuality = try db.cachedStatement(sql: """
                INSERT OR REPLACE INTO image_quality (output, sha256, frame, \(columns.joined(separator: ", ")), model_score, suboptimal, reason)
                VALUES (?, ?, ?, \(Array(repeating: "?", count: columns.count).joined(separator: ", ")), ?, ?, ?)
                """)
            let insertUnit = try db.cachedStatement(sql: """
                INSERT INTO units (name, state, updated_at) VALUES (?, 'processing', ?) ON CONFLICT(name) DO NOTHING
                """)
            let upsertSource = try db.cachedStatement(sql: """
                INSERT INTO sources (path, unit, inode, size, mtime_ns, sha256, first_seen, last_seen)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT(path) DO UPDATE SET unit = excluded.unit, inode = excluded.inode,
                    size = excluded.size, mtime_ns = excluded.mtime_ns, sha256 = excluded.sha256,
                    last_seen = excluded.last_seen
                """)
            var writtenMetadata = MetadataRowWriter.WrittenRows()
            for content in contents {
                try deleteOutputs.execute(arguments: [content.sha256])
                try deleteQuality.execute(arguments: [content.sha256])
                try upsertContent.execute(arguments: [content.sha256, content.outcome.rawValue, content.reason, content.bucket,
                                                      content.directory, content.configurationDigest, content.unit, now,
                                                      content.awaitsValidation ? 1 : nil])
                if let annotations = content.annotations {
                    try Self.recordAnnotations(annotations, of: content.sha256, at: now, in: db)
                } else {
                    // Content that was an annotation file and is no longer read as one (a
                    // reprocess under another annotations.folder): its labels are withdrawn.
                    try withdrawLabels.execute(arguments: [now, content.sha256])
                }
                if let metadata = content.metadata {
                    try metadataWriter.record(metadata, sha256: content.sha256, in: db, written: &writtenMetadata)
                } else {
                    try deleteInstance.execute(arguments: [content.sha256])
                }
                try Self.recordPlainImage(of: content, in: db)
                for output in content.outputs {
                    try insertOutput.execute(arguments: [output, content.sha256])
                }
                for image in content.images {
                    var values: [MetadataValue?] = [.text(image.output), .text(content.sha256), .integer(Int64(image.frame))]
                    values += columns.map { image.features[$0].map(MetadataValue.real) }
                    values += [image.modelScore.map(MetadataValue.real), .integer(image.suboptimal ? 1 : 0), image.reason.map(MetadataValue.text)]
                    try insertQuality.execute(binding: values)
                }
            }
            for unit in Set(sources.map(\.unit)) {
                try insertUnit.execute(arguments: [unit, now])
            }
            let forgetUnreadable = try db.cachedStatement(sql: "DELETE FROM unreadable WHERE path = ?")
            for source in sources {
                try upsertSource.execute(arguments: [source.path, source.unit, Int64(bitPattern: source.fingerprint.inode), source.fingerprint.size,
                                                     source.fingerprint.modifiedNanoseconds, source.sha256, now, now])
                try forgetUnreadable.execute(arguments: [source.path])
            }
            let upsertUnreadable = try db.cachedStatement(sql: """
                INSERT INTO unreadable (path, unit, reason, attempts, runs, first_failed_at, last_failed_at)
                VALUES (?, ?, ?, ?, 1, ?, ?)
                ON CONFLICT(path) DO UPDATE SET unit = excluded.unit, reason = excluded.reason, attempts = excluded.attempts,
                    runs = runs + 1, last_failed_at = excluded.last_failed_at
                """)
            for file in unreadable {
                try upsertUnreadable.execute(arguments: [file.path, file.unit, file.reason, file.attempts, now, now])
            }
        }
    }
}

extension DatabaseMigrator {
    /// Runs the migrations. Two processes opening a new database at once (the daemon and a
    /// `sqlite3` or `--reprocess` beside it) can both see a migration as pending; the one
    /// that loses the write lock then fails on what the winner already did ("table already
    /// exists", "duplicate column name", "no such column" for a column dropped). Once the
    /// winner has committed, a second attempt finds the migration applied and does nothing;
    /// a real error fails every attempt and is thrown.
    func migrateRetrying(_ writer: some DatabaseWriter) throws {
        try Ledger.retryingLostSchemaRaces { try migrate(writer) }
    }
}

extension Ledger {
    /// Runs a schema change that another process may be making at the same moment (the
    /// migrations, the metadata columns): the loser of the write lock fails on what the
    /// winner did, and its next attempt finds the change made. A real error fails every
    /// attempt and is thrown.
    static func retryingLostSchemaRaces(_ body: () throws -> Void) throws {
        var attempt = 0
        while true {
            do {
                try body()
                return
            } catch let error as DatabaseError where attempt < 3 && error.resultCode == .SQLITE_ERROR {
                attempt += 1
            }
        }
    }
}

extension ImageQualityRecord {
    /// An `image_quality` row: its features by the names the table has columns for.
    init(row: Row) {
        self.init(output: row["output"], frame: row["frame"],
                  features: Dictionary(uniqueKeysWithValues: QualityFeatureNames.all.compactMap { name in
                      (row[name] as Double?).map { (name, $0) }
                  }),
                  modelScore: row["model_score"], suboptimal: row["suboptimal"] == 1, reason: row["reason"])
    }
}
