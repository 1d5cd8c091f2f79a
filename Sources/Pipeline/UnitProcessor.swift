import Config
import Crypto
import Deidentify
import DICOM
import Foundation
import Imaging
import Ledger
import Logging
import Shared
import Synchronization
import Watcher

/// What one run of one unit did.
public struct RunSummary: Sendable, Equatable {
    public let unit: String
    public let trigger: RunTrigger
    public let counts: RunCounts
    public let outcome: RunOutcome
    public let seconds: Double
    /// Why a `.paused` run paused: the output filesystem's refusal.
    let pausedBy: OutputWriter.Failure?
    /// Files that failed, by why.
    public let failures: [DaemonMetrics.FailureKind: Int]
    /// The run's validation by `expectations:`; nil when it was not validated (no rules, or
    /// no instance processed).
    public var validation: Validation?

    public struct Validation: Sendable, Equatable {
        public let run: Int64
        public let verdict: RunVerdict
        public let failedRules: [String]
        /// Images moved to `held` (on_failure: hold).
        public let held: Int
    }
}

/// Processes the units of the drop directory: stat, hash what changed, skip what the ledger
/// already knows, parse and write outputs for new content, record everything.
public final class UnitProcessor: Sendable {
    public let configuration: WatchConfiguration
    public let ledger: Ledger
    let tree: DropTree
    let writer: OutputWriter
    let planner: BucketPlanner
    let writeStage: WriteStage
    let catalog: MetadataCatalog
    let filterStage: FilterStage
    let manifests: ManifestWriter
    let logger: Logger
    let digest: String
    /// Results recorded per ledger transaction: a crash loses at most this many files' work.
    static let batchSize = 64

    let deidentifier: Deidentifier
    let pseudonymMap: PseudonymMap
    let annotationStage: AnnotationStage
    /// `expectations:`; nil: runs are not validated.
    let expectations: ExpectationEvaluator?
    let heldImages: HeldImages
    /// Where files are processed (`workers` threads) and where batches are committed: both
    /// services of the daemon's group, shared by every run.
    public let workers: WorkerPool
    public let commitQueue = LedgerCommitQueue()
    /// What the daemon is doing: runs report their files here as they go.
    public let live: LiveState
    var metrics: DaemonMetrics { live.metrics }

    public enum SetupError: Error, Sendable, CustomStringConvertible {
        case key(KeyFile.KeyError)
        case pseudonymMap(Ledger.LedgerError)
        case metadataTables(Ledger.LedgerError)
        case expectations(String)
        public var description: String {
            switch self {
            case .expectations(let reason): "expectations: \(reason)"
            case .key(let error): "\(error)"
            case .pseudonymMap(let error): "pseudonym map: \(error)"
            case .metadataTables(let error): "metadata tables: \(error)"
            }
        }
    }

    /// Files up to this size are read whole; larger ones are hashed in chunks and parsed
    /// with their Pixel Data left in the file (frames read by offset).
    let inMemoryLimit: Int

    /// Opens (or creates) the de-identification key and the pseudonym map named by the
    /// configuration.
    public convenience init(configuration: WatchConfiguration, ledger: Ledger, logger: Logger) throws(SetupError) {
        try self.init(configuration: configuration, ledger: ledger, logger: logger, inMemoryLimit: ContentHasher.inMemoryLimit)
    }

