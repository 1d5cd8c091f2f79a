import Config
import Foundation
import DICOM

/// The filter stage: the rules of `filters:` over the de-identified dataset, or over a plain
/// image's `metadata.csv` columns, in the order written; the first rule an image fails is the
/// reason it is set aside. A rule names an attribute keyword or a CSV column: a DICOM
/// dataset has no CSV columns and a plain image only its CSV's, and what an image lacks
/// fails an include rule and passes an exclude rule.
struct FilterStage: Sendable {
    struct Rule: Sendable {
        let filter: AttributeFilter
        /// Nil for a rule on a CSV column that is no attribute keyword.
        let tag: Tag?
        /// The listed values, case-folded when the rule ignores case.
        let accepted: Set<String>
    }

    let rules: [Rule]

    init(filters: [AttributeFilter]) {
        rules = filters.map { filter in
            Rule(filter: filter, tag: StandardDictionary.entry(forKeyword: filter.keyword)?.tag,
                 accepted: Set(filter.values.map { filter.ignoreCase ? $0.lowercased() : $0 }))
        }
    }

    /// Why the dataset fails the filters (the first rule it fails), or nil when it passes.
    func failure(of values: some AttributeValues) -> String? {
        failure { rule in rule.tag.map { Self.comparable($0, in: values) } ?? [] }
    }

    /// Why a plain image with these CSV columns fails the filters, or nil when it passes;
    /// a value is compared without surrounding spaces, and an empty one is absent.
    func failure(ofColumns columns: [String: String]) -> String? {
        failure { rule in
            let value = columns[rule.filter.keyword]?.trimmingCharacters(in: .whitespaces) ?? ""
            return value.isEmpty ? [] : [value]
        }
    }

    private func failure(_ valuesOf: (Rule) -> [String]) -> String? {
        for rule in rules {
            let found = valuesOf(rule)
            let keys = rule.filter.ignoreCase ? found.map { $0.lowercased() } : found
            let listed = "[" + rule.filter.values.joined(separator: ", ") + "]"
            switch rule.filter.mode {
            case .include where !keys.contains(where: rule.accepted.contains):
                let what = found.isEmpty ? "absent" : found.map { "\"\($0)\"" }.joined(separator: ", ")
                return "filter \(rule.filter.keyword): \(what), not one of \(listed)"
            case .exclude:
                if let hit = zip(found, keys).first(where: { rule.accepted.contains($0.1) }) {
                    return "filter \(rule.filter.keyword): \"\(hit.0)\" is excluded \(listed)"
                }
            default:
                break
            }
        }
        return nil
    }

    /// The attribute's values as text: a string VR's values without padding, a binary
    /// number's as written in decimal.
    static func comparable(_ tag: Tag, in values: some AttributeValues) -> [String] {
        if let texts = values.texts(tag) {
            return texts.map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        }
        return (values.numbers(tag) ?? []).map { number in
            Int64(exactly: number).map { "\($0)" } ?? "\(number)"
        }
    }
}
