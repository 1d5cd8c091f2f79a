import GRDB
import GRDBSQLite

/// SQLite's "copy the bytes while binding" destructor: the SQLITE_TRANSIENT macro, which Swift
/// does not import.
let copiedWhileBinding = unsafeBitCast(OpaquePointer(bitPattern: -1), to: sqlite3_destructor_type.self)

extension Statement {
    /// Runs the statement with `values` bound to its parameters in order, each straight
    /// through SQLite's bind call. Through GRDB, arguments of more than 20 values are made by
    /// a generic map over existentials and checked against the statement at every run: the
    /// metadata rows (up to 70 values a table, five tables a file) and the quality rows spent
    /// about as much there as in SQLite (docs/PERFORMANCE.md). The statement must have
    /// exactly `values.count` parameters, all positional: the caller built its SQL for them;
    /// a mismatch is an error, as GRDB's own check makes it, never a crash.
    func execute(binding values: [MetadataValue?]) throws {
        let parameters = Int(sqlite3_bind_parameter_count(sqliteStatement))
        guard values.count == parameters else {
            throw DatabaseError(resultCode: .SQLITE_MISUSE, message: "\(values.count) values for \(parameters) parameters", sql: sql)
        }
        // Resets the statement and clears its bindings; GRDB then takes them as set.
        setUncheckedArguments(StatementArguments())
        for (index, value) in values.enumerated() {
            let position = Int32(index + 1)
            let code: Int32 = switch value {
            case .text(let text)?: sqlite3_bind_text(sqliteStatement, position, text, -1, copiedWhileBinding)
            case .integer(let number)?: sqlite3_bind_int64(sqliteStatement, position, number)
            case .real(let number)?: sqlite3_bind_double(sqliteStatement, position, number)
            case nil: sqlite3_bind_null(sqliteStatement, position)
            }
            guard code == SQLITE_OK else {
                throw DatabaseError(resultCode: ResultCode(rawValue: code), message: "cannot bind value \(position)", sql: sql)
            }
        }
        try execute()
    }
}