    /// `inMemoryLimit`: tests lower it to send small files down the large files' path.
    init(configuration: WatchConfiguration, ledger: Ledger, logger: Logger, inMemoryLimit: Int) throws(SetupError) {
        self.inMemoryLimit = inMemoryLimit
        self.configuration = configuration
        self.ledger = ledger
        self.tree = DropTree(root: configuration.drop)
        self.writer = OutputWriter(root: configuration.output)
        self.planner = BucketPlanner(configuration: configuration)
        self.writeStage = WriteStage(writer: writer, writeDICOM: configuration.deidentification.writeDICOM)
        self.filterStage = FilterStage(filters: configuration.filters)
        self.manifests = ManifestWriter(ledger: ledger, writer: writer, logger: logger)
        let catalog = MetadataCatalog(extraColumns: configuration.extraColumns,
                                      keepsDeviceSerialNumber: configuration.deidentification.options.contains(ConfidentialityProfile.Option.retainDeviceIdentity.rawValue))
        do { try ledger.prepareMetadataColumns(catalog.columns) } catch { throw .metadataTables(error) }
        self.catalog = catalog.bound(to: ledger.metadataLayout())
        self.logger = logger
        self.digest = configuration.outputDigest
        self.workers = WorkerPool(count: configuration.workers)
        self.live = LiveState(workers: workers, commits: commitQueue)
        let settings = configuration.deidentification
        let key: SymmetricKey
        do { key = try KeyFile.loadOrCreate(at: settings.keyFile) } catch { throw .key(error) }
        do { pseudonymMap = try PseudonymMap(path: settings.mapDatabase) } catch { throw .pseudonymMap(error) }
        let columns = Set(catalog.columns.map(\.name))
        if let rules = configuration.expectations {
            for keyword in rules.keywords where !columns.contains(keyword) {
                throw .expectations("a rule reads \(keyword), which is not a column of the metadata tables; add it to extra_columns")
            }
        }
        expectations = configuration.expectations.map(ExpectationEvaluator.init(settings:))
        heldImages = HeldImages(ledger: ledger, writer: writer, manifests: manifests)
        deidentifier = Deidentifier(
            settings: DeidentificationSettings(options: Set(settings.options.compactMap(ConfidentialityProfile.Option.init(rawValue:))),
                                               keepPrivateCreators: Set(settings.keepPrivateCreators),
                                               descriptorAllowList: Set(settings.descriptorAllowList)),
            pseudonyms: Pseudonymizer(key: key))
        annotationStage = AnnotationStage(settings: configuration.annotations, pseudonyms: Pseudonymizer(key: key), map: pseudonymMap,
                                          ledger: ledger, retainsUIDs: settings.options.contains(ConfidentialityProfile.Option.retainUIDs.rawValue))
    }

    /// Says, once at start-up, which units' outputs were made under another configuration:
    /// a changed watch.yaml (de-identification, PNG or quality settings, buckets) applies to
    /// new content only, and `--reprocess` is how old content catches up.
    public func reportOutputsOfOtherConfigurations() {
        guard let stale = try? ledger.unitsProcessed(underDigestOtherThan: digest), !stale.isEmpty else { return }
        let total = stale.reduce(0) { $0 + $1.contents }
        let units = stale.prefix(10).map { "\($0.unit) (\($0.contents))" }.joined(separator: ", ")
        logger.warning("\(total) file(s) in \(stale.count) unit(s) were processed under another configuration and keep those outputs: \(units)\(stale.count > 10 ? ", ..." : ""); dicomdrop --reprocess FOLDER brings a unit up to date")
    }

    /// Says, once at start-up, which filters name a `metadata.csv` column rather than a DICOM
    /// keyword: DICOM images, which have no such column, fail an include rule on one, so a
    /// keyword written in another case (`view_position`) would send them all to `excluded`.
    public func reportFiltersOnCSVColumns() {
        for filter in configuration.filters where StandardDictionary.entry(forKeyword: filter.keyword) == nil {
            let meant = StandardDictionary.entry(forLooseKeyword: filter.keyword).map { "; if the DICOM attribute is meant, write \($0.keyword)" } ?? ""
            logger.warning("filters: \(filter.keyword) is not a DICOM keyword: it is read as a metadata.csv column of plain image datasets, and DICOM images, which lack it, \(filter.mode == .include ? "fail" : "pass") it\(meant)")
        }
    }

    /// Gives content processed by a version without the metadata tables its rows, from its
    /// JSON sidecar; call once at start-up, before any run.
    public func fillMetadataTablesFromSidecars() throws(Ledger.LedgerError) {
        let filled = try MetadataBackfill(ledger: ledger, output: configuration.output, catalog: catalog, logger: logger).run()
        if filled.filled > 0 { refreshAllManifests() }
    }

    /// Writes every bucket directory's manifest again: a process killed mid-run committed
    /// images whose manifests it never wrote, and rows filled from sidecars have none yet.
    /// Call at start-up when runs were left open.
    public func refreshAllManifests() {
        do {
            manifests.refresh(Set(try ledger.outputDirectories()))
        } catch {
            logger.error("manifests not written: \(error)")
        }
    }

