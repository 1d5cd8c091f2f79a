import Foundation
import GRDB

/// One rule's result for one run (table `expectation_results`).
public struct ExpectationResult: Sendable, Equatable, Codable {
    public var rule: String
    /// The rule's kind, or `meta` for a rule on the results themselves.
    public var kind: String
    /// `warn` or `error`.
    public var severity: String
    public var checked: Int
    public var failed: Int
    /// Up to 20 names of instances that failed it.
    public var examples: [String]
    public var passed: Bool
    /// What was measured, in words (the share that passed, the bound it was held to).
    public var detail: String?

    public init(rule: String, kind: String, severity: String, checked: Int, failed: Int, examples: [String], passed: Bool,
                detail: String? = nil) {
        self.rule = rule
        self.kind = kind
        self.severity = severity
        self.checked = checked
        self.failed = failed
        self.examples = examples
        self.passed = passed
        self.detail = detail
    }
}

/// A run's verdict, in `runs.verdict`.
public enum RunVerdict: String, Sendable, Codable {
    case passed
    case failedValidation = "failed_validation"
}

/// A run's validation as stored: what `dicomdrop validate` prints.
public struct RunValidation: Sendable, Equatable, Codable {
    public let run: Int64
    public let unit: String
    public let finishedAt: String?
    public let verdict: RunVerdict
    public let results: [ExpectationResult]
    /// Images of the run waiting in `held`.
    public let held: Int
    public let releasedAt: String?
}

extension Ledger {
    /// The instances of `unit` recorded and not yet validated, whichever run recorded them.
    public func contentsAwaitingValidation(inUnit unit: String) throws(LedgerError) -> [String] {
        try read { db in
            try String.fetchAll(db, sql: "SELECT sha256 FROM contents WHERE unit = ? AND awaiting_validation = 1 ORDER BY sha256",
                                arguments: [unit])
        }
    }

    /// Stores a run's results and verdict, and clears `validated` from those awaiting
    /// validation, in one transaction.
    public func recordValidation(of run: Int64, results: [ExpectationResult], verdict: RunVerdict,
                                 validated: [String]) throws(LedgerError) {
        try write { db in
            let clear = try db.cachedStatement(sql: "UPDATE contents SET awaiting_validation = NULL WHERE sha256 = ?")
            for sha in validated { try clear.execute(arguments: [sha]) }
            try db.execute(sql: "DELETE FROM expectation_results WHERE run = ?", arguments: [run])
            let insert = try db.cachedStatement(sql: """
                INSERT INTO expectation_results (run, rule, kind, severity, checked, failed, examples, passed, detail)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                """)
            for result in results {
                let examples = String(decoding: try JSONEncoder().encode(result.examples), as: UTF8.self)
                try insert.execute(arguments: [run, result.rule, result.kind, result.severity, result.checked, result.failed, examples,
                                               result.passed, result.detail])
            }
            try db.execute(sql: "UPDATE runs SET verdict = ? WHERE id = ?", arguments: [verdict.rawValue, run])
        }
    }

    /// The validation of `run`, or of the latest validated run; nil when there is none.
    public func validation(ofRun run: Int64?) throws(LedgerError) -> RunValidation? {
        try read { db in
            let row = if let run {
                try Row.fetchOne(db, sql: "SELECT * FROM runs WHERE id = ? AND verdict IS NOT NULL", arguments: [run])
            } else {
                try Row.fetchOne(db, sql: "SELECT * FROM runs WHERE verdict IS NOT NULL ORDER BY id DESC LIMIT 1")
            }
            guard let row, let verdict = (row["verdict"] as String?).flatMap(RunVerdict.init(rawValue:)) else { return nil }
            let id: Int64 = row["id"]
            let results = try Row.fetchAll(db, sql: "SELECT * FROM expectation_results WHERE run = ? ORDER BY rowid", arguments: [id]).map { result in
                ExpectationResult(rule: result["rule"], kind: result["kind"], severity: result["severity"], checked: result["checked"],
                                  failed: result["failed"],
                                  examples: (try? JSONDecoder().decode([String].self, from: Data((result["examples"] as String).utf8))) ?? [],
                                  passed: result["passed"], detail: result["detail"])
            }
            let held = try Int.fetchOne(db, sql: "SELECT count(*) FROM contents WHERE held_by_run = ?", arguments: [id]) ?? 0
            return RunValidation(run: id, unit: row["unit"], finishedAt: row["finished_at"], verdict: verdict, results: results, held: held,
                                 releasedAt: row["released_at"])
        }
    }

    /// Whether a run with this id exists (validated or not).
    public func runExists(_ run: Int64) throws(LedgerError) -> Bool {
        try read { db in try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM runs WHERE id = ?)", arguments: [run]) ?? false }
    }

