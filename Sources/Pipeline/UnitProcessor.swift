import Config
import DICOM
import Foundation
import Imaging
import Ledger
import Logging

/// What one run of one unit did.
public struct RunSummary: Sendable, Equatable {
    public let unit: String
    public let trigger: RunTrigger
    public let counts: RunCounts
    public let seconds: Double
}

/// Processes the units of the drop directory: stat, hash what changed, skip what the ledger
/// already knows, parse and write outputs for new content, record everything.
public final class UnitProcessor: Sendable {
    public let configuration: WatchConfiguration
    public let ledger: Ledger
    let tree: DropTree
    let writer: OutputWriter
    let logger: Logger
    let digest: String
    /// Results recorded per ledger transaction: a crash loses at most this many files' work.
    static let batchSize = 64

    public init(configuration: WatchConfiguration, ledger: Ledger, logger: Logger) {
        self.configuration = configuration
        self.ledger = ledger
        self.tree = DropTree(root: configuration.drop)
        self.writer = OutputWriter(root: configuration.output)
        self.logger = logger
        self.digest = configuration.outputDigest
    }

    /// Removes temporaries left by a crash; call once at start-up, before any run.
    public func sweepTemporaries() {
        let removed = writer.sweepTemporaries()
        if removed > 0 { logger.info("removed \(removed) temporary output file(s) left by an interrupted run") }
    }

    /// Runs one unit. `.reprocess` ignores the hash cache and replaces the unit's outputs.
    public func process(unit: String, trigger: RunTrigger) async throws(Ledger.LedgerError) -> RunSummary {
        let start = ContinuousClock.now
        let run = try ledger.beginRun(of: unit, trigger: trigger)
        let files = tree.files(inUnit: unit)
        let known = try ledger.sources(inUnit: unit)
        let reprocess = trigger == .reprocess
        var counts = RunCounts(seen: files.count)

        // 1. Hash what changed (in parallel); unchanged fingerprints are not even read.
        var changed: [DroppedFile] = []
        for file in files {
            if !reprocess, let record = known[file.path], record.fingerprint == file.fingerprint {
                counts.skipped += 1
            } else {
                changed.append(file)
            }
        }
        let hashed = await parallelMap(changed) { [tree] file -> (DroppedFile, Result<String, ContentHasher.Failure>) in
            (file, Result { () throws(ContentHasher.Failure) in try ContentHasher.sha256(ofFileAt: tree.root.path + "/" + file.path) })
        }

        // 2. One file per new hash is processed; every other path is a copy of it.
        var byHash: [String: [DroppedFile]] = [:]
        var order: [String] = []
        for (file, result) in hashed {
            switch result {
            case .success(let sha):
                if byHash[sha] == nil { order.append(sha) }
                byHash[sha, default: []].append(file)
            case .failure(let failure):
                counts.failed += 1
                logger.error("\(failure)")
            }
        }
        var work: [(sha: String, file: DroppedFile, previous: ContentRecord?)] = []
        var duplicates: [SourceRecord] = []
        for sha in order {
            let paths = byHash[sha]!
            let previous = try ledger.content(sha)
            var isCopy = previous != nil
            if let previous, reprocess { isCopy = try ownedElsewhere(previous, unit: unit) }
            if isCopy {
                counts.duplicate += paths.count
                duplicates += paths.map { SourceRecord(path: $0.path, unit: unit, fingerprint: $0.fingerprint, sha256: sha) }
                continue
            }
            work.append((sha, paths[0], previous))
            counts.duplicate += paths.count - 1
            duplicates += paths.dropFirst().map { SourceRecord(path: $0.path, unit: unit, fingerprint: $0.fingerprint, sha256: sha) }
        }
        try ledger.record(contents: [], sources: duplicates)

        // 3. Process new content in parallel, recording in batches as results come in.
        let claimedNames = ClaimedNames()
        var pendingContents: [ContentRecord] = []
        var pendingSources: [SourceRecord] = []
        let results = await parallelMap(work) { item in
            (item, self.processFile(item.file, sha: item.sha, unit: unit, claimedNames: claimedNames))
        }
        for (item, content) in results {
            if content.outcome == .failed { counts.failed += 1 } else { counts.new += 1 }
            // Outputs the earlier processing wrote and this one did not: gone, not left behind.
            for stale in Set(item.previous?.outputs ?? []).subtracting(content.outputs) { writer.remove(stale) }
            pendingContents.append(content)
            pendingSources.append(SourceRecord(path: item.file.path, unit: unit, fingerprint: item.file.fingerprint, sha256: item.sha))
            if pendingContents.count >= Self.batchSize {
                try ledger.record(contents: pendingContents, sources: pendingSources)
                pendingContents.removeAll(keepingCapacity: true)
                pendingSources.removeAll(keepingCapacity: true)
            }
        }
        try ledger.record(contents: pendingContents, sources: pendingSources)

        // 4. Paths that disappeared from the unit are forgotten (their content stays known).
        let present = Set(files.map(\.path))
        try ledger.removeSources(known.keys.filter { !present.contains($0) })

        let elapsed = ContinuousClock.now - start
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        try ledger.finishRun(run, of: unit, counts: counts, state: .done)
        let summary = RunSummary(unit: unit, trigger: trigger, counts: counts, seconds: seconds)
        logger.info("run finished: unit=\(unit) trigger=\(trigger.rawValue) seen=\(counts.seen) new=\(counts.new) duplicate=\(counts.duplicate) skipped=\(counts.skipped) failed=\(counts.failed) seconds=\(String(format: "%.3f", seconds))")
        return summary
    }

