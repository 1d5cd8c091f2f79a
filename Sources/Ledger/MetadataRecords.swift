import Foundation

/// The metadata tables of the ledger, one per information entity, keyed by the
/// pseudonymized identifiers the de-identified datasets carry.
public enum MetadataTable: String, CaseIterable, Sendable {
    case patients, studies, series, devices, instances
}

/// A column's SQLite type. Dates and times are ISO 8601 text; several values are a JSON
/// array in a text column.
public enum MetadataColumnType: String, Sendable {
    case text = "TEXT", integer = "INTEGER", real = "REAL"
}

/// One attribute's column in one metadata table.
public struct MetadataColumn: Sendable, Hashable {
    public var table: MetadataTable
    /// The attribute's keyword (`ViewPosition`): a column name, always quoted in SQL.
    public var name: String
    public var type: MetadataColumnType

    public init(table: MetadataTable, name: String, type: MetadataColumnType) {
        self.table = table
        self.name = name
        self.type = type
    }
}

/// One column's value.
public enum MetadataValue: Sendable, Equatable {
    case text(String)
    case integer(Int64)
    case real(Double)

    /// The value as text (a CSV field, a device key).
    public var text: String {
        switch self {
        case .text(let text): text
        case .integer(let number): "\(number)"
        case .real(let number): "\(number)"
        }
    }
}

/// The metadata tables' columns as this process writes them: each table's column names in
/// the table's order (`MetadataLayout.columns`), and where the keys are. Made once at
/// start-up (`Ledger.metadataLayout`), so that each instance's rows are arrays filled by
/// position and each table's statement is built once.
public struct MetadataLayout: Sendable, Equatable {
    /// Column names per table, by `MetadataTable.index`.
    public let columns: [[String]]

    public init(columns: [MetadataTable: [String]]) {
        self.columns = MetadataTable.allCases.map { columns[$0] ?? [] }
    }

    /// The position of a column in its table's row, if the table has it (case-insensitive,
    /// as SQLite's names are).
    public func position(of column: String, in table: MetadataTable) -> Int? {
        columns[table.index].firstIndex { $0.caseInsensitiveCompare(column) == .orderedSame }
    }

    /// Rows of NULLs, one per table.
    public func emptyRows() -> [[MetadataValue?]] {
        columns.map { Array(repeating: nil, count: $0.count) }
    }
}

extension MetadataTable {
    /// The table's place in `MetadataTable.allCases` (and in a layout's arrays).
    public var index: Int {
        switch self {
        case .patients: 0
        case .studies: 1
        case .series: 2
        case .devices: 3
        case .instances: 4
        }
    }
}

/// The metadata of one instance, from its de-identified dataset: each table's row, by
/// position in the layout it was made with (nil: NULL). Key and link columns are the
/// ledger's to fill.
public struct InstanceMetadata: Sendable, Equatable {
    public var rows: [[MetadataValue?]]
    /// The output base name (`<name>.png`, `<name>.json`).
    public var name: String

    public init(rows: [[MetadataValue?]], name: String) {
        self.rows = rows
        self.name = name
    }
}