    /// Writes the manifests that closed runs marked stale (`Ledger.staleManifests`). The
    /// scheduler calls it when it has nothing left to run, the daemon before it exits, and
    /// start-up for what a crash after a run's close left unwritten. True when every one
    /// was written and its mark cleared.
    @discardableResult
    public func writeStaleManifests() -> Bool {
        manifests.writeStale()
    }

    /// Removes temporaries left by a crash, and the second names of images a crash left
    /// half moved into or out of `held/`; call once at start-up, before any run.
    public func sweepTemporaries() {
        let removed = writer.sweepTemporaries()
        if removed > 0 { logger.info("removed \(removed) temporary output file(s) left by an interrupted run") }
        let names = heldImages.finishInterruptedMoves()
        if names > 0 { logger.info("removed \(names) name(s) of held or released images that an interrupted move left behind") }
    }

    /// Runs one unit. `.reprocess` ignores the hash cache and replaces the unit's outputs.
    ///
    /// The run is always closed in the ledger with how it ended: `done`, `interrupted` (the
    /// task was cancelled: SIGTERM) with the unit back to `waiting`, or `failed` (a batch
    /// could not be recorded) with the unit `failed` and the error kept. Throws only when the
    /// ledger cannot open or close the run at all.
    public func process(unit: String, trigger: RunTrigger) async throws(Ledger.LedgerError) -> RunSummary {
        let start = ContinuousClock.now
        let run = try ledger.beginRun(of: unit, trigger: trigger)
        var counts = RunCounts()
        var failure: Ledger.LedgerError?
        var ending = Ending.complete
        var touched: Set<String> = []
        var failures: [DaemonMetrics.FailureKind: Int] = [:]
        do {
            ending = try await handleFiles(of: unit, reprocess: trigger == .reprocess, counts: &counts, touched: &touched,
                                           failures: &failures)
        } catch {
            failure = error
        }
        touched.formUnion(refreshAnnotations())
        // Validated once every changed file is recorded: a run cut short (SIGTERM, a full
        // disk, a crash) leaves its instances awaiting, and the unit's next complete run
        // checks them with its own, so a rule sees the whole load.
        var validation: RunSummary.Validation?
        if failure == nil, case .complete = ending, let expectations {
            validation = validate(run: run, unit: unit, with: expectations, touched: &touched)
        }
        var pausedBy: OutputWriter.Failure?
        let outcome: RunOutcome
        switch (failure, ending) {
        case (.some, _): outcome = .failed
        case (nil, .interrupted): outcome = .interrupted
        case (nil, .paused(let refusal)): outcome = .paused; pausedBy = refusal
        case (nil, .complete): outcome = .done
        }
        let state: UnitState = switch outcome {
        case .done: .done
        case .failed: .failed
        case .interrupted, .paused: .waiting  // its files not yet recorded are still pending
        }
        let error = failure.map { "\($0)" } ?? pausedBy.map { "\($0)" }
        // What was committed goes into the manifests, whatever ended the run: their
        // directories are marked stale with the run's close and written when the scheduler
        // is idle (writeStaleManifests), once for a burst of runs rather than once per run.
        try ledger.finishRun(run, of: unit, counts: counts, outcome: outcome, error: error, state: state, staleManifests: touched)
        let seconds = (ContinuousClock.now - start).inSeconds
        var summary = RunSummary(unit: unit, trigger: trigger, counts: counts, outcome: outcome, seconds: seconds, pausedBy: pausedBy,
                                 failures: failures)
        summary.validation = validation
        let line = "run \(outcome.rawValue): unit=\(unit) trigger=\(trigger.rawValue) seen=\(counts.seen) new=\(counts.new) duplicate=\(counts.duplicate) skipped=\(counts.skipped) failed=\(counts.failed) seconds=\(String(format: "%.3f", seconds))"
        switch outcome {
        case .done: logger.info("\(line)")
        case .interrupted: logger.warning("\(line); the files not handled are picked up at the next start")
        case .failed: logger.error("\(line): \(failure.map { "\($0)" } ?? ""); the unit's unrecorded files are tried again at the next rescan")
        // The scheduler says once why processing paused (OutputPause); every retry that
        // pauses again would repeat it.
        case .paused: logger.info("\(line): \(error ?? "")")
        }
        return summary
    }

