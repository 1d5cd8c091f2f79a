import DICOM
import Foundation
import Yams

/// Reads `expectations:` and `annotations:` from the composed document. The rules are
/// shaped by their kind's key, so they are read node by node (like `filters:`), and every
/// error names the rule's place in the file.
extension ConfigurationLoader {
    static let expectationRuleKinds = ["required", "regex", "in", "range", "unique", "unique_within", "row_count"]

    static let expectationsSchema: Schema = .mapping([
        "rules": .list(.mapping([
            "name": .leaf, "severity": .leaf, "at_least": .leaf,
            "required": .leaf, "regex": .dictionary(.leaf), "in": .dictionary(.leaf), "range": .dictionary(.leaf),
            "unique": .leaf, "unique_within": .dictionary(.leaf), "row_count": .leaf,
        ])),
        "meta": .mapping(["max_failed_errors": .leaf, "max_failed_warnings": .leaf, "suboptimal_share": .leaf]),
        "on_failure": .leaf,
    ])

    static let annotationsSchema: Schema = .mapping(["folder": .leaf])

    static func readExpectationsAndAnnotations(_ root: Node, into configuration: inout WatchConfiguration,
                                               file: String) throws(ConfigurationError) {
        if let node = root.mapping?["expectations"], node.mapping != nil {
            configuration.expectations = try expectations(in: node, file: file)
        }
        if let folder = root.mapping?["annotations"]?.mapping?["folder"] {
            let place: [any CodingKey] = [Key("annotations"), Key("folder")]
            guard let name = folder.scalar?.string,
                  name.range(of: "^[A-Za-z0-9][A-Za-z0-9_.-]*$", options: .regularExpression) != nil else {
                throw error(at: folder, path: place, file: file,
                            "must be a folder name of the drop directory (letters, digits, '_', '.', '-'), found \"\(folder.string ?? "")\"")
            }
            configuration.annotations.folder = name
        }
    }

    private static func expectations(in node: Node, file: String) throws(ConfigurationError) -> ExpectationSettings {
        let base: [any CodingKey] = [Key("expectations")]
        var rules: [ExpectationRule] = []
        var names: Set<String> = []
        for (index, item) in (node.mapping?["rules"]?.sequence ?? []).enumerated() {
            let rule = try expectationRule(item, at: base + [Key("rules"), Key(index: index)], file: file)
            guard names.insert(rule.name).inserted else {
                throw error(at: item, path: base + [Key("rules"), Key(index: index), Key("name")], file: file, "\"\(rule.name)\" is used twice")
            }
            rules.append(rule)
        }
        var settings = ExpectationSettings(rules: rules)
        if let meta = node.mapping?["meta"]?.mapping {
            let place = base + [Key("meta")]
            for (keyNode, value) in meta {
                let key = keyNode.string ?? ""
                switch key {
                case "max_failed_errors", "max_failed_warnings":
                    guard let count = value.int, count >= 0 else {
                        throw error(at: value, path: place + [Key(key)], file: file, "must be a whole number >= 0, found \"\(value.string ?? "")\"")
                    }
                    if key == "max_failed_errors" { settings.meta.maxFailedErrors = count } else { settings.meta.maxFailedWarnings = count }
                default:  // suboptimal_share, the only other key the schema lets through
                    let (low, high) = try bounds(value, at: place + [Key(key)], file: file)
                    guard let low, let high, 0 <= low, low <= high, high <= 1 else {
                        throw error(at: value, path: place + [Key(key)], file: file, "must be [low, high] with 0 <= low <= high <= 1")
                    }
                    settings.meta.suboptimalShare = low...high
                }
            }
        }
        if let action = node.mapping?["on_failure"] {
            guard let text = action.string, let known = ExpectationSettings.OnFailure(rawValue: text) else {
                throw error(at: action, path: base + [Key("on_failure")], file: file, "must be hold or record, found \"\(action.string ?? "")\"")
            }
            settings.onFailure = known
        }
        return settings
    }

