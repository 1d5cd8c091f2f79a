@preconcurrency import Glibc
import Foundation

/// Runs the `dicomdrop` executable built beside the test bundle (or any program a test
/// drives) and captures its output. Not named CommandLine: that would hide the standard
/// library's.
enum ChildProcess {
    struct Result {
        let status: Int32
        let standardOutput: String
        let standardError: String
    }

    static var executable: URL {
        let directory = Bundle.main.bundleURL.hasDirectoryPath && Bundle.main.bundleURL.pathExtension != "xctest"
            ? Bundle.main.bundleURL : Bundle.main.bundleURL.deletingLastPathComponent()
        return directory.appendingPathComponent("dicomdrop")
    }

    static func run(_ arguments: [String], environment: [String: String] = [:]) throws -> Result {
        try runTool(executable.path, arguments, environment: environment)
    }

    /// Runs any program (the scripts a test drives) the same way; `environment` is added to
    /// this process's. A program still running after `seconds` is killed (its status is
    /// then SIGKILL's): no test waits forever on a child.
    static func runTool(_ path: String, _ arguments: [String], environment: [String: String] = [:],
                        seconds: Double = 600) throws -> Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        if !environment.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        }
        let output = Pipe()
        let error = Pipe()
        process.standardOutput = output
        process.standardError = error
        try process.run()
        let deadline = ChildDeadline(process, seconds: seconds)
        defer { deadline.cancel() }
        // Read before waiting: a full pipe would block the child forever.
        let outData = output.fileHandleForReading.readDataToEndOfFile()
        let errData = error.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Result(status: process.terminationStatus, standardOutput: String(decoding: outData, as: UTF8.self),
                      standardError: String(decoding: errData, as: UTF8.self))
    }
}

/// Kills a child process still running `seconds` from now.
final class ChildDeadline {
    private let item: DispatchWorkItem

    init(_ process: Process, seconds: Double) {
        let pid = process.processIdentifier
        item = DispatchWorkItem { kill(pid, SIGKILL) }
        DispatchQueue.global().asyncAfter(deadline: .now() + seconds, execute: item)
    }

    /// The child has exited (and been waited for): nothing to kill.
    func cancel() { item.cancel() }
}

enum Corpus {
    static let files = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("corpus/files")

    static func path(_ relative: String) -> String { files.appendingPathComponent(relative).path }
}