    /// How the handling of a unit's changed files ended.
    private enum Ending {
        /// Every changed file was handled.
        case complete
        /// Cancelled (SIGTERM) before every changed file was handled.
        case interrupted
        /// The output filesystem refused a write: no further file was started.
        case paused(OutputWriter.Failure)
    }

    /// Hashes, processes and records the changed files of a unit.
    /// `touched`: the bucket directories whose images changed, for their manifests;
    /// `failures`: the files that failed, by why.
    private func handleFiles(of unit: String, reprocess: Bool, counts: inout RunCounts, touched: inout Set<String>,
                             failures: inout [DaemonMetrics.FailureKind: Int]) async throws(Ledger.LedgerError) -> Ending {
        let files = tree.files(inUnit: unit)
        let known = try ledger.sources(inUnit: unit)
        counts.seen = files.count
        let plain = try plainDatasets(of: unit, files: files, known: known)

        // 1. Unchanged fingerprints are skipped without being read (unless a changed
        // metadata.csv gave the image another row).
        var changed: [DroppedFile] = []
        for file in files {
            if !reprocess, let record = known[file.path], record.fingerprint == file.fingerprint, !plain.reevaluate.contains(file.path) {
                counts.skipped += 1
            } else {
                changed.append(file)
            }
        }

        // 2. Each changed file in one pass by one worker: read, hash, and, if the content is
        // new to the ledger and to this run, parse and write its outputs from the same bytes.
        // Results are recorded in transactions as they arrive, outputs made durable first,
        // on the commit queue's thread while the workers go on. Outputs that a reprocessed
        // content no longer has are removed only once the batch that forgets them is
        // committed: a crash in between leaves files the ledger does not name (swept by
        // nothing, harmless), never ledger rows naming files that are gone.
        let context = RunContext(unit: unit, reprocess: reprocess, plain: plain)
        live.runStarting(files: changed.count, bytes: changed.reduce(0) { $0 + $1.fingerprint.size })
        let commits = commitQueue.session { [self] (batch) throws(Ledger.LedgerError) in
            try metrics.time(.commit) { () throws(Ledger.LedgerError) in
                // The map first: no output may exist whose pseudonyms are not on record.
                try pseudonymMap.record(Array(batch.pseudonyms))
                if !batch.contents.isEmpty { try makeOutputsDurable() }
                try ledger.record(contents: batch.contents, sources: batch.sources, unreadable: batch.unreadable)
            }
            for stale in batch.staleOutputs where (try? ledger.owner(ofOutput: stale)) == .some(nil) {
                writer.remove(stale)
            }
        }
        func failed(_ kind: DaemonMetrics.FailureKind) {
            failures[kind, default: 0] += 1
            metrics.failed(kind)
        }
        var pending = LedgerBatch()
        var handled = 0
        var ledgerFailure: Ledger.LedgerError?
        var refusal: OutputWriter.Failure?
        var refusedHashes: Set<String> = []
        let stop = StopFlag()
        let toRead = changed
        let readAhead = ReadAhead(paths: toRead.map { tree.absolutePath(of: $0.path) }, sizes: toRead.map(\.fingerprint.size))
        await workers.parallelForEach(Array(toRead.indices), stop: stop, { index in
            readAhead.willRead(index)
            return self.handle(toRead[index], context: context)
        }) { index, outcome in
            let file = toRead[index]
            guard let outcome else { return }  // not started (shutdown or pause): the file stays pending
            handled += 1
            live.fileHandled(bytes: file.fingerprint.size)
            switch outcome {
            case .outputRefused(let failure, let sha):
                // Not the file's fault: it stays unrecorded (pending), and no further file is
                // started; the files in hand finish, and those written are recorded. Its
                // copies in this run stay pending too: a source row must not name a content
                // the ledger does not have.
                if refusal == nil { refusal = failure }
                refusedHashes.insert(sha)
                pending.sources.removeAll { $0.sha256 == sha }
                stop.set()
                return
            case .unreadable(let failure) where failure.fileIsGone:
                // Deleted after the walk saw it (a folder deleted mid-run): nothing to record;
                // its path is forgotten below if the ledger knew it.
                logger.info("\(RawPath.display(file.path)): gone before it was read")
                return
            case .unreadable(let failure):
                // Recorded with its reason; no sources row (there is no hash), so the next
                // full pass finds the file unrecorded and tries it again.
                counts.failed += 1
                failed(.unreadable)
                logger.error("\(failure)")
                pending.unreadable.append(UnreadableRecord(path: file.path, unit: unit, reason: "\(failure.reason)", attempts: failure.attempts))
            case .ledgerUnavailable(let error):
                // Not the file's fault: it stays unrecorded (pending) and the run fails.
                if ledgerFailure == nil { ledgerFailure = error }
                return
            case .copy(let sha):
                if refusedHashes.contains(sha) { return }
                counts.duplicate += 1
                pending.sources.append(SourceRecord(path: file.path, unit: unit, fingerprint: file.fingerprint, sha256: sha))
            case .processed(var content, let previous, let pseudonyms, let failure):
                pending.pseudonyms.formUnion(pseudonyms)
                content.awaitsValidation = expectations != nil && content.outcome == .processed && content.metadata != nil
                if content.outcome == .failed {
                    counts.failed += 1
                    failed(failure ?? .invalidDICOM)
                } else {
                    counts.new += 1
                    if content.outcome == .notDICOM { metrics.filesNotDICOM.increment() }
                }
                pending.staleOutputs += Set(previous?.outputs ?? []).subtracting(content.outputs).sorted()
                pending.contents.append(content)
                for record in [content, previous].compactMap({ $0 }) {
                    if let bucket = record.bucket { touched.insert(record.directory ?? bucket) }
                }
                pending.sources.append(SourceRecord(path: file.path, unit: unit, fingerprint: file.fingerprint, sha256: content.sha256))
            }
            if pending.sources.count + pending.unreadable.count >= Self.batchSize && !commits.hasFailed {
                await commits.waitForRoom()
                commits.submit(pending)
                pending = LedgerBatch()
            }
        }
        if !commits.hasFailed { commits.submit(pending) }
        try await commits.finish()
        if let ledgerFailure { throw ledgerFailure }
        if reprocess { try ledger.removeOrphanedMetadata() }

        // 3. Paths that disappeared from the unit are forgotten (their content stays known).
        let present = Set(files.map(\.path))
        try ledger.removeSources(known.keys.filter { !present.contains($0) })
        try ledger.forgetUnreadable(inUnit: unit, except: present)
        if let refusal { return .paused(refusal) }
        return handled < changed.count ? .interrupted : .complete
    }

