import Foundation
import Shared
import Ledger
import Pipeline

/// The JSON documents of the status API (docs/STATUS-SERVER.md), built from the live state
/// and the ledger; `dicomdrop status --json` prints the same ones.
public enum StatusDocuments {
    /// snake_case keys, sorted: stable output for people, scripts and tests.
    public static func encode(_ value: some Encodable) -> Data {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(value)) ?? Data("{}".utf8)
    }

    static func iso(_ date: Date) -> String { UTCTimestamp.string(date) }

    public struct Disk: Codable, Sendable {
        public let path: String
        public let freeBytes: Int64
        public let totalBytes: Int64

        /// nil when the filesystem cannot be asked (the folder is gone).
        static func of(_ path: String) -> Disk? {
            var status = statvfs()
            guard statvfs(path, &status) == 0 else { return nil }
            return Disk(path: path, freeBytes: Int64(status.f_bavail) * Int64(status.f_frsize),
                        totalBytes: Int64(status.f_blocks) * Int64(status.f_frsize))
        }
    }

    public struct Health: Codable, Sendable {
        public let ok: Bool
        /// Why the daemon cannot make progress (then `ok` is false and the status 503).
        public let problems: [String]
        /// What will stop it soon: a filesystem nearly full.
        public let warnings: [String]
        public let version: String
        public let started: String
        public let watcher: Watcher
        public let lastPass: Pass?
        public let queue: Queue
        public let currentRun: CurrentRun?
        public let paused: Paused?
        public let inotifyOverflows: Int
        public let disk: [String: Disk]

        public struct Watcher: Codable, Sendable {
            public let description: String
            public let alive: Bool
        }

        public struct Pass: Codable, Sendable {
            public let at: String
            public let seconds: Double
            public let files: Int
        }

        public struct Queue: Codable, Sendable {
            public let pendingUnits, readyUnits, filesInHand, filesWaitingForAWorker, batchesWaitingToCommit: Int
        }

        public struct CurrentRun: Codable, Sendable {
            public let unit: String
            public let trigger: String
            public let started: String
        }

        public struct Paused: Codable, Sendable {
            public let reason: String
            public let since: String
        }
    }

    /// Below this, a filesystem is nearly full: a warning (a large image's outputs, a ledger
    /// batch), not yet a problem; the pause says when writes are refused.
    static let minimumFreeBytes: Int64 = 64 << 20

    /// `ok` is false when the daemon cannot make progress: paused (the output refuses
    /// writes), or the change source ended while watching.
    static func health(_ live: LiveState.Snapshot, version: String, watching: Bool, output: URL, ledger: URL) -> Health {
        var disks: [String: Disk] = [:]
        disks["output"] = Disk.of(output.path)
        disks["ledger"] = Disk.of(ledger.deletingLastPathComponent().path).map {
            Disk(path: ledger.path, freeBytes: $0.freeBytes, totalBytes: $0.totalBytes)
        }
        var problems: [String] = [], warnings: [String] = []
        if let paused = live.paused { problems.append("processing paused since \(iso(paused.since)): \(paused.reason)") }
        for (name, disk) in disks.sorted(by: { $0.key < $1.key }) where disk.freeBytes < minimumFreeBytes {
            warnings.append("the \(name) filesystem has \(disk.freeBytes / (1 << 20)) MiB free")
        }
        let alive = !watching || live.changeSourceEnded == nil
        if !alive { problems.append("the change source (\(live.watcher)) has ended: nothing new is noticed") }
        return Health(
            ok: problems.isEmpty, problems: problems, warnings: warnings, version: version, started: iso(live.started),
            watcher: Health.Watcher(description: live.watcher, alive: alive),
            lastPass: live.lastPass.map { Health.Pass(at: iso($0.at), seconds: $0.seconds, files: $0.files) },
            queue: Health.Queue(pendingUnits: live.pendingUnits, readyUnits: live.readyUnits, filesInHand: live.filesInHand,
                                filesWaitingForAWorker: live.filesWaitingForAWorker, batchesWaitingToCommit: live.batchesWaitingToCommit),
            currentRun: live.currentRun.map { Health.CurrentRun(unit: $0.unit, trigger: $0.trigger.rawValue, started: iso($0.started)) },
            paused: live.paused.map { Health.Paused(reason: $0.reason, since: iso($0.since)) },
            inotifyOverflows: live.inotifyOverflows, disk: disks)
    }

    public struct Units: Codable, Sendable { public let units: [Ledger.UnitRow] }
    public struct Runs: Codable, Sendable { public let runs: [Ledger.RunSummaryRow] }
    public struct Failures: Codable, Sendable { public let failures: [Ledger.FailureRow] }

    public struct Buckets: Codable, Sendable {
        public let totalImages: Int
        public let buckets: [Ledger.BucketRow]

        init(_ buckets: [Ledger.BucketRow]) {
            self.buckets = buckets
            totalImages = buckets.reduce(0) { $0 + $1.images }
        }
    }

    public struct Throughput: Codable, Sendable {
        public let minutes: [Minute]

        public struct Minute: Codable, Sendable {
            public let at: String
            public let files: Int
        }

        /// The 60 whole minutes up to `now`'s, oldest first.
        static func lastHour(_ counts: [String: Int], now: Date) -> Throughput {
            let minute = floor(now.timeIntervalSince1970 / 60) * 60
            return Throughput(minutes: (0..<60).reversed().map { back in
                let at = iso(Date(timeIntervalSince1970: minute - Double(back) * 60))
                return Minute(at: at, files: counts[String(at.prefix(16))] ?? 0)
            })
        }
    }

    public struct Images: Codable, Sendable {
        public let images: [Image]
        public let next: String?
    }

    public struct Image: Codable, Sendable {
        public let name, bucket, directory: String
        public let reason: String?
        public let suboptimal: Bool
        public let frames: Int
        public let png: String?
        public let modality: String?
        public let rows, columns: Int?

        init(_ row: Ledger.ImageRow) {
            (name, bucket, directory, reason, suboptimal) = (row.name, row.bucket, row.directory, row.reason, row.suboptimal)
            (frames, png, modality, rows, columns) = (row.frames, row.png, row.modality, row.rows, row.columns)
        }
    }

    /// One image with its outputs, metadata and quality; encoded by hand because the
    /// metadata's columns are only known at run time.
    static func imageDetail(_ detail: Ledger.ImageDetail) -> Data {
        var object = (try? JSONSerialization.jsonObject(with: encode(Image(detail.image)))) as? [String: Any] ?? [:]
        object["outputs"] = detail.image.outputs
        var metadata: [String: Any] = [:]
        for (column, value) in detail.metadata {
            switch value {
            case .integer(let number)?: metadata[column] = number
            case .real(let number)?: metadata[column] = number.isFinite ? number : nil
            case .text(let text)?: metadata[column] = text
            case nil: metadata[column] = NSNull()
            }
        }
        object["metadata"] = metadata
        object["quality"] = detail.quality.map { record -> [String: Any] in
            ["output": record.output, "frame": record.frame, "suboptimal": record.suboptimal,
             "reason": record.reason ?? NSNull(), "model_score": record.modelScore ?? NSNull(),
             "features": record.features.filter { $0.value.isFinite }]
        }
        object["labels"] = (try? JSONSerialization.jsonObject(with: encode(detail.labels))) ?? []
        return (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data("{}".utf8)
    }
}

extension StatusDocuments {
    /// `dicomdrop status --json`.
    public struct Summary: Codable, Sendable {
        public let units: [Ledger.UnitRow]
        public let buckets: Buckets
        public let runs: [Ledger.RunSummaryRow]
        public let failures: [Ledger.FailureRow]
        /// Annotation files: labels waiting for their image, rows not read.
        public var annotations: [Ledger.AnnotationFileReport]?

        public init(units: [Ledger.UnitRow], buckets: [Ledger.BucketRow], runs: [Ledger.RunSummaryRow], failures: [Ledger.FailureRow]) {
            self.units = units
            self.buckets = Buckets(buckets)
            self.runs = runs
            self.failures = failures
        }
    }
}
