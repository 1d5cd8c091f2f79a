import Foundation
import Imaging
import Ledger
import Logging
import Watcher

/// Plain image datasets (PNG and JPEG files, with or without a `metadata.csv`) in a unit's
/// run: the CSVs read once at its start, each image file processed by its worker like a
/// DICOM file (hash, decode, quality, filters, bucket, write, one ledger row per content).
extension UnitProcessor {
    /// Reads the unit's `metadata.csv` files, matches their rows with its files, replaces the
    /// unit's problems in the ledger (each logged by name), and says which known images are
    /// processed again because their row changed (a CSV new, changed or gone since they were
    /// processed).
    func plainDatasets(of unit: String, files: [DroppedFile], known: [String: SourceRecord]) throws(Ledger.LedgerError) -> PlainDatasets {
        let isCSV = { (path: String) in (path as NSString).lastPathComponent == PlainDatasets.fileName }
        let knownCSVs = known.filter { isCSV($0.key) }
        let presentCSVs = files.filter { isCSV($0.path) }
        guard !knownCSVs.isEmpty || !presentCSVs.isEmpty else { return .none }
        let root = tree.root.path
        var datasets = PlainDatasets.read(unit: unit, files: files.map(\.path)) { path in
            try Data(contentsOf: URL(fileURLWithPath: root + "/" + path))
        }
        try ledger.replacePlainImageProblems(inUnit: unit, with: datasets.problems)
        for problem in datasets.problems {
            let place = [problem.csv, problem.line.map { "line \($0)" }].compactMap { $0 }.joined(separator: " ")
            logger.warning("\(unit): \(problem.kind.rawValue) \(problem.name)\(place.isEmpty ? "" : " (\(place))"): \(problem.detail)")
        }
        // Every run compares the rows, not only one that finds a CSV changed: a run cut short
        // after the CSV was recorded leaves images whose rows are still the old ones.
        for (path, stored) in try ledger.plainImageRows(inUnit: unit) where stored != datasets.rows[path] {
            datasets.reevaluate.insert(path)
        }
        return datasets
    }

    /// What a worker does with a file that is a `metadata.csv` or an image (by its first
    /// bytes); nil for any other file, which goes on to the DICOM parser.
    func plainImageOutcome(_ file: DroppedFile, path: String, sha: String, bytes: Data?, previous: ContentRecord?,
                           context: RunContext) -> FileOutcome? {
        func record(_ outcome: ContentRecord.Outcome, reason: String) -> ContentRecord {
            ContentRecord(sha256: sha, outcome: outcome, reason: reason, configurationDigest: digest, unit: context.unit)
        }
        if let table = context.plain.tables[file.path] {
            if let failure = table.failure {
                logger.error("\(file.path): \(failure); its images are processed without CSV columns")
                return .processed(record(.failed, reason: "metadata.csv: \(failure)"), previous: previous, pseudonyms: [], failure: .invalidImage)
            }
            let rows = table.table?.rows.count ?? 0
            return .processed(record(.notDICOM, reason: "metadata.csv of a plain image dataset: \(rows) row(s)"), previous: previous,
                              pseudonyms: [], failure: nil)
        }
        guard let kind = ImageFileKind.detect(bytes ?? Self.prefix(ofFileAt: path)) else { return nil }
        let data: Data
        do {
            data = try bytes ?? Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            // Like a file that cannot be hashed: recorded as unreadable, tried again by the
            // next full pass, never taken for a failed content.
            let code = (error as NSError).userInfo[NSUnderlyingErrorKey].flatMap { ($0 as? NSError)?.code } ?? Int(EIO)
            return .unreadable(ContentHasher.Failure(path: file.path, code: Int32(code)))
        }
        do {
            let (content, failure) = try processPlainImage(data, kind: kind, file: file, sha: sha, context: context)
            return .processed(content, previous: previous, pseudonyms: [], failure: failure)
        } catch {
            switch error {
            case .outputRefused(let failure): return .outputRefused(failure, sha256: sha)
            case .ledgerUnavailable(let error): return .ledgerUnavailable(error)
            }
        }
    }

    /// Content recorded as not DICOM that this path reads as more: an annotation file (the
    /// same CSV first dropped elsewhere), or an image (recorded by a version before plain
    /// datasets). It is read again, not taken for a copy of what it was.
    func readsAsMoreThanBefore(_ previous: ContentRecord, file: DroppedFile, path: String, bytes: Data?) -> Bool {
        guard previous.outcome == .notDICOM else { return false }
        return annotationStage.isAnnotationFile(file.path) || ImageFileKind.detect(bytes ?? Self.prefix(ofFileAt: path)) != nil
    }