    private static func expectationRule(_ item: Node, at place: [any CodingKey], file: String) throws(ConfigurationError) -> ExpectationRule {
        guard let mapping = item.mapping else { throw error(at: item, path: place, file: file, "must be a mapping: {name: ..., <kind>: ...}") }
        guard let nameNode = mapping["name"], let name = nameNode.scalar?.string, !name.trimmingCharacters(in: .whitespaces).isEmpty else {
            throw error(at: item, path: place + [Key("name")], file: file, "needs a name")
        }
        let kinds = expectationRuleKinds.filter { mapping[$0] != nil }
        guard kinds.count == 1, let kind = kinds.first, let value = mapping[kind] else {
            throw error(at: item, path: place, file: file,
                        "needs exactly one of \(expectationRuleKinds.joined(separator: ", ")), found \(kinds.isEmpty ? "none" : kinds.joined(separator: " and "))")
        }
        let at = place + [Key(kind)]
        func keyword(_ node: Node, at place: [any CodingKey]) throws(ConfigurationError) -> String {
            guard let text = node.scalar?.string, StandardDictionary.entry(forKeyword: text) != nil else {
                throw error(at: node, path: place, file: file,
                            "\"\(node.string ?? "")\" is not an attribute keyword of the DICOM dictionary (PS3.6), which are written like ViewPosition")
            }
            return text
        }
        /// The one `keyword: value` entry of a regex, in, range or unique_within rule.
        func single() throws(ConfigurationError) -> (key: Node, value: Node) {
            guard let entries = value.mapping, entries.count == 1, let entry = entries.first else {
                throw error(at: value, path: at, file: file, "must be a mapping of one entry, e.g. {Modality: ...}")
            }
            return (entry.key, entry.value)
        }
        let check: ExpectationCheck
        switch kind {
        case "required":
            let items = value.sequence ?? [value]
            guard !items.isEmpty else { throw error(at: value, path: at, file: file, "lists no attribute") }
            var keywords: [String] = []
            for (index, node) in items.enumerated() { keywords.append(try keyword(node, at: at + [Key(index: index)])) }
            check = .required(keywords)
        case "regex":
            let (key, patternNode) = try single()
            let name = try keyword(key, at: at)
            guard let pattern = patternNode.scalar?.string else { throw error(at: patternNode, path: at + [Key(name)], file: file, "must be a regular expression") }
            do { _ = try Regex(pattern) } catch {
                throw Self.error(at: patternNode, path: at + [Key(name)], file: file, "is not a regular expression: \(error)")
            }
            check = .regex(keyword: name, pattern: pattern)
        case "in":
            let (key, list) = try single()
            let name = try keyword(key, at: at)
            guard let items = list.sequence, !items.isEmpty else { throw error(at: list, path: at + [Key(name)], file: file, "must be a list of values") }
            var values: [String] = []
            for (index, node) in items.enumerated() {
                guard let text = node.scalar?.string else {
                    throw error(at: node, path: at + [Key(name), Key(index: index)], file: file, "must be a value, found a list or mapping")
                }
                values.append(text.trimmingCharacters(in: .whitespaces))
            }
            check = .oneOf(keyword: name, values: values)
        case "range":
            let (key, limits) = try single()
            let name = try keyword(key, at: at)
            let (low, high) = try bounds(limits, at: at + [Key(name)], file: file)
            guard low != nil || high != nil, (low ?? -.infinity) <= (high ?? .infinity) else {
                throw error(at: limits, path: at + [Key(name)], file: file, "must be [low, high] with low <= high (~ for no bound)")
            }
            check = .range(keyword: name, minimum: low, maximum: high)
        case "unique":
            check = .unique(keyword: try keyword(value, at: at))
        case "unique_within":
            let (scopeNode, key) = try single()
            guard let scope = scopeNode.string.flatMap(ExpectationCheck.Scope.init(rawValue:)) else {
                throw error(at: scopeNode, path: at, file: file, "must be within series, study or patient, found \"\(scopeNode.string ?? "")\"")
            }
            check = .uniqueWithin(scope: scope, keyword: try keyword(key, at: at + [Key(scope.rawValue)]))
        default:  // row_count
            let (low, high) = try bounds(value, at: at, file: file)
            guard low != nil || high != nil, (low ?? 0) <= (high ?? .infinity), (low ?? 0) >= 0, (high ?? 0) < 1e15, (low ?? 0) < 1e15,
                  low.map({ $0.rounded() == $0 }) ?? true, high.map({ $0.rounded() == $0 }) ?? true else {
                throw error(at: value, path: at, file: file, "must be [low, high], whole numbers >= 0 (~ for no bound)")
            }
            check = .rowCount(minimum: low.map { Int($0) }, maximum: high.map { Int($0) })
        }
        var rule = ExpectationRule(name: name, check: check)
        if let severity = mapping["severity"] {
            guard let known = severity.string.flatMap(ExpectationRule.Severity.init(rawValue:)) else {
                throw error(at: severity, path: place + [Key("severity")], file: file, "must be warn or error, found \"\(severity.string ?? "")\"")
            }
            rule.severity = known
        }
        if let share = mapping["at_least"] {
            guard let fraction = share.float, fraction > 0, fraction <= 1 else {
                throw error(at: share, path: place + [Key("at_least")], file: file, "must be a share above 0 and at most 1, found \"\(share.string ?? "")\"")
            }
            rule.atLeast = fraction
        }
        return rule
    }

    /// `[low, high]`, either one `~` (null) for no bound.
    private static func bounds(_ node: Node, at place: [any CodingKey], file: String) throws(ConfigurationError) -> (Double?, Double?) {
        guard let items = node.sequence, items.count == 2 else {
            throw error(at: node, path: place, file: file, "must be [low, high]")
        }
        var values: [Double?] = []
        for (index, item) in items.enumerated() {
            if item.null != nil { values.append(nil); continue }
            guard let number = item.float, number.isFinite else {
                throw error(at: item, path: place + [Key(index: index)], file: file, "must be a number or ~, found \"\(item.string ?? "")\"")
            }
            values.append(number)
        }
        return (values[0], values[1])
    }
}
