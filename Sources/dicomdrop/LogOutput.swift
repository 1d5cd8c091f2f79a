import Config
import Foundation
import Logging
import Shared
import Synchronization

/// Where the daemon's log lines go: standard error until watch.yaml names `log_file`, then
/// that file. Log lines name source folders, and hospitals name folders after patients, so
/// the file is created 0600 and an existing one with wider permissions is narrowed to 0600:
/// it is written for the operator only, like the ledger.
///
/// One destination for every logger, switched in place: loggers made before the
/// configuration was read follow it too. Each line is one `write(2)` under a lock, in
/// append mode, so lines never interleave and `logrotate`'s `copytruncate` works.
final class LogOutput: Sendable {
    static let shared = LogOutput()

    enum Failure: Error, CustomStringConvertible {
        case cannotOpen(path: String, reason: String)

        var description: String {
            switch self {
            case .cannotOpen(let path, let reason): "cannot open the log file \(path): \(reason)"
            }
        }
    }

    private let descriptor = Mutex<Int32>(STDERR_FILENO)
    /// watch.yaml's `log.format` and `log.level`, applied to loggers already made too.
    private let style = Mutex((format: LogConfiguration.Format.text, level: Logger.Level.info))

    func apply(_ settings: LogConfiguration) {
        style.withLock { $0 = (settings.format, Logger.Level(rawValue: settings.level.rawValue) ?? .info) }
    }

    var format: LogConfiguration.Format { style.withLock { $0.format } }
    var level: Logger.Level { style.withLock { $0.level } }

    /// Sends every line from now on to `file` (appended; made with its parent folders).
    func redirect(to file: URL) throws(Failure) {
        let path = file.path
        if let refusal = FileSystemCalls.makeFolders(file.deletingLastPathComponent().path) {
            throw .cannotOpen(path: path, reason: "its folder \(refusal.path) cannot be created (\(refusal.reason))")
        }
        let opened = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
        guard opened >= 0 else { throw .cannotOpen(path: path, reason: String(cString: strerror(errno))) }
        var status = stat()
        guard fstat(opened, &status) == 0, (status.st_mode & S_IFMT) == S_IFREG else {
            close(opened)
            throw .cannotOpen(path: path, reason: "not a regular file")
        }
        if status.st_mode & 0o077 != 0, fchmod(opened, 0o600) != 0 {
            let reason = String(cString: strerror(errno))
            close(opened)
            throw .cannotOpen(path: path, reason: "it is readable by others and cannot be made 0600 (\(reason))")
        }
        let previous = descriptor.withLock { current in
            defer { current = opened }
            return current
        }
        if previous != STDERR_FILENO { close(previous) }
    }

    /// Set while a progress bar is drawn on the terminal: a log line first clears the bar's
    /// line (the bar is drawn again below it).
    var clearsLineFirst: Bool {
        get { clearing.withLock { $0 } }
        set { clearing.withLock { $0 = newValue } }
    }
    private let clearing = Mutex(false)

    func write(_ line: String) {
        var line = line
        if clearsLineFirst && descriptor.withLock({ $0 }) == STDERR_FILENO { line = "\r\u{1B}[2K" + line }
        // A full disk must not stop the daemon over a log line: the error is dropped.
        line.withUTF8 { bytes in
            descriptor.withLock { fd in _ = FileSystemCalls.writeAll(UnsafeRawBufferPointer(bytes), to: fd) }
        }
    }

    /// The handler of every logger: lines through this destination, in the configured
    /// format and from the configured level.
    static func handler(label: String) -> DaemonLogHandler {
        DaemonLogHandler(label: label, text: StreamLogHandler(label: label, stream: Stream()))
    }

    private struct Stream: TextOutputStream, Sendable {
        mutating func write(_ string: String) { LogOutput.shared.write(string) }
    }
}

/// swift-log's stream handler for `log.format: text` (what a terminal shows); one JSON object
/// per line for `json` (journald, Loki, jq): `{"time","level","label","message",...metadata}`.
struct DaemonLogHandler: LogHandler {
    /// `2026-12-02T08:00:00.123Z`: a value type, safe from any thread.
    static let time = Date.ISO8601FormatStyle(includingFractionalSeconds: true)
    let label: String
    var text: StreamLogHandler
    var metadata: Logger.Metadata = [:]
    var metadataProvider: Logger.MetadataProvider?

    init(label: String, text: StreamLogHandler) {
        self.label = label
        self.text = text
        self.text.logLevel = .trace  // the level is decided here, from the configuration
    }

    var logLevel: Logger.Level {
        get { LogOutput.shared.level }
        set {}  // one level for the process: watch.yaml's
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        guard LogOutput.shared.format == .json else {
            var text = text
            text.metadata = metadata
            text.log(event: event)
            return
        }
        var object: [String: Any] = [:]
        for (key, value) in metadata.merging(metadataProvider?.get() ?? [:], uniquingKeysWith: { $1 })
            .merging(event.metadata ?? [:], uniquingKeysWith: { $1 }) {
            object[key] = "\(value)"
        }
        object["time"] = Date().formatted(Self.time)
        object["level"] = event.level.rawValue
        object["label"] = label
        object["message"] = "\(event.message)"
        guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]) else { return }
        LogOutput.shared.write(String(decoding: data, as: UTF8.self) + "\n")
    }
}
