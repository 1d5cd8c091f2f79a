import CLinux
import Foundation
import Ledger
import Logging
import Shared
import ServiceLifecycle
import Watcher

/// The scheduling loop as a service: change events and a 100 ms tick drive the
/// `UnitScheduler`; ready units are run one at a time by the `UnitProcessor` (whose workers
/// take the unit's files in parallel); full passes (start-up catch-up, periodic rescan,
/// after an inotify overflow) compare the drop tree with the ledger.
///
/// Concurrency: this loop runs on the cooperative pool and never blocks it: walks run on the
/// drop index's queue, ledger commits on the commit queue's thread, file work on the
/// worker pool's threads. Back-pressure: while a unit runs, events wait in the stream (touches of
/// one unit collapse in the scheduler), and the run itself waits when its commits fall
/// behind. A graceful shutdown (SIGTERM, SIGINT) cancels the loop: the files in hand
/// finish, the run is recorded as interrupted.
public final class SchedulerService: Service {
    public enum Input: Sendable {
        case watch(WatchEvent)
        case tick
        /// The moment a stat pass falls due (see `scheduleWake`).
        case wake
    }

    let processor: UnitProcessor
    let index: DropIndex
    let live: LiveState
    let logger: Logger
    /// What a change event is recorded as: `.inotify` or `.poll`.
    let touchTrigger: RunTrigger
    /// `--once`: stop when the start-up catch-up is done (every unit settled and run).
    let once: Bool
    let pollSecondsAfterWatchLimit: Double
    let inputs: AsyncStream<Input>
    let continuation: AsyncStream<Input>.Continuation
    /// How long manifests may stay stale while units keep coming: under a load that never
    /// lets the scheduler go idle they are written this often, not never.
    static let manifestDelaySeconds = 60.0

    public init(processor: UnitProcessor, index: DropIndex, live: LiveState, logger: Logger, touchTrigger: RunTrigger,
                once: Bool = false) {
        self.processor = processor
        self.index = index
        self.live = live
        self.logger = logger
        self.touchTrigger = touchTrigger
        self.once = once
        self.pollSecondsAfterWatchLimit = processor.configuration.pollSeconds
        (inputs, continuation) = AsyncStream.makeStream(of: Input.self)
    }

    /// Where a change source reports.
    public var report: @Sendable (WatchEvent) -> Void {
        { [continuation] event in continuation.yield(.watch(event)) }
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown { [self] in await loop() }
    }

