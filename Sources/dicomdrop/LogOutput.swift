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

    func write(_ line: String) {
        var line = line
        // A full disk must not stop the daemon over a log line: the error is dropped.
        line.withUTF8 { bytes in
            descriptor.withLock { fd in _ = FileSystemCalls.writeAll(UnsafeRawBufferPointer(bytes), to: fd) }
        }
    }

    /// swift-log's stream handler, writing through this destination.
    static func handler(label: String) -> StreamLogHandler {
        StreamLogHandler(label: label, stream: Stream())
    }

    private struct Stream: TextOutputStream, Sendable {
        mutating func write(_ string: String) { LogOutput.shared.write(string) }
    }
}