    /// Outputs reach the disk before the ledger rows that name them. When they cannot
    /// (a writeback error: EIO, ENOSPC), the batch is not recorded: its files stay pending
    /// and are processed again by the next rescan, instead of the ledger vouching for
    /// outputs that may not be there.
    private func makeOutputsDurable() throws(Ledger.LedgerError) {
        do {
            try writer.makeDurable()
        } catch {
            throw .database("outputs not recorded, \(error); their files will be processed again")
        }
    }

    /// Content first processed for another unit whose files still hold it: reprocessing
    /// this unit leaves those outputs alone.
    private func ownedElsewhere(_ content: ContentRecord, unit: String) throws(Ledger.LedgerError) -> Bool {
        guard content.unit != unit else { return false }
        let prefix = content.unit + "/"
        return try ledger.paths(withContent: content.sha256).contains { $0 == content.unit || $0.hasPrefix(prefix) }
    }

    /// What a worker did with one changed file.
    enum FileOutcome: Sendable {
        case unreadable(ContentHasher.Failure)
        /// The output filesystem refused a write (full, over quota, read-only): nothing was
        /// decided about the file, whose partial outputs are removed.
        case outputRefused(OutputWriter.Failure, sha256: String)
        /// The ledger could not say whether the content is known: nothing was decided.
        case ledgerUnavailable(Ledger.LedgerError)
        /// Content the ledger or this run already has: recorded as another path of it.
        case copy(sha256: String)
        /// New content, processed (or failed with its reason, and `failure` says which kind);
        /// `previous` is what the ledger held for this hash before a reprocess.
        case processed(ContentRecord, previous: ContentRecord?, pseudonyms: Set<PseudonymMapping>, failure: DaemonMetrics.FailureKind?)
    }

