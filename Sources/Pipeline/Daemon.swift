import Foundation
import Logging
import ServiceLifecycle
import Watcher

/// The daemon as a group of services (swift-service-lifecycle), in start-up order: the
/// change source, the commit queue, the worker pool and the scheduler (a status server
/// joins later). SIGTERM and SIGINT shut them down in reverse order: the scheduler stops
/// starting files, waits for the ones in hand and records its run as interrupted; the
/// worker pool then has nothing left and ends its threads; the commit queue has committed
/// every batch of that run and stops; the change source stops last.
public struct Daemon: Sendable {
    /// What the group runs in place of the change source and the scheduler.
    public enum Mode: Sendable, Equatable {
        /// Watch the drop directory until stopped.
        case watch
        /// `--once`: the start-up catch-up (settling each unit), then exit.
        case once
        /// `--reprocess FOLDER`: replay one unit, then exit.
        case reprocess(unit: String)
    }

    public let processor: UnitProcessor
    public let mode: Mode
    public let logger: Logger
    /// What the daemon is doing, for whoever wants to show it.
    public let live: LiveState

    /// Services the operator added (status server, webhooks, progress bar): started before
    /// the pipeline's, stopped after them.
    let operatorServices: [ServiceGroupConfiguration.ServiceConfiguration]
    /// Services stopped first, before the scheduler: told of the shutdown at once (systemd's
    /// STOPPING=1 must not wait for the files in hand).
    let firstToStop: [ServiceGroupConfiguration.ServiceConfiguration]

    public init(processor: UnitProcessor, mode: Mode, logger: Logger,
                operatorServices: [ServiceGroupConfiguration.ServiceConfiguration] = [],
                firstToStop: [ServiceGroupConfiguration.ServiceConfiguration] = []) {
        self.processor = processor
        self.mode = mode
        self.logger = logger
        self.operatorServices = operatorServices
        self.firstToStop = firstToStop
        live = processor.live
    }

    public func run() async throws {
        let group = ServiceGroup(configuration: ServiceGroupConfiguration(
            services: try services(), gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        // However the group ended (--once, --reprocess, SIGTERM mid-burst, a failed
        // service), what the runs committed is in the manifests before the process exits.
        do {
            try await group.run()
        } catch {
            processor.writeStaleManifests()
            throw error
        }
        processor.writeStaleManifests()
        logger.info("stopped")
    }

    /// The services in start-up order.
    func services() throws -> [ServiceGroupConfiguration.ServiceConfiguration] {
        let configuration = processor.configuration
        let index = DropIndex(tree: DropTree(root: configuration.drop))
        var services = operatorServices
        let last: any Service
        switch mode {
        case .once:
            last = SchedulerService(processor: processor, index: index, live: live, logger: logger, touchTrigger: .rescan, once: true)
        case .reprocess(let unit):
            last = ReprocessService(processor: processor, unit: unit, live: live)
        case .watch:
            let (source, choice) = try changeSource(index: index)
            let description = choice.mode == .poll ? "poll every \(configuration.pollSeconds) s" : "inotify"
            logger.info("watcher: \(description), because \(choice.reason)")
            live.update { $0.watcher = "\(description): \(choice.reason)" }
            let scheduler = SchedulerService(processor: processor, index: index, live: live, logger: logger,
                                             touchTrigger: choice.mode == .poll ? .poll : .inotify)
            services.append(.init(service: ChangeSourceService(source: source, report: scheduler.report,
                                                                      ended: { [live] in live.update { $0.changeSourceEnded = Date() } }), serviceName: "change source"))
            last = scheduler
        }
        services.append(.init(service: processor.commitQueue, serviceName: "commit queue"))
        services.append(.init(service: processor.workers, serviceName: "worker pool"))
        // The scheduler (or the replay) ending by itself (--once, --reprocess) shuts the rest
        // down in order.
        services.append(.init(service: last, successTerminationBehavior: .gracefullyShutdownGroup,
                              serviceName: mode == .watch || mode == .once ? "scheduler" : "reprocess"))
        return services + firstToStop
    }

    /// inotify or poll, as `watch.mode` asks or `auto` decides; poll when inotify's watch
    /// limit is too low for the tree.
    private func changeSource(index: DropIndex) throws(InotifyWatcher.WatchError) -> (any ChangeSource, WatcherChoice) {
        let configuration = processor.configuration
        let choice = WatcherChoice.choose(configuration.watchMode, drop: configuration.drop.path)
        let poller = PollWatcher(index: index, interval: configuration.pollSeconds) { [live] in live.record($0, kind: "poll") }
        guard choice.mode != .poll else { return (poller, choice) }
        do {
            // Watching starts before the start-up catch-up, so nothing dropped in between is missed.
            return (try InotifyWatcher(root: configuration.drop), choice)
        } catch where error.isWatchLimit {
            return (poller, WatcherChoice(mode: .poll, reason: "\(error)"))
        }
    }
}

/// `--reprocess FOLDER` as a service: one run of one unit, then the group shuts down. A
/// SIGTERM in the middle ends it like the scheduler's runs: the files in hand finish and the
/// run is recorded as interrupted.
struct ReprocessService: Service {
    let processor: UnitProcessor
    let unit: String
    let live: LiveState

    func run() async throws {
        let summary = try await cancelWhenGracefulShutdown { [processor, unit] in
            try await processor.process(unit: unit, trigger: .reprocess)
        }
        live.record(summary)
    }
}
