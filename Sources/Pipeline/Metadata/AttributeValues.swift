import DICOM
import Foundation

/// The values of a dataset's top-level attributes as the metadata tables and the filters
/// read them: text for string VRs, numbers for numeric ones. Two sources: a dataset in
/// memory, and a DICOM JSON sidecar already written (what a ledger made before the tables
/// is filled from).
protocol AttributeValues {
    /// The text values (padding removed; a person name's alphabetic group), nil when absent.
    func texts(_ tag: Tag) -> [String]?
    /// The numeric values, nil when absent or not numbers.
    func numbers(_ tag: Tag) -> [Double]?
}

extension DataSet: AttributeValues {
    func texts(_ tag: Tag) -> [String]? {
        // A value whose VR is not a string VR (UN, OB left by a damaged file) is bytes, not text.
        guard let element = self[tag], element.vr.holdsText else { return nil }
        return strings(tag)
    }

    func numbers(_ tag: Tag) -> [Double]? {
        doubles(tag)
    }
}

extension VR {
    /// String VRs whose values a column can hold as text.
    var holdsText: Bool {
        switch self {
        case .AE, .AS, .CS, .DA, .DS, .DT, .IS, .LO, .LT, .PN, .SH, .ST, .TM, .UC, .UI, .UR, .UT: true
        default: false
        }
    }
}

/// A DICOM JSON object (PS3.18 F.2) read back: `{"00100020": {"vr": "LO", "Value": [...]}}`.
struct SidecarAttributes: AttributeValues {
    private let object: [String: Any]

    enum Failure: Error, CustomStringConvertible {
        case notAnObject
        var description: String { "not a DICOM JSON object" }
    }

    init(json: Data) throws {
        guard let object = try JSONSerialization.jsonObject(with: json) as? [String: Any] else { throw Failure.notAnObject }
        self.object = object
    }

    private func values(_ tag: Tag) -> [Any]? {
        (object[tag.jsonKey] as? [String: Any])?["Value"] as? [Any]
    }

    func texts(_ tag: Tag) -> [String]? {
        values(tag)?.compactMap { value in
            switch value {
            case let text as String: text
            case let name as [String: Any]: name["Alphabetic"] as? String
            case let number as NSNumber: number.stringValue
            // An empty value among several is written as null (PS3.18 F.2.5): keeping its
            // place keeps the array the dataset's.
            case is NSNull: ""
            default: nil
            }
        }
    }

    func numbers(_ tag: Tag) -> [Double]? {
        values(tag)?.compactMap { value in
            switch value {
            case let number as NSNumber: number.doubleValue
            case let text as String: Double(text.trimmingCharacters(in: .whitespaces))
            default: nil
            }
        }
    }
}