    /// Content first processed for another unit whose files still hold it: reprocessing
    /// this unit leaves those outputs alone.
    private func ownedElsewhere(_ content: ContentRecord, unit: String) throws(Ledger.LedgerError) -> Bool {
        guard content.unit != unit else { return false }
        let prefix = content.unit + "/"
        return try ledger.paths(withContent: content.sha256).contains { $0 == content.unit || $0.hasPrefix(prefix) }
    }

    /// Parses one file and writes its outputs. Never throws: every failure becomes a
    /// record with its reason, and the rest of the unit goes on.
    func processFile(_ file: DroppedFile, sha: String, unit: String, claimedNames: ClaimedNames) -> ContentRecord {
        let path = tree.root.path + "/" + file.path
        func record(_ outcome: ContentRecord.Outcome, reason: String? = nil, bucket: String? = nil, outputs: [String] = []) -> ContentRecord {
            ContentRecord(sha256: sha, outcome: outcome, reason: reason, bucket: bucket, outputs: outputs,
                          configurationDigest: digest, unit: unit)
        }
        let dicom: DICOMFile
        do {
            dicom = try DICOMFile.read(path: path)
        } catch {
            if case .dicom(.notDICOM(let reason)) = error.reason {
                logger.info("\(file.path): not DICOM (\(reason)), left alone")
                return record(.notDICOM, reason: reason)
            }
            logger.error("\(file.path): \(error.reason.text)")
            return record(.failed, reason: error.reason.text)
        }
        let dataSet = dicom.dataSet
        let bucket: String
        if let rows = dataSet.integer(.rows), let columns = dataSet.integer(.columns), rows > 0, columns > 0 {
            bucket = configuration.sizeBucket(forPixels: rows * columns).name
        } else {
            bucket = OutputNaming.nonImageBucket
        }
        let name = OutputNaming.claimName(for: dataSet, sha: sha, bucket: bucket, ledger: ledger, claimed: claimedNames)
        var outputs: [String] = []
        var note: String?
        do {
            if dataSet[.pixelData] != nil {
                do {
                    let raster = try MonochromeRenderer().render(dataSet, transferSyntax: dicom.transferSyntax)
                    let png = try PNGCodec.encode(raster)
                    try writer.write(png, to: "\(bucket)/\(name).png")
                    outputs.append("\(bucket)/\(name).png")
                } catch let error as RenderError {
                    note = "no PNG: \(error)"
                    logger.info("\(file.path): \(note!)")
                }
            }
            let json = DICOMJSONEncoder().encode(dataSet)
            try writer.write(Data(json.utf8), to: "\(bucket)/\(name).json")
            outputs.append("\(bucket)/\(name).json")
        } catch {
            for output in outputs { writer.remove(output) }
            logger.error("\(file.path): \(error)")
            return record(.failed, reason: "\(error)")
        }
        return record(.processed, reason: note, bucket: bucket, outputs: outputs.sorted())
    }

    /// Runs `transform` over `items` with at most `workers` at once, results in input order.
    func parallelMap<T: Sendable, R: Sendable>(_ items: [T], _ transform: @escaping @Sendable (T) -> R) async -> [R] {
        guard !items.isEmpty else { return [] }
        var results = [R?](repeating: nil, count: items.count)
        await withTaskGroup(of: (Int, R).self) { group in
            var next = 0
            for _ in 0..<min(configuration.workers, items.count) {
                let index = next
                group.addTask { (index, transform(items[index])) }
                next += 1
            }
            while let (index, result) = await group.next() {
                results[index] = result
                // Cancelled (SIGTERM): finish what is in hand, start nothing new.
                if next < items.count && !Task.isCancelled {
                    let index = next
                    group.addTask { (index, transform(items[index])) }
                    next += 1
                }
            }
        }
        return results.compactMap { $0 }
    }
}

extension DICOMFileError.Reason {
    var text: String {
        switch self {
        case .unreadable(let why): "cannot be read: \(why)"
        case .dicom(let error): error.description
        }
    }
}
