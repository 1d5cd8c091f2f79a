/// The metadata tables of the ledger, one per information entity, keyed by the
/// pseudonymized identifiers the de-identified datasets carry.
public enum MetadataTable: String, CaseIterable, Sendable {
    case patients, studies, series, devices, instances

    /// The columns every table has whatever the catalog says: its key and the keys of the
    /// rows it points to. A catalog column of the same name is this column.
    static let keyColumns: [MetadataTable: [String]] = [
        .patients: ["PatientID"],
        .studies: ["StudyInstanceUID", "PatientID"],
        .series: ["SeriesInstanceUID", "StudyInstanceUID", "device_id"],
        .devices: ["id", "device_key"],
        .instances: ["sha256", "SeriesInstanceUID", "name"],
    ]
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
}

/// The metadata of one instance, from its de-identified dataset: the values of each table's
/// columns, by column name (absent: NULL).
public struct InstanceMetadata: Sendable, Equatable {
    public var values: [MetadataTable: [String: MetadataValue]]
    /// The output base name (`<name>.png`, `<name>.json`).
    public var name: String

    public init(values: [MetadataTable: [String: MetadataValue]], name: String) {
        self.values = values
        self.name = name
    }

    /// The text of a key column, if present.
    func key(_ table: MetadataTable, _ column: String) -> String? {
        if case .text(let text)? = values[table]?[column] { return text }
        return nil
    }
}
