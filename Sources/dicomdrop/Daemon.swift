@preconcurrency import Glibc
import Config
import Foundation
import Ledger
import Logging
import Pipeline
import Shared
import Watcher

/// The long-running loop: inotify events and periodic rescans make units pending, the
/// settle tracker decides when each is ready, and ready units are processed one at a time.
struct Daemon {
    let processor: UnitProcessor
    let logger: Logger

    enum Input: Sendable {
        case watch(WatchEvent)
        case tick
    }

    /// Runs until the task is cancelled (SIGINT/SIGTERM cancel it).
    func run() async throws {
        let configuration = processor.configuration
        let tree = DropTree(root: configuration.drop)
        // Watch before the catch-up scan, so that nothing dropped in between is missed.
        let watcher = try InotifyWatcher(root: configuration.drop)
        defer { watcher.stop() }
        var tracker = SettleTracker<[DroppedFile], RunTrigger>(settleSeconds: configuration.settleSeconds)
        let clock = ContinuousClock()
        let start = clock.now
        func now() -> Double {
            let elapsed = clock.now - start
            return elapsed.inSeconds
        }

        func rescan(_ reason: RunTrigger) {
            do {
                for unit in try PendingWork.units(in: tree, ledger: processor.ledger) {
                    tracker.touch(unit, reason: reason, at: now())
                }
            } catch {
                logger.error("rescan failed: \(error)")
            }
        }
        rescan(.startup)
        logger.info("watching \(configuration.drop.path): \(tracker.pendingUnits.count) unit(s) pending at start-up")

        let (inputs, continuation) = AsyncStream.makeStream(of: Input.self)
        let forwarder = Task {
            for await event in watcher.events { continuation.yield(.watch(event)) }
        }
        let ticker = Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: .milliseconds(100))
                continuation.yield(.tick)
            }
        }
        defer {
            forwarder.cancel()
            ticker.cancel()
            continuation.finish()
        }

        var lastRescan = now()
        for await input in inputs {
            if Task.isCancelled { break }
            switch input {
            case .watch(.touched(let unit)):
                tracker.touch(unit, reason: .inotify, at: now())
            case .watch(.overflow):
                logger.warning("inotify queue overflowed: rescanning the drop directory")
                rescan(.rescan)
            case .tick:
                if now() - lastRescan >= configuration.rescanSeconds {
                    rescan(.rescan)
                    lastRescan = now()
                }
                for unit in tracker.unitsToCheck(at: now()) {
                    let files = tree.files(inUnit: unit)
                    if files.isEmpty, (try? processor.ledger.sources(inUnit: unit).isEmpty) ?? true {
                        tracker.forget(unit)  // gone before it settled: nothing to do
                        continue
                    }
                    guard let trigger = tracker.observe(unit, snapshot: files, at: now()) else { continue }
                    do {
                        _ = try await processor.process(unit: unit, trigger: trigger)
                    } catch {
                        logger.error("unit \(unit): \(error)")
                    }
                    if Task.isCancelled { break }
                }
            }
        }
        logger.info("stopped")
    }
}

/// Turns SIGINT and SIGTERM into cancellation of `task`.
final class SignalHandlers {
    private let sources: [any DispatchSourceSignal]

    init(cancelling task: Task<Void, any Error>, logger: Logger) {
        sources = [SIGINT, SIGTERM].map { number in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler {
                logger.info("signal \(number): finishing the file(s) in hand and stopping")
                task.cancel()
            }
            source.resume()
            return source
        }
    }
}
