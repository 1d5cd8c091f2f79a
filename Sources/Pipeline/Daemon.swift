import Logging
import ServiceLifecycle
import Watcher

/// The daemon as a group of services (swift-service-lifecycle): the change source and the
/// scheduler (a status server joins later). SIGTERM and SIGINT shut them down in reverse
/// order: the scheduler finishes the files in hand and records its run as interrupted, then
/// the change source stops. `--once` runs the scheduler alone, which ends the group when the
/// catch-up is done.
public struct Daemon: Sendable {
    public let processor: UnitProcessor
    public let once: Bool
    public let logger: Logger
    /// What the daemon is doing, for whoever wants to show it.
    public let live = LiveState()

    public init(processor: UnitProcessor, once: Bool, logger: Logger) {
        self.processor = processor
        self.once = once
        self.logger = logger
    }

    public func run() async throws {
        let group = ServiceGroup(configuration: ServiceGroupConfiguration(
            services: try services(), gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
        logger.info("stopped")
    }

    /// The services in start-up order.
    func services() throws -> [ServiceGroupConfiguration.ServiceConfiguration] {
        let configuration = processor.configuration
        let index = DropIndex(tree: DropTree(root: configuration.drop))
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = []
        let scheduler: SchedulerService
        if once {
            scheduler = SchedulerService(processor: processor, index: index, live: live, logger: logger, touchTrigger: .rescan, once: true)
        } else {
            let (source, choice) = try changeSource(index: index)
            let description = choice.mode == .poll ? "poll every \(configuration.pollSeconds) s" : "inotify"
            logger.info("watcher: \(description), because \(choice.reason)")
            live.update { $0.watcher = "\(description): \(choice.reason)" }
            scheduler = SchedulerService(processor: processor, index: index, live: live, logger: logger,
                                         touchTrigger: choice.mode == .poll ? .poll : .inotify)
            services.append(.init(service: ChangeSourceService(source: source, report: scheduler.report), serviceName: "change source"))
        }
        services.append(.init(service: scheduler, successTerminationBehavior: .gracefullyShutdownGroup, serviceName: "scheduler"))
        return services
    }

    /// inotify or poll, as `watch.mode` asks or `auto` decides; poll when inotify's watch
    /// limit is too low for the tree.
    private func changeSource(index: DropIndex) throws(InotifyWatcher.WatchError) -> (any ChangeSource, WatcherChoice) {
        let configuration = processor.configuration
        let choice = WatcherChoice.choose(configuration.watchMode, drop: configuration.drop.path)
        let poller = PollWatcher(index: index, interval: configuration.pollSeconds) { [live] in live.record($0) }
        guard choice.mode != .poll else { return (poller, choice) }
        do {
            // Watching starts before the start-up catch-up, so nothing dropped in between is missed.
            return (try InotifyWatcher(root: configuration.drop), choice)
        } catch where error.isWatchLimit {
            return (poller, WatcherChoice(mode: .poll, reason: "\(error)"))
        }
    }
}
