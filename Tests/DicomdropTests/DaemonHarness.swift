@preconcurrency import Glibc
import Crypto
import Deidentify
import Foundation
import Ledger
import Testing

/// A temporary dicomdrop installation: drop and output folders, a ledger, a watch.yaml,
/// and the real executable run against them.
final class DaemonHarness: @unchecked Sendable {
    let root: URL
    var drop: URL { root.appendingPathComponent("drop") }
    var output: URL { root.appendingPathComponent("out") }
    var database: URL { root.appendingPathComponent("ledger.sqlite") }
    var configPath: String { root.appendingPathComponent("watch.yaml").path }
    private(set) var daemon: Process?
    let log: URL

    init(settleSeconds: Double = 0.3, extraConfig: String = "") throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("dicomdrop-\(UUID().uuidString)")
        log = root.appendingPathComponent("daemon.log")
        try FileManager.default.createDirectory(at: root.appendingPathComponent("drop"), withIntermediateDirectories: true)
        // One known key for every harness: two installations then name outputs alike, and a
        // test can compute the pseudonym of a UID it knows.
        try FileManager.default.createDirectory(at: root.appendingPathComponent("var"), withIntermediateDirectories: true)
        let keyPath = root.appendingPathComponent("var/deidentify.key").path
        _ = FileManager.default.createFile(atPath: keyPath, contents: Self.key, attributes: [.posixPermissions: 0o600])
        try """
            drop: drop
            output: out
            database: ledger.sqlite
            settle_seconds: \(settleSeconds)
            rescan_seconds: 3600
            \(extraConfig)
            """.write(toFile: configPath, atomically: true, encoding: .utf8)
    }

    static let key = Data(repeating: 0x5A, count: 32)

    /// The name the daemon of any harness gives a content without a usable UID.
    static func contentName(_ sha256: String) -> String {
        Pseudonymizer(key: SymmetricKey(data: key)).contentName(sha256)
    }

    /// What the daemon of any harness turns `uid` into.
    static func remapped(_ uid: String) -> String {
        Pseudonymizer(key: SymmetricKey(data: key)).uid(uid)
    }

    deinit {
        if let daemon, daemon.isRunning { kill(daemon.processIdentifier, SIGKILL) }
        try? FileManager.default.removeItem(at: root)
    }

    /// `environment`: added to this process's (LD_PRELOAD of the fault injector ...).
    func start(environment: [String: String] = [:]) throws {
        let process = Process()
        process.executableURL = ChildProcess.executable
        process.arguments = ["--config", configPath]
        if !environment.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        }
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        let handle = try FileHandle(forWritingTo: log)
        handle.seekToEndOfFile()
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        daemon = process
    }

    /// SIGTERM, and the exit status once it exits (nil if it did not within `seconds`).
    func stop(within seconds: Double = 5) async -> Int32? {
        guard let daemon else { return nil }
        kill(daemon.processIdentifier, SIGTERM)
        let exited = await waitUntil(seconds: seconds) { !daemon.isRunning }
        self.daemon = nil
        return exited ? daemon.terminationStatus : nil
    }

    func killHard() {
        guard let daemon else { return }
        kill(daemon.processIdentifier, SIGKILL)
        daemon.waitUntilExit()
        self.daemon = nil
    }

    func run(_ arguments: [String], environment: [String: String] = [:]) throws -> ChildProcess.Result {
        try ChildProcess.run(["--config", configPath] + arguments, environment: environment)
    }

    /// `dicomdrop check` on this installation.
    func check(_ arguments: [String] = []) throws -> ChildProcess.Result {
        try ChildProcess.run(["check", "--config", configPath] + arguments)
    }

    /// Copies corpus files into a new unit folder of the drop directory.
    func drop(_ corpusFiles: [String], into unit: String) throws {
        let folder = drop.appendingPathComponent(unit)
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        for file in corpusFiles {
            try FileManager.default.copyItem(atPath: Corpus.path(file), toPath: folder.appendingPathComponent((file as NSString).lastPathComponent).path)
        }
    }

    /// Output files (relative paths) with their bytes.
    /// Every file under the output directory but the bucket directories' manifests (see
    /// `manifests()`), by relative path.
    func outputs() -> [String: Data] {
        filesUnderOutput().filter { !Self.isManifest($0.key) }
    }

    /// Each bucket directory's `manifest.csv`, by relative path.
    func manifests() -> [String: Data] {
        filesUnderOutput().filter { Self.isManifest($0.key) }
    }

    private static func isManifest(_ relative: String) -> Bool {
        let components = relative.split(separator: "/")
        // A held run's directories are under held/.
        let depth = components.first == "held" ? 3 : 2
        return components.count == depth && components.last == "manifest.csv"
    }

    private func filesUnderOutput() -> [String: Data] {
        var result: [String: Data] = [:]
        guard let enumerator = FileManager.default.enumerator(atPath: output.path) else { return result }
        while let relative = enumerator.nextObject() as? String {
            var isDirectory: ObjCBool = false
            let path = output.appendingPathComponent(relative).path
            if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue {
                result[relative] = FileManager.default.contents(atPath: path)
            }
        }
        return result
    }

    func ledger() throws -> Ledger { try Ledger(path: database) }

    func logText() -> String { (try? String(contentsOf: log, encoding: .utf8)) ?? "" }
}

