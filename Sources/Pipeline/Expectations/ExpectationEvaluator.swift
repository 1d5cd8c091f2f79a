import Config
import Foundation
import Ledger

/// Checks a run's instances against `expectations.rules`, then the results against
/// `expectations.meta`: the verdict. Pure: rows in, results out.
struct ExpectationEvaluator: Sendable {
    let settings: ExpectationSettings
    static let maximumExamples = 20

    /// One instance as the rules see it: `instance_overview`'s values by column, with
    /// `name` and `bucket`.
    typealias Instance = [String: MetadataValue]

    struct Outcome: Equatable {
        let results: [ExpectationResult]
        let verdict: RunVerdict
        /// The failed rules, for the log and the webhook.
        var failedRules: [String] { results.filter { !$0.passed }.map(\.rule) }
    }

    func evaluate(_ instances: [Instance]) -> Outcome {
        let ruleResults = settings.rules.map { evaluate($0, on: instances) }
        let meta = metaResults(of: ruleResults, instances: instances)
        let verdict: RunVerdict = meta.allSatisfy(\.passed) ? .passed : .failedValidation
        return Outcome(results: ruleResults + meta, verdict: verdict)
    }

    private func evaluate(_ rule: ExpectationRule, on instances: [Instance]) -> ExpectationResult {
        var checked = 0
        var failing: [String] = []
        func name(_ instance: Instance) -> String { instance["name"]?.text ?? "?" }
        func value(_ instance: Instance, _ keyword: String) -> String? {
            guard let value = instance[keyword] else { return nil }
            let text = value.text.trimmingCharacters(in: .whitespaces)
            return text.isEmpty ? nil : text
        }
        switch rule.check {
        case .required(let keywords):
            checked = instances.count
            failing = instances.filter { instance in keywords.contains { value(instance, $0) == nil } }.map(name)
        case .regex(let keyword, let pattern):
            // Checked when the configuration was read.
            let expression = try? Regex(pattern)
            for instance in instances {
                guard let text = value(instance, keyword) else { continue }
                checked += 1
                if let expression, (try? expression.firstMatch(in: text)) == nil { failing.append(name(instance)) }
            }
        case .oneOf(let keyword, let values):
            for instance in instances {
                guard let text = value(instance, keyword) else { continue }
                checked += 1
                // A multi-valued attribute is a JSON array: every value must be listed.
                let items = Self.values(of: text)
                if !items.allSatisfy(values.contains) { failing.append(name(instance)) }
            }
        case .range(let keyword, let minimum, let maximum):
            for instance in instances {
                guard let text = value(instance, keyword) else { continue }
                checked += 1
                guard let number = Self.number(text) else { failing.append(name(instance)); continue }
                if number < (minimum ?? -.infinity) || number > (maximum ?? .infinity) { failing.append(name(instance)) }
            }
        case .unique(let keyword):
            var seen: [String: Int] = [:]
            for instance in instances { if let text = value(instance, keyword) { seen[text, default: 0] += 1; checked += 1 } }
            failing = instances.filter { instance in value(instance, keyword).map { seen[$0]! > 1 } ?? false }.map(name)
        case .uniqueWithin(let scope, let keyword):
            var seen: [String: Int] = [:]
            func key(_ instance: Instance) -> String? {
                guard let group = value(instance, scope.keyword), let text = value(instance, keyword) else { return nil }
                return group + "\u{0}" + text
            }
            for instance in instances { if let key = key(instance) { seen[key, default: 0] += 1; checked += 1 } }
            failing = instances.filter { instance in key(instance).map { seen[$0]! > 1 } ?? false }.map(name)
        case .rowCount(let minimum, let maximum):
            let count = instances.count
            let passed = count >= (minimum ?? 0) && count <= (maximum ?? .max)
            let bounds = "[\(minimum.map(String.init) ?? "~"), \(maximum.map(String.init) ?? "~")]"
            return ExpectationResult(rule: rule.name, kind: rule.check.kind, severity: rule.severity.rawValue, checked: count,
                                     failed: passed ? 0 : count, examples: [], passed: passed,
                                     detail: "\(count) instance(s), expected within \(bounds)")
        }
        let passedShare = checked == 0 ? 1 : Double(checked - failing.count) / Double(checked)
        let passed = passedShare >= rule.atLeast - 1e-12
        let detail = "\(checked - failing.count) of \(checked) passed (\(Self.percent(passedShare)))"
            + (rule.atLeast < 1 ? ", at least \(Self.percent(rule.atLeast)) required" : "")
        return ExpectationResult(rule: rule.name, kind: rule.check.kind, severity: rule.severity.rawValue, checked: checked,
                                 failed: failing.count, examples: Array(failing.sorted().prefix(Self.maximumExamples)), passed: passed,
                                 detail: detail)
    }

