@preconcurrency import Glibc
import Foundation
import GRDB
import Shared

/// original -> pseudonym, per kind (patient, accession, uid, ...): the only way back from a
/// de-identified output to its source. A SQLite file of its own, mode 0600, apart from the
/// ledger, so that the ledger and the outputs can be shared without it.
public final class PseudonymMap: Sendable {
    private let queue: DatabaseQueue
    public let path: URL

    public init(path: URL) throws(Ledger.LedgerError) {
        self.path = path
        do {
            try FileManager.default.createDirectory(at: path.deletingLastPathComponent(), withIntermediateDirectories: true)
            // Created 0600 before SQLite opens it; SQLite gives its journal the same mode.
            let descriptor = open(path.path, O_WRONLY | O_CREAT | O_CLOEXEC, 0o600)
            if descriptor >= 0 { close(descriptor) }
            chmod(path.path, 0o600)
            var configuration = Configuration()
            configuration.busyMode = .timeout(10)
            queue = try DatabaseQueue(path: path.path, configuration: configuration)
            // Write-ahead log, each commit synced (FULL, not GRDB's WAL default NORMAL: the
            // map must be on disk before the outputs it explains are). The rollback journal
            // copied every page's old content first and synced the journal and the file
            // apart: a 2,000-file run made 6,600 writes and 90 syncs more that way.
            try queue.writeWithoutTransaction { db in
                _ = try String.fetchOne(db, sql: "PRAGMA journal_mode = WAL")
                try db.execute(sql: "PRAGMA synchronous = FULL")
            }
            try Self.migrate(queue)
        } catch {
            throw .cannotOpen(path: path.path, reason: "\(error)")
        }
    }

    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1: pseudonyms") { db in
            try db.execute(sql: """
                CREATE TABLE pseudonyms (
                    kind TEXT NOT NULL,             -- patient, accession, uid, or the attribute's tag
                    original TEXT NOT NULL,
                    pseudonym TEXT NOT NULL,
                    first_seen TEXT NOT NULL,
                    PRIMARY KEY (kind, original)
                );
                CREATE INDEX pseudonyms_by_pseudonym ON pseudonyms(pseudonym);
                """)
        }
        return migrator
    }

    /// As the ledger's: a second process opening the file at once retries once the first
    /// has committed.
    static func migrate(_ writer: some DatabaseWriter) throws {
        try migrator.migrateRetrying(writer)
    }

    /// The pseudonym recorded for an original value of a kind (`uid`, `patient`), if any.
    public func pseudonym(of original: String, kind: String) throws(Ledger.LedgerError) -> String? {
        do {
            return try queue.read { db in
                try String.fetchOne(db.cachedStatement(sql: "SELECT pseudonym FROM pseudonyms WHERE kind = ? AND original = ?"),
                                    arguments: [kind, original])
            }
        } catch {
            throw .database("\(error)")
        }
    }

    /// Records mappings not yet known, in one transaction.
    public func record(_ entries: [PseudonymMapping]) throws(Ledger.LedgerError) {
        guard !entries.isEmpty else { return }
        let now = UTCTimestamp.string(Date())
        do {
            try queue.write { db in
                let insert = try db.cachedStatement(sql: "INSERT OR IGNORE INTO pseudonyms (kind, original, pseudonym, first_seen) VALUES (?, ?, ?, ?)")
                for entry in entries {
                    try insert.execute(arguments: [entry.kind, entry.original, entry.pseudonym, now])
                }
            }
        } catch {
            throw .database("\(error)")
        }
    }
}
