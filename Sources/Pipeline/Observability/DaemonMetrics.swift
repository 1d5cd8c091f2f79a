import Foundation
import Metrics

/// The daemon's metrics through swift-metrics: whoever bootstraps a backend (the status
/// server bootstraps Prometheus) receives them; without one they cost a call into a no-op.
/// Made after the backend is bootstrapped (swift-metrics binds each metric when it is made),
/// which is why this is an instance the processor owns and not a set of globals.
public final class DaemonMetrics: Sendable {
    /// The stages a file goes through, timed one by one.
    public enum Stage: String, Sendable, CaseIterable {
        case hash, parse, deidentify, render, write, commit
    }

    /// Why a file counts as failed, in the metrics' and the webhooks' words: a category, never
    /// a path or a value from the file.
    public enum FailureKind: String, Sendable, CaseIterable {
        /// The file could not be read (I/O error, permission, vanished mid-read).
        case unreadable
        /// A DICOM file that is malformed, truncated, or beyond the reader's limits.
        case invalidDICOM = "invalid_dicom"
        /// A PNG or JPEG file that does not decode, or a `metadata.csv` that cannot be read.
        case invalidImage = "invalid_image"
        /// Its outputs could not be written.
        case write
        /// An annotation file that cannot be read as labels (not CSV or JSON, no label column).
        case invalidAnnotations = "invalid_annotations"
    }

    let filesSeen = Counter(label: "dicomdrop_files_seen_total")
    let filesProcessed = Counter(label: "dicomdrop_files_processed_total")
    let filesDuplicate = Counter(label: "dicomdrop_files_duplicate_total")
    let filesSkipped = Counter(label: "dicomdrop_files_skipped_total")
    let filesFailed: [FailureKind: Counter]
    let bytesHashed = Counter(label: "dicomdrop_bytes_hashed_total")
    /// Files that are not DICOM: left alone, not a failure.
    let filesNotDICOM = Counter(label: "dicomdrop_files_not_dicom_total")
    let stageSeconds: [Stage: Metrics.Timer]
    let inotifyOverflows = Counter(label: "dicomdrop_inotify_overflows_total")
    let passes: [String: Counter]
    let passSeconds: [String: Metrics.Timer]
    let runs: [String: Counter]

    public init() {
        filesFailed = Dictionary(uniqueKeysWithValues: FailureKind.allCases.map {
            ($0, Counter(label: "dicomdrop_files_failed_total", dimensions: [("reason", $0.rawValue)]))
        })
        stageSeconds = Dictionary(uniqueKeysWithValues: Stage.allCases.map {
            ($0, Metrics.Timer(label: "dicomdrop_stage_duration_seconds", dimensions: [("stage", $0.rawValue)], preferredDisplayUnit: .seconds))
        })
        let passKinds = ["poll", "rescan"]
        passes = Dictionary(uniqueKeysWithValues: passKinds.map { ($0, Counter(label: "dicomdrop_passes_total", dimensions: [("kind", $0)])) })
        passSeconds = Dictionary(uniqueKeysWithValues: passKinds.map {
            ($0, Metrics.Timer(label: "dicomdrop_pass_duration_seconds", dimensions: [("kind", $0)], preferredDisplayUnit: .seconds))
        })
        runs = Dictionary(uniqueKeysWithValues: ["done", "interrupted", "failed", "paused"].map {
            ($0, Counter(label: "dicomdrop_runs_total", dimensions: [("outcome", $0)]))
        })
    }

    /// Times `body` as one pass of `stage`.
    @inline(__always)
    func time<T, E: Error>(_ stage: Stage, _ body: () throws(E) -> T) throws(E) -> T {
        let start = DispatchTime.now().uptimeNanoseconds
        defer { stageSeconds[stage]?.recordNanoseconds(Int64(DispatchTime.now().uptimeNanoseconds - start)) }
        return try body()
    }

    func failed(_ kind: FailureKind) { filesFailed[kind]?.increment() }

    func record(_ summary: RunSummary) {
        filesSeen.increment(by: summary.counts.seen)
        filesProcessed.increment(by: summary.counts.new)
        filesDuplicate.increment(by: summary.counts.duplicate)
        filesSkipped.increment(by: summary.counts.skipped)
        runs[summary.outcome.rawValue]?.increment()
    }

    func recordPass(kind: String, seconds: Double) {
        passes[kind]?.increment()
        passSeconds[kind]?.recordNanoseconds(Int64(seconds * 1e9))
    }
}