    /// The rules on the results: how many error- and warn-level rules may fail, and the
    /// share of the run's images set aside as suboptimal.
    private func metaResults(of results: [ExpectationResult], instances: [Instance]) -> [ExpectationResult] {
        let meta = settings.meta
        let failedErrors = results.filter { !$0.passed && $0.severity == ExpectationRule.Severity.error.rawValue }
        let failedWarnings = results.filter { !$0.passed && $0.severity == ExpectationRule.Severity.warn.rawValue }
        var checks = [
            ExpectationResult(rule: "max_failed_errors", kind: "meta", severity: "error",
                              checked: results.filter { $0.severity == "error" }.count, failed: failedErrors.count,
                              examples: failedErrors.map(\.rule), passed: failedErrors.count <= meta.maxFailedErrors,
                              detail: "\(failedErrors.count) error-level rule(s) failed, at most \(meta.maxFailedErrors) allowed"),
        ]
        if let limit = meta.maxFailedWarnings {
            checks.append(ExpectationResult(rule: "max_failed_warnings", kind: "meta", severity: "error",
                                            checked: results.filter { $0.severity == "warn" }.count, failed: failedWarnings.count,
                                            examples: failedWarnings.map(\.rule), passed: failedWarnings.count <= limit,
                                            detail: "\(failedWarnings.count) warn-level rule(s) failed, at most \(limit) allowed"))
        }
        if let bounds = meta.suboptimalShare {
            // Images only: datasets without pixels are neither optimal nor suboptimal.
            let images = instances.filter { $0["bucket"]?.text != ReservedBucket.nonImage.rawValue }
            let suboptimal = images.filter { $0["bucket"]?.text == ReservedBucket.suboptimal.rawValue }
            let share = images.isEmpty ? 0 : Double(suboptimal.count) / Double(images.count)
            checks.append(ExpectationResult(rule: "suboptimal_share", kind: "meta", severity: "error", checked: images.count,
                                            failed: suboptimal.count,
                                            examples: Array(suboptimal.compactMap { $0["name"]?.text }.sorted().prefix(Self.maximumExamples)),
                                            passed: bounds.contains(share),
                                            detail: "\(suboptimal.count) of \(images.count) image(s) suboptimal (\(Self.percent(share))), "
                                                + "expected within [\(Self.percent(bounds.lowerBound)), \(Self.percent(bounds.upperBound))]"))
        }
        return checks
    }

    /// The values of a column: a multi-valued attribute's JSON array, or the one value.
    static func values(of text: String) -> [String] {
        guard text.hasPrefix("["), let data = text.data(using: .utf8),
              let list = try? JSONSerialization.jsonObject(with: data) as? [Any] else { return [text] }
        return list.map { item in
            if let text = item as? String { return text.trimmingCharacters(in: .whitespaces) }
            return "\(item)"
        }
    }

    /// A number from a column: an integer, a real, or a DICOM Age String (`045Y`, in years).
    static func number(_ text: String) -> Double? {
        if let number = Double(text), number.isFinite { return number }
        guard text.count == 4, let value = Double(text.prefix(3)) else { return nil }
        switch text.last {
        case "Y": return value
        case "M": return value / 12
        case "W": return value * 7 / 365.25
        case "D": return value / 365.25
        default: return nil
        }
    }

    static func percent(_ share: Double) -> String { String(format: "%.1f%%", share * 100) }
}