    /// State the workers of one run share.
    final class RunContext: Sendable {
        let unit: String
        let reprocess: Bool
        let claimedNames = ClaimSet<String>()
        /// Hashes a worker of this run has taken on: the first file with a hash processes it,
        /// the others are copies.
        let claimedHashes = ClaimSet<String>()
        /// The unit's metadata.csv rows, and the images they make run again.
        let plain: PlainDatasets

        init(unit: String, reprocess: Bool, plain: PlainDatasets = .none) {
            self.unit = unit
            self.reprocess = reprocess
            self.plain = plain
        }
    }

    func handle(_ file: DroppedFile, context: RunContext) -> FileOutcome {
        let path = tree.absolutePath(of: file.path)
        let sha: String, bytes: Data?
        do {
            (sha, bytes) = try metrics.time(.hash) { () throws(ContentHasher.Failure) in
                try ContentHasher.hashAndReadRetrying(fileAt: path, keepingUpTo: inMemoryLimit)
            }
            metrics.bytesHashed.increment(by: Int(file.fingerprint.size))
        } catch {
            return .unreadable(error)
        }
        guard context.claimedHashes.claim(sha) else { return .copy(sha256: sha) }
        let previous: ContentRecord?
        do {
            previous = try ledger.content(sha)
            if let previous, !readsAsMoreThanBefore(previous, file: file, path: path, bytes: bytes) {
                let again = context.reprocess || context.plain.reevaluate.contains(file.path)
                let isCopy = again ? try ownedElsewhere(previous, unit: context.unit) : true
                if isCopy { return .copy(sha256: sha) }
            }
        } catch {
            return .ledgerUnavailable(error)
        }
        if annotationStage.isAnnotationFile(file.path) {
            let (content, failure) = annotationContent(file, sha: sha, bytes: bytes, unit: context.unit)
            return .processed(content, previous: previous, pseudonyms: [], failure: failure)
        }
        if let outcome = plainImageOutcome(file, path: path, sha: sha, bytes: bytes, previous: previous, context: context) {
            return outcome
        }
        do {
            let (content, pseudonyms, failure) = try processFile(file, sha: sha, unit: context.unit, claimedNames: context.claimedNames,
                                                        parsed: metrics.time(.parse) {
                                                            ParseStage.parse(bytes: bytes, path: path, limits: configuration.limits)
                                                        })
            return .processed(content, previous: previous, pseudonyms: pseudonyms, failure: failure)
        } catch {
            switch error {
            case .outputRefused(let failure): return .outputRefused(failure, sha256: sha)
            case .ledgerUnavailable(let error): return .ledgerUnavailable(error)
            }
        }
    }

    /// Why a file's processing stopped without a decision about the file: no fault of its own.
    enum Interruption: Error {
        /// The output filesystem refused a write (full, over quota, read-only).
        case outputRefused(OutputWriter.Failure)
        /// The ledger could not place the image in a capacity-limited bucket directory.
        case ledgerUnavailable(Ledger.LedgerError)
    }