    private func loop() async {
        let configuration = processor.configuration
        let clock = ContinuousClock()
        let start = clock.now
        func now() -> Double { (clock.now - start).inSeconds }
        var scheduler = UnitScheduler(settleSeconds: configuration.settleSeconds)
        var pause = OutputPause()
        var lastRescan = now()
        var overflowLogged = false, watchLimitLogged = false
        var lastPollAfterWatchLimit: Double?
        /// When a run first left manifests stale since they were last written; nil: none is.
        var manifestsStaleSince: Double?

        /// What a pass found becomes touches of its units.
        func apply(_ pass: DropIndex.Pass, as trigger: RunTrigger) {
            live.record(pass, kind: trigger == .poll ? "poll" : "rescan")
            for unit in pass.changedUnits { scheduler.touch(unit, reason: trigger, at: now()) }
        }

        func fullPass(_ trigger: RunTrigger) async {
            do {
                apply(await index.pass(reseedingWith: try processor.ledger.recordedStamps()), as: trigger)
            } catch {
                logger.error("rescan failed: \(error)")
            }
            lastRescan = now()
        }

        /// Runs what is due; the manifests its runs left stale are written once nothing is
        /// left to run (or they have waited too long). A manifest's rewrite costs in
        /// proportion to its directory: once per burst of runs, not once per run.
        func settleRunAndWriteManifests() async {
            // Checked after each run too: one call can run a long queue (a start-up over
            // thousands of loose files), and the manifests must not wait for all of it.
            func writeManifestsWhenDue(idle: Bool) {
                guard let since = manifestsStaleSince, idle || now() - since >= Self.manifestDelaySeconds else { return }
                // One that could not be written keeps its mark: tried again a delay later.
                manifestsStaleSince = processor.writeStaleManifests() ? nil : now()
            }
            let ran = await settleAndRun(&scheduler, &pause, now: now) {
                if manifestsStaleSince == nil { manifestsStaleSince = now() }
                writeManifestsWhenDue(idle: false)
            }
            if ran, manifestsStaleSince == nil { manifestsStaleSince = now() }
            writeManifestsWhenDue(idle: scheduler.isIdle)
        }

        await fullPass(.startup)
        // A unit stopped after its last file was recorded but before its run was closed is
        // left `waiting` with nothing changed: it runs again, skips every file, and is done.
        for unit in (try? processor.ledger.unitsLeftUnfinished()) ?? []
        where FileManager.default.fileExists(atPath: configuration.drop.appendingPathComponent(unit).path) {
            scheduler.touch(unit, reason: .startup, at: now())
        }
        logger.info("\(once ? "catching up with" : "watching") \(configuration.drop.path): \(scheduler.pendingCount) unit(s) pending at start-up")
        await settleRunAndWriteManifests()
        noteCatchUp(scheduler)
        if once && scheduler.isIdle && !pause.isPaused { return }
        let ticker = Task { [continuation, live] in
            while !Task.isCancelled {
                try? await Task.sleep(for: .milliseconds(100))
                live.update { $0.lastTimerTick = Date() }
                continuation.yield(.tick)
            }
        }
        // A stat pass is due at a precise time (the end of a unit's quiet period): a tick of
        // its own then, rather than the next of the 100 ms ticker, so that a dropped folder
        // is processed within milliseconds of `settle_seconds`, not up to a tick later.
        // One wake at a time: `wakeAt` stays set until its `.wake` is handled, so a storm of
        // touches (each moving the unit's pass later) starts no task after the first.
        var wake: Task<Void, Never>?
        var wakeAt: Double?
        // After an event only the touched unit's pass is new (the minimum over every pending
        // unit would make a copy of N loose files O(N^2)); after a tick or a wake, all of them.
        func scheduleWake(unit: String? = nil) {
            guard let due = unit.map({ scheduler.nextCheck(of: $0) }) ?? scheduler.nextCheck else { return }
            if let wakeAt, wakeAt <= due { return }
            wake?.cancel()
            wakeAt = due
            let delay = max(0, due - now())
            wake = Task { [continuation] in
                try? await Task.sleep(for: .seconds(delay))
                if !Task.isCancelled { continuation.yield(.wake) }
            }
        }
        scheduleWake()
        defer {
            ticker.cancel()
            wake?.cancel()
            continuation.finish()
        }

        for await input in inputs {
            if Task.isCancelled { break }
            switch input {
            case .watch(.touched(let unit)):
                scheduler.touch(unit, reason: touchTrigger, at: now())
                scheduleWake(unit: unit)
                continue
            case .watch(.overflow):
                live.recordOverflow()
                if !overflowLogged { logger.warning("\(InotifyRemedy.overflow)") }
                overflowLogged = true
                await fullPass(.rescan)
            case .watch(.watchLimitReached(let path)):
                if !watchLimitLogged { logger.warning("\(InotifyRemedy.watchLimit) (first unwatched folder: \(path))") }
                watchLimitLogged = true
                lastPollAfterWatchLimit = now()
                await fullPass(.rescan)
            case .tick, .wake:
                if case .wake = input { wakeAt = nil }
                if !once && now() - lastRescan >= configuration.rescanSeconds { await fullPass(.rescan) }
                if let last = lastPollAfterWatchLimit, now() - last >= pollSecondsAfterWatchLimit {
                    // Folders inotify could not watch are seen by polling from now on.
                    apply(await index.pass(), as: .poll)
                    lastPollAfterWatchLimit = now()
                }
                if let (unit, trigger) = pause.retry(free: processor.writer.freeBytes, at: now()) {
                    scheduler.touch(unit, reason: trigger, at: now())
                }
                await settleRunAndWriteManifests()
                noteCatchUp(scheduler)
                live.update { $0.lastActivity = Date() }
                if once && scheduler.isIdle && !pause.isPaused { return }
            }
            scheduleWake()
        }
    }

