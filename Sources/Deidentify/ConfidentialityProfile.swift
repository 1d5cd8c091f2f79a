import DICOM

/// PS3.15 Annex E Table E.1-1: what the Basic Application Level Confidentiality Profile does
/// to each attribute, and how each option changes it. The table is generated
/// (scripts/generate-deidentification-profile) from the standard's own table.
public enum ConfidentialityProfile {
    /// The action codes of Table E.1-1 (PS3.15 E.3.1).
    public enum Action: Sendable, Equatable {
        /// Replace with a non-zero length dummy value consistent with the VR.
        case dummy
        /// Replace with a zero-length value.
        case zero
        /// Remove.
        case remove
        /// Keep.
        case keep
        /// Clean: replace with values of similar meaning known not to identify.
        case clean
        /// Replace the UID with another, consistent within the set.
        case replaceUID

        /// A combined code (X/Z, X/D, Z/D, X/Z/D, X/Z/U*) lets the choice depend on the
        /// attribute's type in its IOD, which a file-by-file de-identifier does not know.
        /// The most conservative choice for IOD conformance is taken: a Type 1 attribute
        /// must keep a value (D, U), a Type 2 must stay present (Z); neither keeps the
        /// original value.
        init?(code: Substring) {
            switch code {
            case "D", "X/D", "Z/D", "X/Z/D": self = .dummy
            case "Z", "X/Z": self = .zero
            case "X": self = .remove
            case "K": self = .keep
            case "C": self = .clean
            case "U", "X/Z/U*": self = .replaceUID
            default: return nil
            }
        }
    }

    /// The profile's options (PS3.15 E.3.2-E.3.11), in the column order of the generated table.
    public enum Option: String, Sendable, CaseIterable, Codable {
        case retainSafePrivate = "retain_safe_private"
        case retainUIDs = "retain_uids"
        case retainDeviceIdentity = "retain_device_identity"
        case retainInstitutionIdentity = "retain_institution_identity"
        case retainPatientCharacteristics = "retain_patient_characteristics"
        case retainLongitudinalFullDates = "retain_longitudinal_full_dates"
        case retainLongitudinalModifiedDates = "retain_longitudinal_modified_dates"
        case cleanDescriptors = "clean_descriptors"
        case cleanStructuredContent = "clean_structured_content"
        case cleanGraphics = "clean_graphics"

        /// CID 7050 code and meaning, for the De-identification Method Code Sequence.
        public var code: (value: String, meaning: String) {
            switch self {
            case .retainSafePrivate: ("113111", "Retain Safe Private Option")
            case .retainUIDs: ("113110", "Retain UIDs Option")
            case .retainDeviceIdentity: ("113109", "Retain Device Identity Option")
            case .retainInstitutionIdentity: ("113112", "Retain Institution Identity Option")
            case .retainPatientCharacteristics: ("113108", "Retain Patient Characteristics Option")
            case .retainLongitudinalFullDates: ("113106", "Retain Longitudinal Temporal Information Full Dates Option")
            case .retainLongitudinalModifiedDates: ("113107", "Retain Longitudinal Temporal Information Modified Dates Option")
            case .cleanDescriptors: ("113105", "Clean Descriptors Option")
            case .cleanStructuredContent: ("113104", "Clean Structured Content Option")
            case .cleanGraphics: ("113103", "Clean Graphics Option")
            }
        }
    }

    public static let basicProfileCode = (value: "113100", meaning: "Basic Application Confidentiality Profile")

    /// One row of Table E.1-1.
    public struct Rule: Sendable {
        public let tag: Tag
        let groupMask: UInt16
        let elementMask: UInt16
        public let basic: Action
        /// What each option says, where it says anything.
        public let options: [Option: Action]
        public let name: String

        func matches(_ candidate: Tag) -> Bool {
            candidate.group & groupMask == tag.group && candidate.element & elementMask == tag.element
        }

        /// The action with `selected` options: an option's action replaces the basic one;
        /// of two options that speak, keeping beats cleaning.
        public func action(with selected: Set<Option>) -> Action {
            let spoken = selected.compactMap { options[$0] }
            if spoken.contains(.keep) { return .keep }
            if spoken.contains(.clean) { return .clean }
            return basic
        }
    }

    /// Every row, parsed once.
    public static let rules: [Rule] = tableText.split(separator: "\n").map { line in
        let fields = line.split(separator: "|", omittingEmptySubsequences: false)
        let option = Array(fields[4])
        var options: [Option: Action] = [:]
        for (index, column) in Option.allCases.enumerated() where option[index] != "-" {
            options[column] = Action(code: Substring(String(option[index])))
        }
        return Rule(tag: Tag(UInt16(fields[0].prefix(4), radix: 16)!, UInt16(fields[0].suffix(4), radix: 16)!),
                    groupMask: UInt16(fields[1], radix: 16)!, elementMask: UInt16(fields[2], radix: 16)!,
                    basic: Action(code: fields[3])!, options: options, name: String(fields[5]))
    }

    private static let exactRules: [Tag: Rule] = Dictionary(
        rules.filter { $0.groupMask == 0xFFFF && $0.elementMask == 0xFFFF }.map { ($0.tag, $0) },
        uniquingKeysWith: { first, _ in first })
    private static let maskedRules = rules.filter { $0.groupMask != 0xFFFF || $0.elementMask != 0xFFFF }

    /// The row for `tag`, if Table E.1-1 lists it.
    public static func rule(for tag: Tag) -> Rule? {
        exactRules[tag] ?? maskedRules.first { $0.matches(tag) }
    }

    /// Table E.1-1's action for each tag under one set of options, resolved once: looked up
    /// element after element, `rule(for:)` copied a row out (its options and name retained
    /// and released) and, for the many elements the table does not list, every masked row
    /// tried (0.7% of a CT/MR run's samples). The same rows in the same order: the first
    /// exact row of a tag, else the first masked row that matches.
    public struct ActionTable: Sendable {
        private struct Masked: Sendable {
            let mask: UInt32
            let value: UInt32
            let action: Action
        }

        private let exact: [UInt32: Action]
        private let masked: [Masked]

        public init(options: Set<Option>) {
            exact = exactRules.reduce(into: [:]) { table, entry in table[entry.key.rawValue] = entry.value.action(with: options) }
            masked = maskedRules.map { rule in
                Masked(mask: UInt32(rule.groupMask) << 16 | UInt32(rule.elementMask), value: rule.tag.rawValue,
                       action: rule.action(with: options))
            }
        }

        /// The action for `tag`, or nil when the table does not list it.
        public func action(for tag: Tag) -> Action? {
            if let action = exact[tag.rawValue] { return action }
            for row in masked where tag.rawValue & row.mask == row.value { return row.action }
            return nil
        }
    }
}
