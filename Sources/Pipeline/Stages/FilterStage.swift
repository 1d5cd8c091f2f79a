import Config
import Foundation
import DICOM

/// The filter stage: the rules of `filters:` over the de-identified dataset, in the order
/// written; the first rule an image fails is the reason it is set aside.
struct FilterStage: Sendable {
    struct Rule: Sendable {
        let filter: AttributeFilter
        let tag: Tag
        /// The listed values, case-folded when the rule ignores case.
        let accepted: Set<String>
    }

    let rules: [Rule]

    init(filters: [AttributeFilter]) {
        rules = filters.compactMap { filter in
            // The loader refused keywords the dictionary does not have.
            guard let entry = StandardDictionary.entry(forKeyword: filter.keyword) else { return nil }
            return Rule(filter: filter, tag: entry.tag, accepted: Set(filter.values.map { filter.ignoreCase ? $0.lowercased() : $0 }))
        }
    }

    /// Why the dataset fails the filters (the first rule it fails), or nil when it passes.
    func failure(of values: some AttributeValues) -> String? {
        for rule in rules {
            let found = Self.comparable(rule.tag, in: values)
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