    /// `instance_overview`'s `columns` (and name, bucket) for these contents, in name order.
    public func overviewValues(of hashes: [String], columns: [String]) throws(LedgerError) -> [[String: MetadataValue]] {
        let selected = (["name", "bucket"] + columns).map(\.quotedDatabaseIdentifier).joined(separator: ", ")
        return try read { db in
            var rows: [[String: MetadataValue]] = []
            // SQLite binds at most 32,766 parameters; a run has at most a few thousand new files.
            for start in stride(from: 0, to: hashes.count, by: 500) {
                let chunk = Array(hashes[start..<min(start + 500, hashes.count)])
                let marks = Array(repeating: "?", count: chunk.count).joined(separator: ", ")
                for row in try Row.fetchAll(db, sql: "SELECT \(selected) FROM instance_overview WHERE sha256 IN (\(marks))",
                                            arguments: StatementArguments(chunk)) {
                    var values: [String: MetadataValue] = [:]
                    for (column, value) in row { values[column] = MetadataValue.fromDatabaseValue(value) }
                    rows.append(values)
                }
            }
            return rows.sorted { ($0["name"]?.text ?? "") < ($1["name"]?.text ?? "") }
        }
    }

    // MARK: Holding a run's images

    /// The outputs of the contents a hold would move (relative to the output directory):
    /// those of `hashes` that are in a bucket other than the reserved ones and not held.
    public func outputsToHold(_ hashes: [String], exceptBuckets reserved: [String]) throws(LedgerError) -> [String: [String]] {
        try read { db in
            var result: [String: [String]] = [:]
            for sha in hashes {
                guard let bucket = try String.fetchOne(db, sql: """
                    SELECT bucket FROM contents WHERE sha256 = ? AND outcome = 'processed' AND held_by_run IS NULL AND bucket IS NOT NULL
                    """, arguments: [sha]), !reserved.contains(bucket) else { continue }
                result[sha] = try String.fetchAll(db, sql: "SELECT path FROM outputs WHERE sha256 = ? ORDER BY path", arguments: [sha])
            }
            return result
        }
    }

    /// Records that `run` holds these contents: their outputs are now under `held/` (the
    /// files were linked there first) and their directory is `held/<directory>`.
    public func hold(_ hashes: [String], byRun run: Int64, prefix: String) throws(LedgerError) {
        try write { db in
            for sha in hashes {
                try db.execute(sql: "UPDATE outputs SET path = ? || path WHERE sha256 = ?", arguments: [prefix, sha])
                try db.execute(sql: "UPDATE image_quality SET output = ? || output WHERE sha256 = ?", arguments: [prefix, sha])
                try db.execute(sql: "UPDATE contents SET held_by_run = ?, directory = ? || coalesce(directory, bucket) WHERE sha256 = ?",
                               arguments: [run, prefix, sha])
            }
        }
    }

    /// The contents `run` holds, with their outputs (under `held/`).
    public func heldOutputs(ofRun run: Int64) throws(LedgerError) -> [String: [String]] {
        try read { db in
            var result: [String: [String]] = [:]
            for sha in try String.fetchAll(db, sql: "SELECT sha256 FROM contents WHERE held_by_run = ? ORDER BY sha256", arguments: [run]) {
                result[sha] = try String.fetchAll(db, sql: "SELECT path FROM outputs WHERE sha256 = ? ORDER BY path", arguments: [sha])
            }
            return result
        }
    }

    /// Records the release of `run`'s held contents: outputs back in their directories.
    public func release(_ hashes: [String], ofRun run: Int64, prefix: String) throws(LedgerError) {
        let now = Self.timestamp(Date())
        try write { db in
            let start = prefix.count + 1
            for sha in hashes {
                try db.execute(sql: "UPDATE outputs SET path = substr(path, ?) WHERE sha256 = ? AND substr(path, 1, ?) = ?",
                               arguments: [start, sha, prefix.count, prefix])
                try db.execute(sql: "UPDATE image_quality SET output = substr(output, ?) WHERE sha256 = ? AND substr(output, 1, ?) = ?",
                               arguments: [start, sha, prefix.count, prefix])
                try db.execute(sql: """
                    UPDATE contents SET held_by_run = NULL,
                        directory = CASE WHEN substr(directory, ?) = bucket THEN NULL ELSE substr(directory, ?) END
                    WHERE sha256 = ? AND held_by_run = ?
                    """, arguments: [start, start, sha, run])
            }
            try db.execute(sql: "UPDATE runs SET released_at = ? WHERE id = ?", arguments: [now, run])
        }
    }
}
