/// One rule of `filters:`: an attribute of the de-identified dataset, or a column of a plain
/// image dataset's `metadata.csv`, and the values it must have (`include`) or must not have
/// (`exclude`). Compared after DICOM's padding is trimmed; case-sensitive unless `ignoreCase`.
public struct AttributeFilter: Sendable, Equatable {
    /// Written like a PS3.6 keyword (an upper-case letter, then letters and digits only): a
    /// name of this shape that the dictionary lacks is a misspelt keyword, not a CSV column.
    /// CSV columns are named otherwise (`view`, `finding`, `RT_PCR_positive`).
    public static func looksLikeKeyword(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, ("A"..."Z").contains(first) else { return false }
        return name.unicodeScalars.allSatisfy { ("A"..."Z").contains($0) || ("a"..."z").contains($0) || ("0"..."9").contains($0) }
    }

    public enum Mode: String, Sendable {
        /// The image passes when one of its values is listed; without the attribute it fails.
        case include
        /// The image fails when one of its values is listed; without the attribute it passes.
        case exclude
    }

    /// The attribute's keyword (`ViewPosition`), checked against the dictionary, or a CSV
    /// column's name (`view`).
    public var keyword: String
    public var mode: Mode
    public var values: [String]
    public var ignoreCase: Bool

    public init(keyword: String, mode: Mode, values: [String], ignoreCase: Bool = false) {
        self.keyword = keyword
        self.mode = mode
        self.values = values
        self.ignoreCase = ignoreCase
    }
}

/// What happens to an image that fails a filter.
public enum FiltersAction: String, Sendable {
    /// Its PNG and JSON go to the reserved `excluded` bucket, with the failed rule.
    case excluded
    /// Nothing is written for it; the ledger says which rule it failed.
    case skip
}
