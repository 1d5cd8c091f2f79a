import Foundation
import GRDB

/// Webhook deliveries (migration v7): one row per event sent to one address, with how it
/// ended. Also the indexes the status server's lookups need.
extension Ledger {
    static func registerOperatorMigration(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v7: webhook deliveries, status lookups") { db in
            try db.execute(sql: """
                CREATE TABLE webhook_deliveries (
                    id INTEGER PRIMARY KEY,
                    url TEXT NOT NULL,
                    event TEXT NOT NULL,            -- unit_done, unit_failed, validation_failed, overflow, disk_full
                    unit TEXT,
                    attempts INTEGER NOT NULL,      -- requests made
                    status INTEGER,                 -- the last HTTP status, if one came back
                    outcome TEXT NOT NULL,          -- sending, delivered, failed, abandoned (shutdown)
                    error TEXT,                     -- the last attempt's failure
                    created_at TEXT NOT NULL,
                    finished_at TEXT
                );
                -- /api/images/{name}, and the dashboard's throughput chart.
                CREATE INDEX instances_by_name ON instances(name);
                CREATE INDEX contents_by_processed_at ON contents(processed_at);
                """)
        }
    }

    public enum DeliveryOutcome: String, Sendable {
        case sending, delivered, failed
        /// The daemon stopped before the delivery ended.
        case abandoned
    }

    /// A delivery begins: its row, `sending`.
    public func beginDelivery(url: String, event: String, unit: String?) throws(LedgerError) -> Int64 {
        let now = Self.timestamp(Date())
        return try write { db in
            try db.execute(sql: """
                INSERT INTO webhook_deliveries (url, event, unit, attempts, outcome, created_at) VALUES (?, ?, ?, 0, 'sending', ?)
                """, arguments: [url, event, unit, now])
            return db.lastInsertedRowID
        }
    }

    /// How far delivery `id` got: after each attempt, and once at its end (with `finished`).
    public func updateDelivery(_ id: Int64, attempts: Int, status: Int?, outcome: DeliveryOutcome, error: String?) throws(LedgerError) {
        let finished: String? = outcome == .sending ? nil : Self.timestamp(Date())
        try write { db in
            try db.execute(sql: """
                UPDATE webhook_deliveries SET attempts = ?, status = ?, outcome = ?, error = ?, finished_at = ? WHERE id = ?
                """, arguments: [attempts, status, outcome.rawValue, error, finished, id])
        }
    }

    public struct DeliveryRow: Sendable, Codable, Equatable {
        public let id: Int64
        public let url: String
        public let event: String
        public let unit: String?
        public let attempts: Int
        public let status: Int?
        public let outcome: String
        public let error: String?
        public let created: String
        public let finished: String?
    }

    /// Newest first.
    public func recentDeliveries(limit: Int) throws(LedgerError) -> [DeliveryRow] {
        try read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM webhook_deliveries ORDER BY id DESC LIMIT ?", arguments: [limit]).map {
                DeliveryRow(id: $0["id"], url: $0["url"], event: $0["event"], unit: $0["unit"], attempts: $0["attempts"],
                            status: $0["status"], outcome: $0["outcome"], error: $0["error"], created: $0["created_at"],
                            finished: $0["finished_at"])
            }
        }
    }
}
