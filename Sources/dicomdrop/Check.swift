import ArgumentParser
import Config
import Foundation
import Ledger
import Pipeline

/// `dicomdrop check [--repair]`: the ledger compared with the output and drop directories.
struct Check: LedgerSubcommand {
    static let configuration = CommandConfiguration(
        abstract: "Compare the ledger with the outputs and the drop directory; --repair makes them agree.",
        discussion: """
            Reports, one per line: damage in the ledger file (SQLite's quick_check), outputs
            the ledger names that are missing, files in the output directory that no ledger
            row names, temporaries of interrupted writes, and source paths the ledger records
            that are gone from the drop directory. Exit status: 0 when they agree, 1 when
            something differs, 2 when the check could not run.

            --repair forgets the content whose outputs are missing (and removes what is left
            of its outputs), so that the next start processes its files again; forgets the
            paths gone from the drop directory; and removes unknown files and temporaries
            from the output directory. It refuses while another dicomdrop process uses the
            ledger, and when the ledger is damaged.
            """
    )

    /// `--config`, given before or after `check`.
    @ParentCommand var dicomdrop: Dicomdrop

    @Flag(help: "Make the ledger and the disk agree (see above).")
    var repair = false

    func run() throws {
        let (configuration, ledger) = configurationAndLedger()
        // Taken exclusively to learn whether another process runs; kept only by --repair,
        // so that a report does not stop a daemon from starting meanwhile.
        var lock = try? LedgerLock(beside: configuration.database, mode: .exclusive)
        let othersRunning = lock == nil
        if repair && othersRunning {
            fail("\(LedgerLock.LockError.held(path: configuration.database.path + ".lock"))")
        }
        if !repair { lock = nil }
        let findings: LedgerAudit.Findings
        do {
            findings = try LedgerAudit.audit(configuration: configuration, ledger: ledger)
        } catch {
            fail("\(error)")
        }
        for line in findings.damage { print("ledger damaged: \(line)") }
        for (sha256, outputs) in findings.missingOutputs.sorted(by: { $0.key < $1.key }) {
            for output in outputs { print("missing output: \(output) (content \(sha256.prefix(12)))") }
        }
        for path in findings.unknownOutputs { print("not in the ledger: \(path)") }
        for path in findings.temporaries { print("temporary of an interrupted write: \(path)") }
        for path in findings.goneSources { print("source gone from the drop directory: \(path)") }
        if othersRunning {
            print("note: another dicomdrop process is running; outputs of the batch it is writing may show as not in the ledger")
        }
        guard !findings.isEmpty else {
            print("the ledger \(configuration.database.path) agrees with \(configuration.output.path) and \(configuration.drop.path)")
            return
        }
        print("\(findings.count) difference(s)")
        guard repair else { throw ExitCode(1) }
        do {
            let repairs = try LedgerAudit.repair(findings, configuration: configuration, ledger: ledger)
            print("repaired: \(repairs.requeuedContents) content(s) with missing outputs forgotten, their \(repairs.requeuedFiles) source file(s) processed again at the next start; \(repairs.forgottenSources) gone path(s) forgotten; \(repairs.removedFiles) file(s) removed from the output directory")
        } catch {
            fail("\(error)")
        }
        withExtendedLifetime(lock) {}
    }
}
