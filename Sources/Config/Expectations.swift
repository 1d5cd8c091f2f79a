/// `expectations:`: data-quality rules every run's instances are checked against, and the
/// rules on those results ("validation of validations") that give the run its verdict.
public struct ExpectationSettings: Sendable, Equatable {
    public var rules: [ExpectationRule]
    public var meta: MetaValidation
    public var onFailure: OnFailure

    /// What a run that fails validation does with its images.
    public enum OnFailure: String, Sendable, Equatable {
        /// The verdict is stored, logged and sent; the images stay in their buckets.
        case record
        /// The run's images wait in the reserved `held` bucket until `dicomdrop release RUN`.
        case hold
    }

    public init(rules: [ExpectationRule], meta: MetaValidation = MetaValidation(), onFailure: OnFailure = .record) {
        self.rules = rules
        self.meta = meta
        self.onFailure = onFailure
    }

    /// Every attribute keyword a rule reads: each must be a column of the metadata tables.
    public var keywords: [String] {
        var seen: Set<String> = []
        return rules.flatMap(\.check.keywords).filter { seen.insert($0).inserted }
    }
}

/// One named rule.
public struct ExpectationRule: Sendable, Equatable {
    public enum Severity: String, Sendable, Equatable, CaseIterable {
        case warn, error
    }

    public var name: String
    public var severity: Severity
    public var check: ExpectationCheck
    /// The share of checked instances that must pass (`at_least`); 1: every one.
    public var atLeast: Double

    public init(name: String, severity: Severity = .error, check: ExpectationCheck, atLeast: Double = 1) {
        self.name = name
        self.severity = severity
        self.check = check
        self.atLeast = atLeast
    }
}

/// What a rule checks. Absent values are checked by `required` only: `regex`, `in` and
/// `range` check the instances that have the attribute (as great_expectations does).
public enum ExpectationCheck: Sendable, Equatable {
    /// Every listed attribute has a value.
    case required([String])
    /// The value matches the regular expression (anywhere, unless anchored).
    case regex(keyword: String, pattern: String)
    /// The value is one of these (compared after trimming).
    case oneOf(keyword: String, values: [String])
    /// The value is a number within the bounds (inclusive); nil: unbounded.
    case range(keyword: String, minimum: Double?, maximum: Double?)
    /// No two instances of the run have the same value.
    case unique(keyword: String)
    /// No two instances of the same series (study, patient) have the same value.
    case uniqueWithin(scope: Scope, keyword: String)
    /// The run processed a number of instances within the bounds.
    case rowCount(minimum: Int?, maximum: Int?)

    public enum Scope: String, Sendable, Equatable, CaseIterable {
        case series, study, patient

        /// The column that groups the instances.
        public var keyword: String {
            switch self {
            case .series: "SeriesInstanceUID"
            case .study: "StudyInstanceUID"
            case .patient: "PatientID"
            }
        }
    }

    /// The rule's kind as written in watch.yaml and stored with its results.
    public var kind: String {
        switch self {
        case .required: "required"
        case .regex: "regex"
        case .oneOf: "in"
        case .range: "range"
        case .unique: "unique"
        case .uniqueWithin: "unique_within"
        case .rowCount: "row_count"
        }
    }

    public var keywords: [String] {
        switch self {
        case .required(let keywords): keywords
        case .regex(let keyword, _), .oneOf(let keyword, _), .range(let keyword, _, _), .unique(let keyword): [keyword]
        case .uniqueWithin(let scope, let keyword): [scope.keyword, keyword]
        case .rowCount: []
        }
    }
}

/// `expectations.meta`: rules on a run's expectation results.
public struct MetaValidation: Sendable, Equatable {
    /// Error-level rules that may fail (0: none).
    public var maxFailedErrors = 0
    /// Warn-level rules that may fail; nil: any number.
    public var maxFailedWarnings: Int?
    /// The share of the run's images set aside as suboptimal must lie within these bounds.
    public var suboptimalShare: ClosedRange<Double>?

    public init(maxFailedErrors: Int = 0, maxFailedWarnings: Int? = nil, suboptimalShare: ClosedRange<Double>? = nil) {
        self.maxFailedErrors = maxFailedErrors
        self.maxFailedWarnings = maxFailedWarnings
        self.suboptimalShare = suboptimalShare
    }
}

/// `annotations.*`: where label files are dropped.
public struct AnnotationSettings: Sendable, Equatable {
    /// The drop directory's folder of annotation files (every `.csv` and `.json` in it).
    public var folder = "annotations"

    public init() {}

    /// Annotation files inside any unit end with these.
    public static let suffixes = [".annotations.csv", ".annotations.json"]

    /// Whether a dropped file (path relative to the drop directory) is an annotation file.
    public func isAnnotationFile(_ path: String) -> Bool {
        let lower = path.lowercased()
        if Self.suffixes.contains(where: { lower.hasSuffix($0) }) { return true }
        return path.hasPrefix(folder + "/") && (lower.hasSuffix(".csv") || lower.hasSuffix(".json"))
    }
}
