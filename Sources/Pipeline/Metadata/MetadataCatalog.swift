import DICOM
import Foundation
import Ledger

/// Which attributes become columns of which metadata table, and how a dataset's values
/// become those columns' values. The attributes are `InformationModel`'s (the PS3.3
/// modules, one list) plus watch.yaml's `extra_columns`, which go to `instances`; each
/// column's type follows the dictionary's VR and VM.
struct MetadataCatalog: Sendable {
    struct Attribute: Sendable, Equatable {
        let keyword: String
        let tag: Tag
        let table: MetadataTable
        let kind: AttributeColumnKind
        /// VM other than 1: the values as a JSON array.
        let multiValued: Bool
    }

    let attributes: [Attribute]
    /// The ledger's columns the rows are laid out by, and each attribute's place in them
    /// (table index, position), once `bound(to:)`.
    private(set) var layout = MetadataLayout(columns: [:])
    private var places: [(table: Int, position: Int)?] = []
    /// Whether the Device Serial Number is stored. The de-identified dataset holds a
    /// pseudonym of it unless device identity is retained; the tables hold it only then.
    let keepsDeviceSerialNumber: Bool

    /// `extraColumns`: keywords the configuration checked (known, one column's value);
    /// those the modules already list are not added twice.
    init(extraColumns: [String] = [], keepsDeviceSerialNumber: Bool = false) {
        self.keepsDeviceSerialNumber = keepsDeviceSerialNumber
        var attributes: [Attribute] = []
        var seen: Set<String> = []
        let listed = InformationModel.modules.flatMap { module in module.keywords.map { ($0, Self.table(for: module.entity)) } }
        for (keyword, table) in listed + extraColumns.map({ ($0, MetadataTable.instances) }) where seen.insert(keyword).inserted {
            guard let entry = StandardDictionary.entry(forKeyword: keyword), let (kind, multiValued) = AttributeColumnKind.of(entry) else {
                continue  // the catalog test proves every listed keyword resolves; the loader checks the extra ones
            }
            attributes.append(Attribute(keyword: keyword, tag: entry.tag, table: table, kind: kind, multiValued: multiValued))
        }
        self.attributes = attributes
    }

    static func table(for entity: InformationEntity) -> MetadataTable {
        switch entity {
        case .patient: .patients
        case .study: .studies
        case .series: .series
        case .equipment: .devices
        case .image: .instances
        }
    }

    var columns: [MetadataColumn] {
        attributes.map { attribute in
            let type: MetadataColumnType = switch attribute.kind {
            case _ where attribute.multiValued: .text
            case .integer: .integer
            case .real: .real
            case .text, .date, .time, .dateTime: .text
            }
            return MetadataColumn(table: attribute.table, name: attribute.keyword, type: type)
        }
    }

    /// The catalog writing rows laid out as the ledger's tables are (after
    /// `Ledger.prepareMetadataColumns(columns)`, every attribute has its column).
    func bound(to layout: MetadataLayout) -> MetadataCatalog {
        var bound = self
        bound.layout = layout
        bound.places = attributes.map { attribute in
            guard attribute.keyword != "DeviceSerialNumber" || keepsDeviceSerialNumber,
                  let position = layout.position(of: attribute.keyword, in: attribute.table) else { return nil }
            return (attribute.table.index, position)
        }
        return bound
    }

    /// The rows of one instance: every attribute with a value, converted to its column's type.
    func metadata(of values: some AttributeValues, name: String) -> InstanceMetadata {
        var rows = layout.emptyRows()
        for (attribute, place) in zip(attributes, places) {
            guard let place, let value = Self.value(of: attribute, in: values) else { continue }
            rows[place.table][place.position] = value
        }
        return InstanceMetadata(rows: rows, name: name)
    }

    static func value(of attribute: Attribute, in values: some AttributeValues) -> MetadataValue? {
        switch attribute.kind {
        case .integer:
            let numbers = (values.numbers(attribute.tag) ?? []).compactMap { Int64(exactly: $0) }
            guard let first = numbers.first else { return nil }
            return attribute.multiValued ? .text(JSONArray.of(numbers.map { "\($0)" })) : .integer(first)
        case .real:
            let numbers = (values.numbers(attribute.tag) ?? []).filter(\.isFinite)
            guard let first = numbers.first else { return nil }
            return attribute.multiValued ? .text(JSONArray.of(numbers.map { "\($0)" })) : .real(first)
        case .text, .date, .time, .dateTime:
            let texts = (values.texts(attribute.tag) ?? []).map { text in
                switch attribute.kind {
                case .date: ISO8601Text.date(text)
                case .time: ISO8601Text.time(text)
                case .dateTime: ISO8601Text.dateTime(text)
                default: text
                }
            }
            guard let first = texts.first(where: { !$0.isEmpty }) else { return nil }
            return .text(attribute.multiValued ? JSONArray.of(texts.map(JSONArray.quoted)) : first)
        }
    }
}

/// A JSON array of values already encoded (numbers, or strings quoted by `quoted`).
enum JSONArray {
    static func of(_ encoded: [String]) -> String { "[" + encoded.joined(separator: ",") + "]" }

    static func quoted(_ text: String) -> String {
        var result = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": result += "\\\""
            case "\\": result += "\\\\"
            case "\n": result += "\\n"
            case "\r": result += "\\r"
            case "\t": result += "\\t"
            case _ where scalar.value < 0x20: result += String(format: "\\u%04x", scalar.value)
            default: result.unicodeScalars.append(scalar)
            }
        }
        return result + "\""
    }
}
