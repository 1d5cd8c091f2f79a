/// One rule of `filters:`: an attribute of the de-identified dataset and the values it must
/// have (`include`) or must not have (`exclude`). Compared after DICOM's padding is trimmed;
/// case-sensitive unless `ignoreCase`.
public struct AttributeFilter: Sendable, Equatable {
    public enum Mode: String, Sendable {
        /// The image passes when one of its values is listed; without the attribute it fails.
        case include
        /// The image fails when one of its values is listed; without the attribute it passes.
        case exclude
    }

    /// The attribute's keyword (`ViewPosition`), checked against the dictionary.
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