    /// The first bytes of a file too large to have been kept in memory.
    private static func prefix(ofFileAt path: String) -> Data {
        guard let handle = FileHandle(forReadingAtPath: path) else { return Data() }
        defer { try? handle.close() }
        return (try? handle.read(upToCount: 8)) ?? Data()
    }

    /// Decode → quality → filters on the CSV row → plan → place → write: the PNG as it came
    /// (its bytes are the output: nothing is lost, nothing re-encoded), a JPEG's decoded
    /// pixels as PNG, and the JSON sidecar with the row. Every failure of the file becomes a
    /// record with its reason; throws only for what is not the file's fault.
    func processPlainImage(_ bytes: Data, kind: ImageFileKind, file: DroppedFile, sha: String,
                           context: RunContext) throws(Interruption) -> (ContentRecord, DaemonMetrics.FailureKind?) {
        let unit = context.unit
        func record(_ outcome: ContentRecord.Outcome, reason: String? = nil, bucket: String? = nil, outputs: [String] = []) -> ContentRecord {
            ContentRecord(sha256: sha, outcome: outcome, reason: reason, bucket: bucket, outputs: outputs, configurationDigest: digest, unit: unit)
        }
        let decoded: DecodedImageFile
        do {
            decoded = try metrics.time(.render) { () throws(ImageFileError) in try ImageFileDecoder.decode(bytes) }
        } catch {
            logger.error("\(file.path): \(error)")
            return (record(.failed, reason: "\(error)"), .invalidImage)
        }
        if let warning = decoded.warning {
            // libjpeg-turbo decodes past damage (a truncated file's missing rows come out
            // gray): such pixels are no training data.
            let reason = "JPEG damaged: \(warning)"
            logger.error("\(file.path): \(reason)")
            return (record(.failed, reason: reason), .invalidImage)
        }
        let raster = decoded.raster
        let row = context.plain.rows[file.path]
        let name = deidentifier.pseudonyms.contentName(sha)
        var image = PlainImageRecord(name: name, kind: kind.rawValue, source: file.path, width: raster.width, height: raster.height,
                                     bitDepth: raster.bitDepth, color: decoded.color, row: row)
        let features = QualityFeatures.measure(raster)
        let verdict = configuration.qualityJudge(forModality: nil).judge(features)
        let filterFailure = filterStage.failure(ofColumns: context.plain.columns[file.path] ?? [:])
        if let filterFailure, configuration.filtersAction == .skip {
            var skipped = record(.processed, reason: "skipped: \(filterFailure)")
            skipped.plainImage = image
            return (skipped, nil)
        }
        let plan = planner.plan(BucketPlanner.Facts(hasPixelData: true, reviewReason: nil, filterFailure: filterFailure,
                                                    suboptimalReason: verdict.suboptimal ? verdict.reason : nil,
                                                    rows: raster.height, columns: raster.width))
        let directory = try directory(for: sha, in: plan.bucket)
        image.name = OutputNaming.claimName(base: name, sha: sha, keyedName: { name }, bucket: directory, ledger: ledger,
                                            claimed: context.claimedNames)
        let pngPath = "\(directory)/\(image.name).png"
        let quality = ImageQualityRecord(output: pngPath, frame: 1, features: features.named, modelScore: verdict.modelScore,
                                         suboptimal: verdict.suboptimal, reason: verdict.reason)
        var outputs: [String] = []
        do throws(OutputWriter.Failure) {
            let png: Data
            switch kind {
            case .png:
                // Decoded above, so its chunks are whole: only text, time and private ones go.
                png = PNGChunks.withoutMetadata(bytes) ?? bytes
            case .jpeg:
                do {
                    png = try metrics.time(.write) { () throws(PNGCodec.Failure) in
                        try configuration.png.encode(raster)
                    }
                } catch {
                    logger.error("\(file.path): \(error)")
                    return (record(.failed, reason: "\(error)"), .write)
                }
            }
            for (data, path) in [(png, pngPath), (PlainImageSidecar.json(image, quality: quality), "\(directory)/\(image.name).json")] {
                try metrics.time(.write) { () throws(OutputWriter.Failure) in try writer.write(data, to: path) }
                outputs.append(path)
            }
        } catch {
            for output in outputs { writer.remove(output) }
            if error.outputFilesystemRefuses { throw .outputRefused(error) }
            logger.error("\(file.path): \(error)")
            return (record(.failed, reason: "\(error)"), .write)
        }
        var processed = record(.processed, reason: plan.reason, bucket: plan.bucket, outputs: outputs.sorted())
        processed.images = [quality]
        if directory != plan.bucket { processed.directory = directory }
        processed.plainImage = image
        return (processed, nil)
    }
}
