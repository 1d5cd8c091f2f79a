import Foundation
import Logging
import ServiceLifecycle

/// systemd's `Type=notify` protocol over `$NOTIFY_SOCKET` (a datagram per message; no
/// libsystemd): READY=1 once the start-up catch-up is over, WATCHDOG=1 while the scheduling
/// loop shows signs of life, STOPPING=1 as soon as a shutdown begins. Without
/// `$NOTIFY_SOCKET` (not run by systemd) it does nothing.
public struct SystemdNotifier: Service {
    let socketPath: String?
    let live: LiveState
    let logger: Logger
    /// `$WATCHDOG_USEC`: systemd restarts the service when no WATCHDOG=1 came this long.
    let watchdog: Duration?

    public init(environment: [String: String] = ProcessInfo.processInfo.environment, live: LiveState, logger: Logger) {
        socketPath = environment["NOTIFY_SOCKET"].flatMap { $0.isEmpty ? nil : $0 }
        self.live = live
        self.logger = logger
        // WATCHDOG_PID, when set, names the process the watchdog is for.
        let forUs = environment["WATCHDOG_PID"].map { Int32($0) == getpid() } ?? true
        watchdog = forUs ? environment["WATCHDOG_USEC"].flatMap(Int64.init).map { Duration.microseconds($0) } : nil
    }

    public var isActive: Bool { socketPath != nil }

    public func run() async throws {
        guard let socketPath else { return }
        let interval = Duration.milliseconds(100)
        await withGracefulShutdownHandler {
            // Cancelled at once by the shutdown, not after the next 100 ms sleep.
            await cancelWhenGracefulShutdown { [self] in await notify(socketPath, every: interval) }
        } onGracefulShutdown: { [self] in
            send("STOPPING=1\nSTATUS=stopping: finishing the files in hand", to: socketPath)
        }
    }

    private func notify(_ socketPath: String, every interval: Duration) async {
        var readySent = false, lastPing = ContinuousClock.now, lastStatus = ""
        do {
            while !Task.isCancelled {
                let snapshot = live.snapshot
                let pending = "\(snapshot.pendingUnits + snapshot.readyUnits) unit(s) pending, \(snapshot.progress.filesDone) file(s) handled"
                let status = "STATUS=" + (snapshot.paused.map { "paused: \($0.reason)" }
                    ?? (snapshot.caughtUp ? "watching; \(pending)" : "catching up: \(pending)"))
                if !readySent && snapshot.caughtUp {
                    send("READY=1\n" + status, to: socketPath)
                    readySent = true
                } else if status != lastStatus {
                    send(status, to: socketPath)
                }
                lastStatus = status
                if let watchdog, ContinuousClock.now - lastPing >= watchdog / 2, isAlive(snapshot, within: watchdog) {
                    send("WATCHDOG=1", to: socketPath)
                    lastPing = ContinuousClock.now
                }
                try await Task.sleep(for: interval)
            }
        } catch {
            return  // cancelled: the daemon is stopping
        }
    }

    /// The loop turned (or a run finished a file) within half the watchdog's interval; or a
    /// run holds the loop (one large file may take minutes) while the scheduler's timer still
    /// fires; or the start-up catch-up is not over (systemd's watchdog starts at READY=1).
    private func isAlive(_ snapshot: LiveState.Snapshot, within watchdog: Duration) -> Bool {
        let window = Double(watchdog.components.seconds) / 2 + 1
        func recent(_ date: Date?) -> Bool { date.map { Date().timeIntervalSince($0) < window } ?? false }
        if !snapshot.caughtUp { return true }
        return recent(snapshot.lastActivity) || (snapshot.currentRun != nil && recent(snapshot.lastTimerTick))
    }

    /// One datagram to the socket; `@name` is Linux's abstract namespace.
    func send(_ message: String, to path: String) {
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return }
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        var bytes = Array(path.utf8)
        if bytes.first == UInt8(ascii: "@") { bytes[0] = 0 }
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard bytes.count < capacity else { return }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in raw.copyBytes(from: bytes) }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count)
        let sent = message.withCString { text in
            withUnsafePointer(to: &address) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { sendto(fd, text, strlen(text), 0, $0, length) }
            }
        }
        if sent < 0 { logger.debug("systemd notification not sent to \(path): \(String(cString: strerror(errno)))") }
    }
}