    /// Runs the stages after read-and-hash on one file: parse → de-identify → render
    /// (decode, measure, judge, encode) → plan → write. Every failure of the file becomes a
    /// record with its reason, and the rest of the unit goes on; throws only when the output
    /// filesystem refuses writes or the ledger cannot place the image, no fault of the file.
    func processFile(_ file: DroppedFile, sha: String, unit: String, claimedNames: ClaimSet<String>,
                     parsed: Result<DICOMFile, ParseStage.Failure>)
        throws(Interruption) -> (ContentRecord, Set<PseudonymMapping>, DaemonMetrics.FailureKind?) {
        func record(_ outcome: ContentRecord.Outcome, reason: String? = nil, bucket: String? = nil, outputs: [String] = []) -> ContentRecord {
            ContentRecord(sha256: sha, outcome: outcome, reason: reason, bucket: bucket, outputs: outputs,
                          configurationDigest: digest, unit: unit)
        }
        let dicom: DICOMFile
        switch parsed {
        case .success(let parsed):
            dicom = parsed
        case .failure(.notDICOM(let reason)):
            logger.info("\(file.path): not DICOM (\(reason)), left alone")
            return (record(.notDICOM, reason: reason), [], nil)
        case .failure(.unreadable(let reason)):
            logger.error("\(file.path): \(reason)")
            return (record(.failed, reason: reason), [], .invalidDICOM)
        }
        // Everything written from here on (names, JSON, PNG, DICOM) comes from the
        // de-identified dataset only.
        let deidentified = metrics.time(.deidentify) { deidentifier.deidentify(dicom.dataSet) }
        let dataSet = deidentified.dataSet
        let filterFailure = filterStage.failure(of: dataSet)
        if let filterFailure, configuration.filtersAction == .skip {
            // Nothing is written; its rows say which rule it failed, and carry pseudonyms
            // that the map must record like any others.
            var skipped = record(.processed, reason: "skipped: \(filterFailure)")
            skipped.metadata = catalog.metadata(of: dataSet, name: OutputNaming.baseName(for: dataSet) {
                self.deidentifier.pseudonyms.contentName(sha)
            })
            return (skipped, deidentified.mappings, nil)
        }
        var notes: [String] = []
        let hasPixels = ImageLayout.hasPixelData(dataSet)
        var images: RenderedImages?
        if hasPixels {
            do {
                images = try metrics.time(.render) { () throws in
                    try RenderedImages.render(dataSet, transferSyntax: dicom.transferSyntax, settings: configuration.png,
                                              judge: configuration.qualityJudge(forModality: dataSet.string(.modality)))
                }
            } catch {
                // A frame that does not decode and a PNG that cannot be encoded alike: the
                // metadata is still good, so the JSON is written and the reason recorded.
                notes.append("no PNG: \(error)")
                logger.info("\(file.path): no PNG: \(error)")
            }
        }
        let plan = planner.plan(BucketPlanner.Facts(hasPixelData: hasPixels, reviewReason: deidentified.reviewReason,
                                                    filterFailure: filterFailure,
                                                    suboptimalReason: images?.suboptimalReason,
                                                    rows: dataSet.integer(.rows), columns: dataSet.integer(.columns)))
        if let reason = plan.reason { notes.append(reason) }
        if let imageNotes = images?.notes, !imageNotes.isEmpty {
            notes += imageNotes
            logger.info("\(file.path): \(imageNotes.joined(separator: "; "))")
        }
        let directory = try directory(for: sha, in: plan.bucket)
        let name = OutputNaming.claimName(for: dataSet, sha: sha, keyedName: { self.deidentifier.pseudonyms.contentName(sha) },
                                         bucket: directory, ledger: ledger, claimed: claimedNames)
        let written: WriteStage.Written
        do {
            written = try metrics.time(.write) { () throws(WriteStage.Failure) in
                try writeStage.write(dataSet, images: images, sourceSyntax: dicom.transferSyntax, bucket: directory, name: name)
            }
        } catch {
            if let refusal = error.outputFilesystemRefusal { throw .outputRefused(refusal) }
            logger.error("\(file.path): \(error)")
            return (record(.failed, reason: "\(error)"), [], .write)
        }
        notes += written.notes
        var processed = record(.processed, reason: notes.isEmpty ? nil : notes.joined(separator: "; "), bucket: plan.bucket,
                               outputs: written.outputs)
        processed.images = written.images
        if directory != plan.bucket { processed.directory = directory }
        processed.metadata = catalog.metadata(of: dataSet, name: name)
        return (processed, deidentified.mappings, nil)
    }

    /// The directory of `bucket` the content's outputs go to: the bucket's own, or under
    /// `buckets.capacity` the one the ledger places it in.
    func directory(for sha: String, in bucket: String) throws(Interruption) -> String {
        guard let capacity = configuration.bucketCapacity else { return bucket }
        do {
            return try ledger.place(sha, in: bucket, capacity: capacity.images, naming: capacity.naming == .sequence ? .sequence : .timestamp)
        } catch {
            throw .ledgerUnavailable(error)
        }
    }
}

/// Set once, read from any thread.
final class StopFlag: Sendable {
    private let state = Mutex(false)
    var isSet: Bool { state.withLock { $0 } }
    func set() { state.withLock { $0 = true } }
}