    /// Stat passes of the units that are due, then every ready unit, one at a time (none
    /// while the output filesystem refuses writes). True when a unit was run.
    private func settleAndRun(_ scheduler: inout UnitScheduler, _ pause: inout OutputPause, now: () -> Double,
                              afterEachRun: () -> Void = {}) async -> Bool {
        for unit in scheduler.unitsToCheck(at: now()) {
            let files = index.tree.files(inUnit: unit)
            let recorded = !files.isEmpty || !((try? processor.ledger.sources(inUnit: unit).isEmpty) ?? true)
            if scheduler.observe(unit, files: files, recorded: recorded, at: now()) == .gone {
                try? processor.ledger.forgetUnitNeverRun(unit)
            }
        }
        writeStates(&scheduler)
        var ran = false
        defer {
            // Freed memory stays in the heap while runs go on (dd_keep_freed_memory: per-file
            // buffers are reused, not mapped and zeroed again per file); once the ready units
            // are done it goes back to the system, so a daemon left running for months does
            // not keep the high-water mark of its busiest run (the soak's RSS grew ~2 KB per
            // file without this; malloc_trim gave 6 MiB back after 2,000 files).
            if ran { _ = dd_release_free_memory() }
        }
        while !Task.isCancelled, !pause.isHolding, let (unit, trigger) = scheduler.next() {
            ran = true
            live.update {
                $0.currentRun = LiveState.Snapshot.CurrentRun(unit: unit, trigger: trigger, started: Date())
                $0.unitStates = scheduler.states
            }
            do {
                let summary = try await processor.process(unit: unit, trigger: trigger)
                live.record(summary)
                scheduler.finished(unit, outcome: summary.outcome, at: now())
                note(summary, in: &pause, at: now())
            } catch {
                // The ledger could not even open or close the run.
                logger.error("unit \(unit): \(error)")
                live.update { $0.currentRun = nil }
                scheduler.finished(unit, outcome: .failed, at: now())
            }
            writeStates(&scheduler)
            afterEachRun()
        }
        return ran
    }

    /// A run that paused holds processing (said once per pause); the retried unit's run
    /// that does not pause ends the pause.
    private func note(_ summary: RunSummary, in pause: inout OutputPause, at now: Double) {
        if let refusal = summary.pausedBy {
            if pause.paused(unit: summary.unit, trigger: summary.trigger, free: processor.writer.freeBytes, at: now) {
                logger.error("processing paused, the output filesystem refuses writes: \(refusal). Nothing is recorded as failed; processing resumes by itself once it takes writes again (free space checked every 0.1 s, a retry at least every \(Int(OutputPause.retrySeconds)) s)")
                live.recordPause(reason: "\(refusal)")
            }
        } else if let seconds = pause.ranThrough(summary.unit, at: now) {
            logger.info("the output filesystem takes writes again: processing resumed after \(Int(seconds.rounded())) s")
            live.update { $0.paused = nil }
        }
    }

    /// The start-up catch-up ends the first time nothing is pending (systemd's READY=1).
    private func noteCatchUp(_ scheduler: UnitScheduler) {
        guard scheduler.isIdle, !live.snapshot.caughtUp else { return }
        live.update { $0.caughtUp = true }
        logger.info("start-up catch-up done")
    }

    private func writeStates(_ scheduler: inout UnitScheduler) {
        let changes = scheduler.takeUnwrittenStates()
        do {
            try processor.ledger.setStates(changes)
        } catch {
            logger.error("unit states not recorded: \(error)")
        }
        live.update {
            $0.unitStates = scheduler.states
            $0.pendingUnits = scheduler.pendingCount
            $0.readyUnits = scheduler.readyCount
        }
    }
}

/// A change source (inotify or poll) as a service: it reports to the scheduler until the
/// group shuts down.
public struct ChangeSourceService: Service {
    let source: any ChangeSource
    let report: @Sendable (WatchEvent) -> Void
    /// Called when the source ends (shutdown, or a failure that ended it).
    let ended: @Sendable () -> Void

    public init(source: any ChangeSource, report: @escaping @Sendable (WatchEvent) -> Void,
                ended: @escaping @Sendable () -> Void = {}) {
        self.source = source
        self.report = report
        self.ended = ended
    }

    public func run() async throws {
        defer { ended() }
        await cancelWhenGracefulShutdown { [source, report] in await source.run(report: report) }
    }
}
