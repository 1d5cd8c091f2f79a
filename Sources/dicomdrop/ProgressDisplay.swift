import Foundation
import Logging
import Pipeline
import ServiceLifecycle

/// `--once` and `--reprocess`: how far the work is, on standard error. On a terminal, one
/// line redrawn in place (files and MB done of the total, rate, ETA); otherwise (a pipe, a
/// log file, systemd) a log line every few seconds, so logs are not flooded with redraws.
/// The total grows as each unit's run starts and lists its changed files.
struct ProgressDisplay: Service {
    let live: LiveState
    /// Plain lines go through the log (its format and destination: JSON lines stay JSON).
    let logger: Logger
    let isTerminal: Bool
    /// Between plain lines when standard error is not a terminal.
    let plainInterval: Duration

    init(live: LiveState, logger: Logger, isTerminal: Bool = isatty(STDERR_FILENO) == 1, plainInterval: Duration = .seconds(5)) {
        self.live = live
        self.logger = logger
        self.isTerminal = isTerminal
        self.plainInterval = plainInterval
    }

    func run() async throws {
        let start = ContinuousClock.now
        if isTerminal { LogOutput.shared.clearsLineFirst = true }
        defer { LogOutput.shared.clearsLineFirst = false }
        // Cancelled at once by the shutdown: `--once` must not wait out a redraw's sleep to
        // exit (it did: 0.4 s on every no-op run).
        await cancelWhenGracefulShutdown { [self] in await draw(from: start) }
        // The last state, then a new line: what follows (the run's log line) starts clean.
        if isTerminal {
            write("\r\u{1B}[2K" + Self.line(live.snapshot.progress, seconds: seconds(ContinuousClock.now - start)) + "\n")
        }
    }

    private func draw(from start: ContinuousClock.Instant) async {
        var lastPlain = start, lastShown: LiveState.Snapshot.Progress?
        while !Task.isCancelled {
            do { try await Task.sleep(for: isTerminal ? .milliseconds(200) : .milliseconds(500)) } catch { return }
            let progress = live.snapshot.progress
            let elapsed = (ContinuousClock.now - start)
            if isTerminal {
                // Redrawn every turn: a log line in between cleared it (LogOutput).
                write("\r\u{1B}[2K" + Self.line(progress, seconds: seconds(elapsed)))
            } else if ContinuousClock.now - lastPlain >= plainInterval, progress != lastShown, progress.runsStarted > 0 {
                logger.info("progress: \(Self.line(progress, seconds: seconds(elapsed)))")
                lastPlain = ContinuousClock.now
            }
            lastShown = progress
        }
    }

    private func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }

    /// `[#########-----------]  120/2000 files  35.2/512.0 MB  14.1 MB/s  ETA 0:34`.
    static func line(_ progress: LiveState.Snapshot.Progress, seconds: Double, width: Int = 24) -> String {
        let megabytes = Double(progress.bytesDone) / 1e6, totalMegabytes = Double(progress.bytesTotal) / 1e6
        let fraction = progress.bytesTotal > 0 ? min(1, Double(progress.bytesDone) / Double(progress.bytesTotal))
            : progress.filesTotal > 0 ? min(1, Double(progress.filesDone) / Double(progress.filesTotal)) : 0
        let filled = max(0, min(width, Int((fraction * Double(width)).rounded(.down))))
        let bar = "[" + String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled) + "]"
        let rate = seconds > 0 ? megabytes / seconds : 0
        var eta = "--:--"
        if rate > 0, progress.bytesTotal >= progress.bytesDone {
            let left = Int(((totalMegabytes - megabytes) / rate).rounded())
            eta = String(format: "%d:%02d", left / 60, left % 60)
        }
        return "\(bar) \(progress.filesDone)/\(progress.filesTotal) files  "
            + String(format: "%.1f/%.1f MB  %.1f MB/s  ETA ", megabytes, totalMegabytes, rate) + eta
    }

    private func write(_ text: String) {
        FileHandle.standardError.write(Data(text.utf8))
    }
}
