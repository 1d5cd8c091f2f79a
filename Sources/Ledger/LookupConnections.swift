import Glibc
import GRDB
import GRDBSQLite
import Synchronization

/// Read-only connections of their own for the one-statement lookups the workers make for
/// every file (is this content known, does an output name belong to another): one per
/// thread that asks, kept for it under a `Mutex` held for a dictionary lookup. One per
/// thread, not a shared free list, because SQLite drops a connection's page cache when a
/// lookup finds the ledger changed since its last one, and a cache filled by another thread
/// is freed into that thread's malloc arena under the arena's lock: with a free list, the
/// workers then waited on each other's arenas (16 futex sleeps, 200 ms in one run).
///
/// They went through GRDB's reader pool, whose `Pool.get` and `release` each take a
/// reader-writer lock made of a concurrent dispatch queue and a barrier: two workers met
/// there about 80 times in a 2,000-file run, and each time the one that lost slept on a futex
/// until the holder ran again, which could be after the commit thread (a higher priority
/// than the workers) had run: 467 ms of worker sleep in one such run, about 6 ms a meeting
/// (`perf record -e sched:sched_switch --call-graph dwarf`; docs/PERFORMANCE.md).
///
/// Each lookup is one statement, which SQLite runs in a snapshot of its own (autocommit): no
/// transaction around it. WAL lets these connections read while the ledger's writer writes.
///
/// The connections are SQLite's own, each with its two statements prepared once, not GRDB
/// queues: through a queue, a lookup went through a dispatch barrier, GRDB's statement cache
/// (the SQL hashed at every call), its argument conversion and a cursor, about half of the
/// lookups' 3.8% of a CT/MR run (perf, docs/PERFORMANCE.md).
final class LookupConnections: Sendable {
    /// Threads given a connection of their own, at most: the workers ask first and most
    /// (every file); a thread beyond them (a dispatch queue's, whose threads come and go over
    /// a daemon's months) reads through the pool instead, so that connections, each with its
    /// three open files and its page cache, cannot pile up.
    static let limit = 8

    private let path: String
    /// By thread (`pthread_self`): a thread's connection is used by it alone, so it is never
    /// in two lookups at once; it outlives its thread only until the ledger is released.
    private let connections = Mutex<[UInt: LookupConnection]>([:])

    init(path: String) {
        self.path = path
    }

    /// Whether `query` finds a row for `values` (bound in order), on the calling thread's
    /// connection, or through `beyondLimit` once `limit` threads have theirs.
    func exists(_ query: LookupQuery, _ values: [String], beyondLimit: () throws -> Bool) throws -> Bool {
        let thread = UInt(pthread_self())
        let (existing, full) = connections.withLock { ($0[thread], $0.count >= Self.limit) }
        if let existing { return try existing.exists(query, values) }
        if full { return try beyondLimit() }
        let connection = try LookupConnection(path: path)
        // Kept unless the limit was reached meanwhile; used for this lookup either way.
        connections.withLock { if $0.count < Self.limit { $0[thread] = connection } }
        return try connection.exists(query, values)
    }

    /// Connections opened so far (one per thread that looked something up).
    var count: Int { connections.withLock { $0.count } }
}

/// The workers' lookups: each one `SELECT EXISTS (...)` with text parameters.
enum LookupQuery: Int, CaseIterable {
    /// Is this content (SHA-256) recorded?
    case contentKnown
    /// Is either of two output paths the output of a content other than this one?
    case eitherOutputOwnedByOther

    var sql: String {
        switch self {
        case .contentKnown:
            "SELECT EXISTS (SELECT 1 FROM contents WHERE sha256 = ?)"
        case .eitherOutputOwnedByOther:
            // Two index lookups: `path IN (?, ?)` built an ephemeral table of the two paths at
            // every run (OpenEphemeral in its EXPLAIN) before looking them up.
            """
            SELECT EXISTS (SELECT 1 FROM outputs WHERE path = ?1 AND sha256 != ?3)
                OR EXISTS (SELECT 1 FROM outputs WHERE path = ?2 AND sha256 != ?3)
            """
        }
    }
}

/// Why a lookup on SQLite's own connection failed: its result code and message.
struct LookupError: Error, CustomStringConvertible {
    let code: Int32
    let message: String
    var description: String { "SQLite error \(code): \(message)" }
}

/// One read-only SQLite connection and its prepared lookups, used by one thread only (the
/// `Mutex` of `LookupConnections` hands it to no other), hence `@unchecked Sendable`.
final class LookupConnection: @unchecked Sendable {
    private var handle: OpaquePointer?
    /// Prepared on first use, by `LookupQuery.rawValue`.
    private var statements: [OpaquePointer?] = Array(repeating: nil, count: LookupQuery.allCases.count)

    init(path: String) throws {
        let code = sqlite3_open_v2(path, &handle, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, nil)
        guard code == SQLITE_OK else {
            let error = LookupError(code: code, message: handle.map { String(cString: sqlite3_errmsg($0)) } ?? "cannot open \(path)")
            sqlite3_close_v2(handle)
            throw error
        }
        // As the ledger's own connections: a writer's checkpoint or a recovery in progress
        // is waited for, up to 10 s, rather than failing the lookup.
        sqlite3_busy_timeout(handle, 10_000)
    }

    deinit {
        for statement in statements { sqlite3_finalize(statement) }
        sqlite3_close_v2(handle)
    }

    func exists(_ query: LookupQuery, _ values: [String]) throws -> Bool {
        let statement = try prepared(query)
        // Reset at once: a statement left stepping would hold its read snapshot, and the
        // writer's checkpoints could not get past it.
        defer {
            sqlite3_reset(statement)
            sqlite3_clear_bindings(statement)
        }
        for (index, value) in values.enumerated() {
            let code = sqlite3_bind_text(statement, Int32(index + 1), value, -1, copiedWhileBinding)
            guard code == SQLITE_OK else { throw failure(code) }
        }
        let code = sqlite3_step(statement)
        guard code == SQLITE_ROW else { throw failure(code) }
        return sqlite3_column_int(statement, 0) != 0
    }

    private func prepared(_ query: LookupQuery) throws -> OpaquePointer {
        if let statement = statements[query.rawValue] { return statement }
        var statement: OpaquePointer?
        let code = sqlite3_prepare_v3(handle, query.sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &statement, nil)
        guard code == SQLITE_OK, let statement else { throw failure(code) }
        statements[query.rawValue] = statement
        return statement
    }

    private func failure(_ code: Int32) -> LookupError {
        LookupError(code: code, message: String(cString: sqlite3_errmsg(handle)))
    }
}
