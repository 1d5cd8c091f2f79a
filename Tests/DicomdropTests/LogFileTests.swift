@preconcurrency import Glibc
import Foundation
import Testing

/// `log_file:` (issue 12): log lines name source folders, which hospitals name after
/// patients, so the file is written for the operator only.
@Suite struct LogFileTests {
    private func mode(_ path: String) -> mode_t {
        var status = stat()
        return stat(path, &status) == 0 ? status.st_mode & 0o777 : 0
    }

    @Test func logLinesGoToTheFileCreatedForTheOperatorOnly() throws {
        let harness = try DaemonHarness(extraConfig: "log_file: logs/daemon.log")
        let logPath = harness.root.appendingPathComponent("logs/daemon.log").path
        // A folder named after a patient, holding a file that fails: its error line names it.
        let unit = "Doe^Jane 1961"
        try harness.drop(["pydicom/test_files/CT_small.dcm"], into: unit)
        let small = try Data(contentsOf: URL(fileURLWithPath: Corpus.path("pydicom/test_files/CT_small.dcm")))
        try small.prefix(small.count / 2).write(to: harness.drop.appendingPathComponent("\(unit)/truncated.dcm"))

        let first = try harness.run(["--once"])
        #expect(first.status == 0, "\(first.standardError)")
        let text = try String(contentsOfFile: logPath, encoding: .utf8)
        #expect(text.contains(unit) && text.contains(" error "), "\(text)")
        #expect(mode(logPath) == 0o600)
        #expect(!first.standardError.contains(unit), "\(first.standardError)")
        #expect(first.standardError.isEmpty, "\(first.standardError)")

        // An existing log readable by others is narrowed to 0600 and appended to.
        chmod(logPath, 0o644)
        try harness.drop(["pydicom/test_files/MR_small.dcm"], into: "second")
        let second = try harness.run(["--once"])
        #expect(second.status == 0, "\(second.standardError)")
        let appended = try String(contentsOfFile: logPath, encoding: .utf8)
        #expect(appended.hasPrefix(text) && appended.count > text.count)
        #expect(mode(logPath) == 0o600)

        // A log file that cannot be opened stops start-up, naming it, on standard error.
        try FileManager.default.createDirectory(atPath: harness.root.appendingPathComponent("logs/folder").path,
                                                withIntermediateDirectories: true)
        try "drop: drop\noutput: out\ndatabase: ledger.sqlite\nlog_file: logs/folder\n"
            .write(toFile: harness.configPath, atomically: true, encoding: .utf8)
        let refused = try harness.run(["--once"])
        #expect(refused.status == 2)
        #expect(refused.standardError.contains("cannot open the log file \(harness.root.path)/logs/folder"), "\(refused.standardError)")
    }
}
