import Shared

/// A source's fingerprint in the ledger: the stamp (inode, size, mtime; not `st_dev`) the
/// walk saw when its hash was taken. If it is unchanged, the hash is still valid.
public typealias Fingerprint = FileStamp

/// One file path under the drop directory and what it last held.
public struct SourceRecord: Sendable, Equatable {
    /// Relative to the drop directory.
    public var path: String
    public var unit: String
    public var fingerprint: Fingerprint
    public var sha256: String

    public init(path: String, unit: String, fingerprint: Fingerprint, sha256: String) {
        self.path = path
        self.unit = unit
        self.fingerprint = fingerprint
        self.sha256 = sha256
    }
}

/// A file of the drop directory that could not be read (table `unreadable`): it has no
/// hash, so no `sources` row; the row goes when the path is recorded or gone.
public struct UnreadableRecord: Sendable, Equatable {
    /// Relative to the drop directory.
    public var path: String
    public var unit: String
    /// The system's reason (and the attempts made).
    public var reason: String
    /// How many reads were tried in the run that recorded it.
    public var attempts: Int

    public init(path: String, unit: String, reason: String, attempts: Int) {
        self.path = path
        self.unit = unit
        self.reason = reason
        self.attempts = attempts
    }
}

/// What processing one content hash gave.
public struct ContentRecord: Sendable, Equatable {
    public enum Outcome: String, Sendable {
        case processed
        case notDICOM = "not_dicom"
        case failed
        /// An annotation file: its labels are in `annotations`.
        case annotations
    }

    public var sha256: String
    public var outcome: Outcome
    /// Why it failed, why it is not DICOM, or what was left out (e.g. no PNG for compressed pixels).
    public var reason: String?
    public var bucket: String?
    /// The bucket's directory the outputs are in, when the bucket is capacity-limited and
    /// it is not the bucket's own (`small-0002`); nil: `bucket`.
    public var directory: String?
    /// Output files, relative to the output directory.
    public var outputs: [String]
    /// Digest of the configuration that produced the outputs.
    public var configurationDigest: String
    /// The unit whose processing produced (and owns) the outputs.
    public var unit: String
    /// The quality measurements and verdict of each PNG written.
    public var images: [ImageQualityRecord]
    /// The rows of the metadata tables, for a DICOM dataset (nil for what is not one).
    public var metadata: InstanceMetadata?
    /// The labels of an annotation file (nil for what is not one).
    public var annotations: AnnotationFile?
    /// An instance that `expectations:` must check before its unit's run is over: recorded
    /// with the content, cleared with the verdict, so a run cut short leaves it for the next.
    public var awaitsValidation = false
    /// The `plain_images` row, for a PNG or JPEG file (nil for what is not one).
    public var plainImage: PlainImageRecord?

    public init(sha256: String, outcome: Outcome, reason: String? = nil, bucket: String? = nil, directory: String? = nil,
                outputs: [String] = [], configurationDigest: String, unit: String, images: [ImageQualityRecord] = [],
                metadata: InstanceMetadata? = nil) {
        self.sha256 = sha256
        self.outcome = outcome
        self.reason = reason
        self.bucket = bucket
        self.directory = directory
        self.metadata = metadata
        self.outputs = outputs
        self.configurationDigest = configurationDigest
        self.unit = unit
        self.images = images
    }
}

/// One rendered image's quality features and verdict (table `image_quality`).
public struct ImageQualityRecord: Sendable, Equatable {
    public var output: String
    public var frame: Int
    public var features: [String: Double]
    public var modelScore: Double?
    public var suboptimal: Bool
    public var reason: String?

    public init(output: String, frame: Int, features: [String: Double], modelScore: Double?, suboptimal: Bool, reason: String?) {
        self.output = output
        self.frame = frame
        self.features = features
        self.modelScore = modelScore
        self.suboptimal = suboptimal
        self.reason = reason
    }
}

/// Lifecycle of a unit (a top-level folder or loose file of the drop directory).
public enum UnitState: String, Sendable {
    case waiting, settling, processing, done, failed
}

/// How a run ended, in `runs.outcome`.
public enum RunOutcome: String, Sendable {
    /// Every file of the unit has its outcome recorded.
    case done
    /// Stopped by SIGINT or SIGTERM before every file was handled: the files not recorded
    /// are still pending and the next start picks them up.
    case interrupted
    /// The ledger could not record the results (or the outputs could not be made durable):
    /// the unit is `failed` and its unrecorded files are tried again by the next rescan.
    case failed
    /// The output filesystem stopped taking writes (full, over quota, read-only): the files
    /// not recorded wait, the unit is `waiting`, and the daemon runs it again once the
    /// filesystem takes writes (nothing is recorded as failed for it).
    case paused
}

/// What started a run of a unit.
public enum RunTrigger: String, Sendable {
    case startup, inotify, poll, rescan, reprocess
}

/// The counts of one run, as logged and stored.
public struct RunCounts: Sendable, Equatable {
    public var seen = 0
    /// Processed for the first time.
    public var new = 0
    /// Bytes already processed under another path: recorded, nothing written.
    public var duplicate = 0
    /// Fingerprint unchanged since the last run: not even hashed.
    public var skipped = 0
    public var failed = 0

    public init(seen: Int = 0, new: Int = 0, duplicate: Int = 0, skipped: Int = 0, failed: Int = 0) {
        self.seen = seen
        self.new = new
        self.duplicate = duplicate
        self.skipped = skipped
        self.failed = failed
    }
}