// MARK: Annotations and expectations

extension UnitProcessor {
    /// An annotation file's labels as a content record, or why the file is not one.
    func annotationContent(_ file: DroppedFile, sha: String, bytes: Data?, unit: String) -> (ContentRecord, DaemonMetrics.FailureKind?) {
        var record = ContentRecord(sha256: sha, outcome: .annotations, configurationDigest: digest, unit: unit)
        switch annotationStage.read(bytes: bytes, path: file.path) {
        case .success(let labels):
            record.annotations = labels
            let problems = labels.problems.prefix(5).map { "line \($0.line): \($0.reason)" }
            record.reason = "\(labels.labels.count) label(s)" + (labels.problems.isEmpty ? "" : "; \(labels.problems.count) problem(s)")
            if labels.problems.isEmpty {
                logger.info("\(file.path): \(labels.labels.count) label(s)")
            } else {
                logger.warning("\(file.path): \(labels.labels.count) label(s); rows not read: \(problems.joined(separator: "; "))\(labels.problems.count > 5 ? "; ..." : "")")
            }
            return (record, nil)
        case .failure(let failure):
            logger.error("\(file.path): \(failure)")
            record.outcome = .failed
            record.reason = "\(failure)"
            return (record, .invalidAnnotations)
        }
    }

    /// Ties labels to the instances now known and withdraws those whose file is gone;
    /// returns the directories whose manifests' labels changed.
    func refreshAnnotations() -> Set<String> {
        do {
            let changes = try ledger.refreshAnnotations()
            if changes.matched + changes.withdrawn + changes.restored > 0 {
                logger.info("annotations: \(changes.matched) label(s) tied to their image, \(changes.withdrawn) withdrawn, \(changes.restored) restored")
            }
            return changes.directories
        } catch {
            logger.error("annotations not brought up to date: \(error)")
            return []
        }
    }

    /// Checks the instances a run processed against `expectations:`, stores the results and
    /// the verdict, and holds the run's images when it failed and `on_failure: hold`.
    /// The instances checked are those of the unit awaiting validation: this run's, and
    /// those of earlier runs cut short. They are held before the verdict is stored (which
    /// clears their waiting), so a crash in between checks and holds them again.
    /// `touched` gains the directories a hold changed.
    func validate(run: Int64, unit: String, with evaluator: ExpectationEvaluator, touched: inout Set<String>) -> RunSummary.Validation? {
        let instances: [String], outcome: ExpectationEvaluator.Outcome
        do {
            instances = try ledger.contentsAwaitingValidation(inUnit: unit)
            guard !instances.isEmpty else { return nil }
            outcome = evaluator.evaluate(try ledger.overviewValues(of: instances, columns: evaluator.settings.keywords))
        } catch {
            logger.error("run \(run) of \(unit): expectations not evaluated: \(error); its instances are checked at the unit's next run")
            return nil
        }
        var held = 0
        if outcome.verdict == .failedValidation && evaluator.settings.onFailure == .hold {
            do {
                let moved = try heldImages.hold(instances, byRun: run)
                held = moved.held
                touched.formUnion(moved.directories)
            } catch {
                logger.error("run \(run) of \(unit): images not held: \(error); they are checked and held at the unit's next run")
                return nil
            }
        }
        do {
            try ledger.recordValidation(of: run, results: outcome.results, verdict: outcome.verdict, validated: instances)
        } catch {
            logger.error("run \(run) of \(unit): verdict not recorded: \(error); its instances are checked at the unit's next run")
            return nil
        }
        let failed = outcome.results.filter { !$0.passed }.map { "\($0.rule) (\($0.detail ?? ""))" }
        switch outcome.verdict {
        case .passed:
            logger.info("run \(run) of \(unit): validation passed (\(outcome.results.count) check(s) on \(instances.count) instance(s))")
        case .failedValidation:
            let holding = held > 0 ? "; \(held) image(s) held until `dicomdrop release \(run)`" : ""
            logger.warning("run \(run) of \(unit): verdict failed_validation: \(failed.joined(separator: "; "))\(holding)")
        }
        return RunSummary.Validation(run: run, verdict: outcome.verdict, failedRules: outcome.failedRules, held: held)
    }
}
