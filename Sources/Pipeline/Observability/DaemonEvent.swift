import Config
import Foundation
import Ledger

/// Something an operator may want to be told about (webhooks). Carries counts and
/// categories, never a path or a value from a file: the unit is a folder name of the drop
/// directory, as the ledger and the log name it.
public struct DaemonEvent: Sendable, Equatable {
    public let kind: WebhookEvent
    public let at: Date
    public let unit: String?
    /// The run that ended (unit_done, unit_failed).
    public let run: RunFacts?
    /// Why: failure categories and their counts, the run's outcome, the refusal of the
    /// output filesystem.
    public let reasons: [String: Int]
    public let detail: String?

    public struct RunFacts: Sendable, Equatable {
        public let trigger: RunTrigger
        public let outcome: RunOutcome
        public let counts: RunCounts
        public let seconds: Double
        /// The run's id and verdict, when `expectations:` validated it.
        public var id: Int64?
        public var verdict: RunVerdict?
    }

    public init(kind: WebhookEvent, at: Date = Date(), unit: String? = nil, run: RunFacts? = nil,
                reasons: [String: Int] = [:], detail: String? = nil) {
        self.kind = kind
        self.at = at
        self.unit = unit
        self.run = run
        self.reasons = reasons
        self.detail = detail
    }

    /// The event a run's end makes: unit_failed when the run failed or any file failed,
    /// unit_done when it is done; nothing for an interrupted or paused run (the pause has
    /// its own event, and an interrupted run goes on at the next start).
    static func of(_ summary: RunSummary) -> DaemonEvent? {
        var facts = RunFacts(trigger: summary.trigger, outcome: summary.outcome, counts: summary.counts, seconds: summary.seconds)
        facts.id = summary.validation?.run
        facts.verdict = summary.validation?.verdict
        let reasons = Dictionary(uniqueKeysWithValues: summary.failures.map { ($0.key.rawValue, $0.value) })
        switch summary.outcome {
        case .failed:
            return DaemonEvent(kind: .unitFailed, unit: summary.unit, run: facts, reasons: reasons,
                               detail: "the ledger could not record the run; its unrecorded files are tried again at the next rescan")
        case .done where summary.counts.failed > 0:
            return DaemonEvent(kind: .unitFailed, unit: summary.unit, run: facts, reasons: reasons,
                               detail: "\(summary.counts.failed) file(s) failed")
        case .done:
            return DaemonEvent(kind: .unitDone, unit: summary.unit, run: facts, reasons: reasons)
        case .interrupted, .paused:
            return nil
        }
    }

    /// The events a run's end makes: `of(summary)`, and validation_failed when its
    /// expectations failed (reasons: the failed rules, by the names watch.yaml gives them).
    static func events(of summary: RunSummary) -> [DaemonEvent] {
        var events = of(summary).map { [$0] } ?? []
        if let validation = summary.validation, validation.verdict == .failedValidation {
            var facts = RunFacts(trigger: summary.trigger, outcome: summary.outcome, counts: summary.counts, seconds: summary.seconds)
            facts.id = validation.run
            facts.verdict = validation.verdict
            let held = validation.held > 0 ? "; \(validation.held) image(s) held until dicomdrop release \(validation.run)" : ""
            events.append(DaemonEvent(kind: .validationFailed, unit: summary.unit, run: facts,
                                      reasons: Dictionary(validation.failedRules.map { ($0, 1) }, uniquingKeysWith: +),
                                      detail: "run \(validation.run) failed validation\(held)"))
        }
        return events
    }
}
