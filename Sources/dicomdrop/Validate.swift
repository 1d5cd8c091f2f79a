import ArgumentParser
import Foundation
import Ledger
import Logging
import Pipeline
import Server

/// `dicomdrop validate [--run ID]`: a run's expectation results and verdict.
struct Validate: LedgerSubcommand {
    static let configuration = CommandConfiguration(
        abstract: "Print a run's expectation results and verdict (the latest validated run unless --run).",
        discussion: "Exit status: 0 when the verdict is passed, 1 when it is failed_validation, 2 when there is no such run or no ledger."
    )

    @ParentCommand var dicomdrop: Dicomdrop

    @Option(name: .customLong("run"), help: "The run's id (dicomdrop status lists them).")
    var runID: Int64?

    @Flag(help: "Print JSON instead of text.")
    var json = false

    func run() throws {
        let (_, ledger) = configurationAndLedger(readOnly: true)
        let validation: RunValidation?
        do { validation = try ledger.validation(ofRun: runID) } catch { fail("\(error)") }
        guard let validation else {
            fail(runID.map { "run \($0) was not validated (no such run, no expectations, or no instance processed)" } ?? "no run has been validated yet")
        }
        if json {
            FileHandle.standardOutput.write(StatusDocuments.encode(validation) + Data("\n".utf8))
        } else {
            print(Self.text(validation))
        }
        if validation.verdict == .failedValidation { throw ExitCode(1) }
    }

    static func text(_ validation: RunValidation) -> String {
        var lines = ["run \(validation.run) of \(validation.unit)\(validation.finishedAt.map { ", finished \($0)" } ?? ""): \(validation.verdict.rawValue)"]
        if validation.held > 0 {
            lines.append("\(validation.held) image(s) held in held/ until `dicomdrop release \(validation.run)`")
        } else if let released = validation.releasedAt {
            lines.append("held images released \(released)")
        }
        lines.append("")
        lines += Status.table([["rule", "kind", "severity", "checked", "failed", "result", "detail"]] + validation.results.map { result in
            [result.rule, result.kind, result.severity, "\(result.checked)", "\(result.failed)", result.passed ? "passed" : "FAILED", result.detail ?? ""]
        })
        for result in validation.results where !result.passed && !result.examples.isEmpty && result.kind != "meta" {
            lines.append("  \(result.rule): e.g. \(result.examples.prefix(5).joined(separator: ", "))\(result.examples.count > 5 ? ", ..." : "")")
        }
        return lines.joined(separator: "\n")
    }
}

/// `dicomdrop release RUN`: a held run's images back to their buckets.
struct Release: LedgerSubcommand {
    static let configuration = CommandConfiguration(
        abstract: "Move the images a run that failed validation holds in held/ to their buckets, once a person has looked.",
        discussion: "Works beside a running daemon; the directories' manifests are written again."
    )

    @ParentCommand var dicomdrop: Dicomdrop

    @Argument(help: ArgumentHelp("The run's id (dicomdrop validate and dicomdrop status show it).", valueName: "run"))
    var runID: Int64

    func run() throws {
        let (configuration, ledger) = configurationAndLedger()
        do {
            let held = HeldImages(output: configuration.output, ledger: ledger, logger: Logger(label: "dicomdrop"))
            let released = try held.release(run: runID)
            print("released \(released) image(s) of run \(runID) to their buckets")
        } catch {
            fail("\(error)")
        }
    }
}
