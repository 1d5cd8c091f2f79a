import ArgumentParser
import Config
import Foundation
import Ledger
import Server

/// `dicomdrop status`: units, buckets, recent runs and failures, read from the ledger
/// opened read-only: it runs beside the daemon and changes nothing.
struct Status: LedgerSubcommand {
    static let configuration = CommandConfiguration(
        abstract: "Show units, buckets, recent runs and failures from the ledger (read-only; works while the daemon runs).",
        discussion: "With --json, one object: the status server's /api/units, /api/buckets, /api/runs and /api/failures documents."
    )

    @ParentCommand var dicomdrop: Dicomdrop

    @Flag(help: "Print JSON instead of text.")
    var json = false

    @Option(help: "How many recent runs and failures to show.")
    var limit = 10

    func run() throws {
        guard (1...1000).contains(limit) else { throw ValidationError("--limit must be from 1 to 1000") }
        let (_, ledger) = configurationAndLedger(readOnly: true)
        let units: [Ledger.UnitRow], buckets: [Ledger.BucketRow], runs: [Ledger.RunSummaryRow], failures: [Ledger.FailureRow]
        let annotations: [Ledger.AnnotationFileReport]
        do {
            (units, buckets, runs, failures) = (try ledger.unitRows(), try ledger.bucketRows(),
                                                try ledger.recentRuns(unit: nil, limit: limit), try ledger.recentFailures(limit: limit))
            annotations = try ledger.annotationReports()
        } catch {
            fail("\(error)")
        }
        if json {
            var document = StatusDocuments.Summary(units: units, buckets: buckets, runs: runs, failures: failures)
            document.annotations = annotations
            FileHandle.standardOutput.write(StatusDocuments.encode(document) + Data("\n".utf8))
            return
        }
        print(Self.text(units: units, buckets: buckets, runs: runs, failures: failures, annotations: annotations))
        let problems = (try? ledger.plainImageProblems()) ?? []
        if !problems.isEmpty { print("\n" + PlainImageProblemsText.lines(problems).joined(separator: "\n")) }
    }

    static func text(units: [Ledger.UnitRow], buckets: [Ledger.BucketRow], runs: [Ledger.RunSummaryRow],
                     failures: [Ledger.FailureRow], annotations: [Ledger.AnnotationFileReport] = []) -> String {
        var lines: [String] = []
        let states = Dictionary(grouping: units, by: \.state).map { "\($0.key) \($0.value.count)" }.sorted()
        lines.append("units: \(units.count)\(states.isEmpty ? "" : " (" + states.joined(separator: ", ") + ")")")
        let header = ["unit", "state", "files", "processed", "duplicate", "not_dicom", "failed", "unreadable", "last run"]
        let rows = units.map { unit in
            [unit.name, unit.state, "\(unit.files)", "\(unit.processed)", "\(unit.duplicate)", "\(unit.notDICOM)", "\(unit.failed)",
             "\(unit.unreadable)", unit.lastRun.map { "\($0.outcome ?? "running") \($0.finished ?? $0.started)" } ?? "-"]
        }
        lines += table([header] + rows)
        let total = buckets.reduce(0) { $0 + $1.images }
        lines.append("")
        lines.append("buckets: \(total) image(s)")
        lines += table([["bucket", "images", "directories"]] + buckets.map { bucket in
            [bucket.name, "\(bucket.images)", bucket.directories.map { "\($0.name) \($0.images)" }.joined(separator: ", ")]
        })
        lines.append("")
        lines.append("recent runs:")
        lines += table([["id", "unit", "trigger", "outcome", "started", "seen", "new", "duplicate", "skipped", "failed", "verdict"]] + runs.map { run in
            ["\(run.id)", run.unit, run.trigger, run.outcome ?? "running", run.started, "\(run.files.seen)", "\(run.files.new)",
             "\(run.files.duplicate)", "\(run.files.skipped)", "\(run.files.failed)", run.verdict ?? "-"]
        })
        if !annotations.isEmpty {
            lines.append("")
            lines.append("annotation files:")
            lines += table([["file", "labels", "matched", "waiting for their image (lines)", "rows not read"]] + annotations.map { file in
                [file.path, "\(file.labels)", "\(file.matched)", file.unmatchedLines.isEmpty ? "-" : file.unmatchedLines.map(String.init).joined(separator: ","),
                 "\(file.problems.count)"]
            })
            for file in annotations {
                for problem in file.problems { lines.append("  \(file.path) line \(problem.line): \(problem.reason)") }
            }
        }
        lines.append("")
        lines.append("recent failures:\(failures.isEmpty ? " none" : "")")
        for failure in failures {
            lines.append("  \(failure.at)  \(failure.kind)  \(failure.path ?? failure.unit): \(failure.reason ?? "")")
        }
        return lines.joined(separator: "\n")
    }

    /// Columns padded to their widest cell, two spaces apart, indented.
    static func table(_ rows: [[String]]) -> [String] {
        guard rows.count > 1 else { return ["  (none)"] }
        let widths = rows[0].indices.map { column in rows.map { $0[column].count }.max() ?? 0 }
        return rows.map { row in
            "  " + row.enumerated().map { index, cell in
                index == row.count - 1 ? cell : cell.padding(toLength: widths[index], withPad: " ", startingAt: 0)
            }.joined(separator: "  ")
        }
    }
}