/// Appends `data` to `path` in `pieces` writes, `pause` seconds apart, as a slow copy does.
/// On a thread of its own, not a task: on a loaded machine the test process's cooperative
/// pool is busy with other suites, and a `Task.sleep` can overshoot by seconds, which
/// would look like a finished copy to the daemon.
func writeSlowly(_ data: Data, to path: String, pieces: Int, pause: Double) async {
    await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
        let thread = Thread {
            let handle = FileHandle(forWritingAtPath: path)
            let piece = data.count / pieces + 1
            for start in stride(from: 0, to: data.count, by: piece) {
                if start > 0 { usleep(useconds_t(pause * 1_000_000)) }
                handle?.seekToEndOfFile()
                handle?.write(data[start..<min(start + piece, data.count)])
            }
            try? handle?.close()
            done.resume()
        }
        thread.start()
    }
}

/// Polls `condition` every 50 ms until it holds or `seconds` pass: tests wait on the daemon
/// this way, never with a bare sleep.
func waitUntil(seconds: Double, _ condition: () throws -> Bool) async rethrows -> Bool {
    let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
    while ContinuousClock.now < deadline {
        if try condition() { return true }
        try? await Task.sleep(for: .milliseconds(50))
    }
    return try condition()
}

/// `waitUntil` without suspending: for a test that must act within a window (kill a daemon
/// in the middle of a unit). An async poll gives its thread back between checks, and with
/// every suite of `swift test` running on the two cooperative threads, getting one back can
/// take longer than the daemon needs to finish the unit; this keeps the thread it runs on.
func waitUntilHoldingThread(seconds: Double, _ condition: () throws -> Bool) rethrows -> Bool {
    let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
    while ContinuousClock.now < deadline {
        if try condition() { return true }
        usleep(20_000)
    }
    return try condition()
}

/// Copies of CT_small with distinct SOP Instance UIDs (rewritten in place), so that each is
/// new content with outputs of its own.
enum DistinctImages {
    static func write(_ count: Int, into folder: URL) throws {
        let source = try #require(FileManager.default.contents(atPath: Corpus.path("pydicom/test_files/CT_small.dcm")))
        let uid = Data("20040119072730.12322".utf8)
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        for index in 0..<count {
            var copy = source
            let replacement = Data(String(format: "20040119072730.%05d", index).utf8)
            var searchStart = copy.startIndex
            while let range = copy.range(of: uid, in: searchStart..<copy.endIndex) {
                copy.replaceSubrange(range, with: replacement)
                searchStart = range.upperBound
            }
            try copy.write(to: folder.appendingPathComponent("\(index).dcm"))
        }
    }
}
