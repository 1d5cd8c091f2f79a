import ArgumentParser
import CLinux
import Config
import Foundation
import Ledger
import Logging
import Pipeline
import Server
import ServiceLifecycle
import Shared

@main
struct Dicomdrop: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dicomdrop",
        abstract: "Watches a drop directory for DICOM studies and turns them into PNG images and metadata.",
        discussion: """
            Without options, runs until SIGINT or SIGTERM: folders dropped into the drop
            directory are processed once their copy has settled. Nothing in the drop
            directory is ever modified; what was done is kept in the SQLite ledger.
            """,
        version: DicomdropVersion.current,
        subcommands: [Dump.self, Quality.self, Check.self, Export.self, Status.self, Validate.self, Release.self, RenderBoxes.self]
    )

    @Option(help: "The configuration file.")
    var config = "watch.yaml"

    @Flag(help: "Validate the configuration and exit.")
    var checkConfig = false

    @Flag(help: "Catch up with the drop directory once (process everything new or changed) and exit.")
    var once = false

    @Option(help: ArgumentHelp("Process every file of this unit again, replacing its outputs, and exit.", valueName: "FOLDER"))
    var reprocess: String?

    static func main() async {
        // Per-file buffers (file bytes, pixels, PNG) are megabytes. glibc would mmap and
        // munmap each one: every page faulted and zeroed again per file, and each munmap in
        // a multithreaded process shoots down TLBs on every core. Keeping freed memory in the
        // heap below 64 MiB (the largest file read whole) cut system time by 60-80% in
        // scripts/bench-daemon, with the same peak RSS.
        _ = dd_keep_freed_memory(64 << 20, 128 << 20)
        // Before SQLite's first connection: no process-wide mutex around every SQLite
        // allocation for statistics nothing reads (the workers' lookups and the commit
        // thread's writes waited on each other there: docs/PERFORMANCE.md).
        _ = dd_sqlite_without_memory_statistics()
        _ = dd_sqlite_statement_journals_in_memory_up_to(4 << 20)
        // Log lines go to standard error, so that standard output carries only data, or to
        // `log_file` once the configuration is read.
        LoggingSystem.bootstrap(LogOutput.handler)
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            exit(withError: error)
        }
    }

    func run() async throws {
        let logger = Logger(label: "dicomdrop")
        let configuration: WatchConfiguration
        do {
            configuration = try ConfigurationLoader.load(path: config)
        } catch {
            FileHandle.standardError.write(Data("dicomdrop: \(error)\n".utf8))
            throw ExitCode(2)
        }
        if checkConfig {
            print("\(config): ok (drop \(configuration.drop.path), output \(configuration.output.path), database \(configuration.database.path))")
            return
        }
        LogOutput.shared.apply(configuration.log)
        if let logFile = configuration.logFile {
            do {
                try LogOutput.shared.redirect(to: logFile)
            } catch {
                FileHandle.standardError.write(Data("dicomdrop: \(error)\n".utf8))
                throw ExitCode(2)
            }
        }
        // A path the daemon cannot use stops start-up with one line naming it and why.
        for (what, folder) in [("drop directory", configuration.drop), ("output directory", configuration.output)] {
            if let reason = Self.cannotMakeFolder(folder) {
                FileHandle.standardError.write(Data("dicomdrop: cannot create the \(what) \(folder.path): \(reason)\n".utf8))
                throw ExitCode(2)
            }
        }
        let ledger: Ledger
        let lock: LedgerLock
        do {
            ledger = try Ledger(path: configuration.database)
            // Held for the process's life: `dicomdrop check --repair` waits for no one.
            lock = try LedgerLock(beside: configuration.database, mode: .shared)
        } catch {
            FileHandle.standardError.write(Data("dicomdrop: \(error)\n".utf8))
            throw ExitCode(2)
        }
        defer { withExtendedLifetime(lock) {} }
        // Damage inside the file (a page, an index) would otherwise surface as a failed run
        // per unit, hours later; quick_check reads every page once (a
        // 27 MB ledger of 50,000 files: 0.045 s from the page cache, 1.6 s cold).
        let damage: [String]
        do { damage = try ledger.damage() } catch { damage = ["\(error)"] }
        if let first = damage.first {
            let path = configuration.database.path
            FileHandle.standardError.write(Data("""
                dicomdrop: the ledger \(path) is damaged (SQLite quick_check: \(first)\(damage.count > 1 ? "; and \(damage.count - 1) more" : "")): \
                recover it with `sqlite3 \(path) .recover | sqlite3 NEW` and point database: at NEW, or move it aside to start a new ledger (every file is then processed again)

                """.utf8))
            throw ExitCode(2)
        }
        if let server = configuration.statusServer, let refusal = ListenCheck.refusal(host: server.host, port: server.port) {
            FileHandle.standardError.write(Data("dicomdrop: \(config): http.listen: cannot listen on \(server.host):\(server.port): \(refusal)\n".utf8))
            throw ExitCode(2)
        }
        // swift-metrics binds each metric when it is made: the backend comes before the
        // pipeline makes its metrics. Without the status server nothing would read them.
        let exporter = configuration.statusServer == nil ? nil : MetricsExporter.bootstrap()
        let processor: UnitProcessor
        do {
            processor = try UnitProcessor(configuration: configuration, ledger: ledger, logger: logger)
        } catch {
            FileHandle.standardError.write(Data("dicomdrop: \(error)\n".utf8))
            throw ExitCode(2)
        }
        processor.sweepTemporaries()
        if let closed = try? ledger.closeRunsLeftOpen(), closed > 0 {
            logger.warning("\(closed) run(s) left open by an interrupted process recorded as interrupted; their units are caught up now")
            processor.refreshAllManifests()
        }
        // A crash after a run's close and before its manifests' deferred rewrite left them
        // marked stale in the ledger.
        processor.writeStaleManifests()
        if reprocess == nil { processor.reportOutputsOfOtherConfigurations() }
        processor.reportFiltersOnCSVColumns()
        do {
            try processor.fillMetadataTablesFromSidecars()
        } catch {
            logger.error("metadata tables not filled from the JSON sidecars: \(error); they are tried again at the next start")
        }

        let mode: Daemon.Mode = if let reprocess { .reprocess(unit: try unitName(reprocess, drop: configuration.drop)) } else if once { .once } else { .watch }
        try await Daemon(processor: processor, mode: mode, logger: logger,
                         operatorServices: operatorServices(configuration, processor: processor, ledger: ledger, exporter: exporter,
                                                            mode: mode, logger: logger),
                         firstToStop: [.init(service: SystemdNotifier(live: processor.live, logger: logger),
                                             successTerminationBehavior: .ignore, serviceName: "systemd notifier")]).run()
    }

    /// The status server, the webhooks and the progress bar, each when asked for. Each may
    /// end early (nothing to do) without ending the daemon.
    private func operatorServices(_ configuration: WatchConfiguration, processor: UnitProcessor, ledger: Ledger,
                                  exporter: MetricsExporter?, mode: Daemon.Mode,
                                  logger: Logger) -> [ServiceGroupConfiguration.ServiceConfiguration] {
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = []
        if let settings = configuration.statusServer {
            let server = StatusServer(settings: settings, ledger: ledger, live: processor.live, exporter: exporter,
                                      configuration: configuration, version: DicomdropVersion.current, watching: mode == .watch,
                                      logger: logger)
            // Should it fail later all the same, the pipeline stops as on SIGTERM: the files in
            // hand finish and the run is recorded.
            services.append(.init(service: server, failureTerminationBehavior: .gracefullyShutdownGroup, serviceName: "status server"))
        }
        if !configuration.webhooks.isEmpty {
            let notifier = WebhookNotifier(hooks: configuration.webhooks, live: processor.live, ledger: ledger, logger: logger)
            services.append(.init(service: notifier, successTerminationBehavior: .ignore, serviceName: "webhooks"))
        }
        if mode != .watch {
            services.append(.init(service: ProgressDisplay(live: processor.live, logger: logger), successTerminationBehavior: .ignore,
                                  serviceName: "progress"))
        }
        return services
    }

    /// Why `folder` cannot be made (with its parents), or nil once it exists: the system's
    /// reason (`mkdir`'s errno), which Foundation's errors do not always carry.
    private static func cannotMakeFolder(_ folder: URL) -> String? {
        let path = folder.standardizedFileURL.path
        return FileSystemCalls.makeFolders(path).map { $0.path == path ? $0.reason : "\($0.path): \($0.reason)" }
    }

    /// FOLDER as given to --reprocess: absolute, or relative to the drop directory; it must
    /// name a top-level entry of the drop directory that exists.
    private func unitName(_ folder: String, drop: URL) throws -> String {
        let dropPath = drop.standardizedFileURL.path
        var relative = folder
        if folder.hasPrefix("/") {
            let absolute = URL(fileURLWithPath: folder).standardizedFileURL.path
            guard absolute.hasPrefix(dropPath + "/") else {
                throw ValidationError("--reprocess \(folder): not inside the drop directory \(dropPath)")
            }
            relative = String(absolute.dropFirst(dropPath.count + 1))
        }
        while relative.hasSuffix("/") { relative.removeLast() }
        guard !relative.isEmpty, !relative.contains("/"), relative != "..", relative != "." else {
            throw ValidationError("--reprocess \(folder): name a folder or file directly inside the drop directory \(dropPath)")
        }
        guard FileManager.default.fileExists(atPath: dropPath + "/" + relative) else {
            throw ValidationError("--reprocess \(folder): no such folder in the drop directory \(dropPath)")
        }
        return relative
    }
}
