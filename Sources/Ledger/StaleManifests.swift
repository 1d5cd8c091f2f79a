import Foundation
import GRDB
@preconcurrency import Glibc

/// Bucket directories whose `manifest.csv` no longer says what the ledger holds. A run marks
/// the directories it changed when it is closed, and their manifests are written later, once
/// per burst of runs: rewriting a directory's whole manifest after every run made N runs into
/// one directory (N loose files) cost O(N²). The marks are rows, not memory, so that a crash
/// between a run's close and the rewrite leaves them for the next start to write.
extension Ledger {
    static func registerStaleManifestsMigration(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v10: stale manifests") { db in
            try db.execute(sql: """
                CREATE TABLE stale_manifests (
                    -- A new id at every mark (AUTOINCREMENT never reuses one): a rewrite clears
                    -- only the marks it read, never one another process made after its read.
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    directory TEXT NOT NULL UNIQUE  -- relative to the output directory
                );
                """)
        }
    }

    /// A directory whose manifest is to be written again, and its mark.
    public struct StaleManifest: Sendable, Equatable {
        public let directory: String
        let mark: Int64
    }

    /// Marks the manifests of `directories` stale.
    public func markManifestsStale(_ directories: Set<String>) throws(LedgerError) {
        guard !directories.isEmpty else { return }
        try write { db in try Self.markManifestsStale(directories, in: db) }
    }

    /// In the caller's transaction (a run's close).
    static func markManifestsStale(_ directories: Set<String>, in db: Database) throws {
        let statement = try db.cachedStatement(sql: "INSERT OR REPLACE INTO stale_manifests (directory) VALUES (?)")
        for directory in directories.sorted() { try statement.execute(arguments: [directory]) }
    }

    /// Every manifest marked stale, by directory.
    public func staleManifests() throws(LedgerError) -> [StaleManifest] {
        try read { db in
            try Row.fetchAll(db, sql: "SELECT directory, id FROM stale_manifests ORDER BY directory").map {
                StaleManifest(directory: $0["directory"], mark: $0["id"])
            }
        }
    }

    /// Runs `body` while this process alone, of all that share the ledger, writes manifests:
    /// an exclusive flock(2) on `<ledger>.manifests.lock`. Reading the marks, writing the
    /// files and clearing the marks happen under it, so two processes (a daemon and a
    /// `--reprocess`) cannot rename their manifests in the opposite order from their reads,
    /// which left the older one in place and its mark cleared. The lock is waited for up to
    /// `seconds` (polled, so that the daemon's loop is never held longer by another process
    /// writing many manifests, or stuck on a hung output filesystem); then this throws
    /// without running `body`, and the marks wait for the next try. The kernel drops a dead
    /// process's lock.
    public func whileWritingManifests<T>(waitingUpTo seconds: Double = 10, _ body: () -> T) throws(LedgerError) -> T {
        let path = pool.path + ".manifests.lock"
        let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw .cannotOpen(path: path, reason: String(cString: strerror(errno))) }
        defer { close(descriptor) }  // closing the only descriptor releases the lock
        let deadline = Date().addingTimeInterval(seconds)
        while flock(descriptor, LOCK_EX | LOCK_NB) != 0 {
            let error = errno
            guard error == EWOULDBLOCK || error == EINTR else {
                throw .cannotOpen(path: path, reason: String(cString: strerror(error)))
            }
            guard Date() < deadline else {
                throw .database("another process has been writing manifests for \(seconds) s (it holds \(path)); tried again later")
            }
            usleep(10_000)
        }
        return body()
    }

    /// Clears the marks of manifests written since `staleManifests()` read them; a directory
    /// marked again meanwhile (another process's run) keeps its newer mark.
    public func clearStaleManifests(_ written: [StaleManifest]) throws(LedgerError) {
        guard !written.isEmpty else { return }
        try write { db in
            let statement = try db.cachedStatement(sql: "DELETE FROM stale_manifests WHERE directory = ? AND id = ?")
            for manifest in written { try statement.execute(arguments: [manifest.directory, manifest.mark]) }
        }
    }
}
