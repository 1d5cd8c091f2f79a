import DICOM
import Foundation
import Imaging
import Watcher

/// The daemon's configuration, as read from watch.yaml. Paths are absolute: relative ones
/// in the file were resolved against the file's folder.
public struct WatchConfiguration: Sendable, Equatable {
    /// Folders and files dropped here are processed once settled.
    public var drop: URL
    /// `<output>/<bucket>/<name>.png` and `.json`.
    public var output: URL
    /// The SQLite ledger.
    public var database: URL
    /// A unit is ready when nothing under it changed for this long.
    public var settleSeconds: Double
    /// How often the whole drop tree is walked and compared with the ledger.
    public var rescanSeconds: Double
    /// `watch.mode`: how changes are noticed.
    public var watchMode = WatchMode.auto
    /// `watch.poll_seconds`: time between poll passes, when polling.
    public var pollSeconds = 10.0
    /// Files processed at once.
    public var workers: Int
    /// Size buckets in order; the last has no limit.
    public var sizeBuckets: [SizeBucket]
    /// `deidentify.*`: profile options, the key and the pseudonym map.
    public var deidentification: DeidentificationConfiguration
    /// `png.*`: how images are written.
    public var png = PNGConfiguration()
    /// `quality.*`: the suboptimal rules' thresholds, per modality, and an optional model.
    public var quality = QualityConfiguration()
    /// `limits.*`: what one file may make the reader allocate.
    public var limits = ReadLimits.defaults
    /// `log_file`: where log lines go (created 0600), instead of standard error.
    public var logFile: URL?
    /// `extra_columns`: attribute keywords added as columns of the `instances` table, beyond
    /// the modules' (DICOM's `InformationModel`).
    public var extraColumns: [String] = []
    /// `buckets.capacity` and `buckets.naming`: at most that many images per directory of a
    /// bucket; nil: no limit.
    public var bucketCapacity: BucketCapacity?
    /// `filters`: every rule must pass, in the order written.
    public var filters: [AttributeFilter] = []
    /// `filters_action`: where an image that fails a filter goes.
    public var filtersAction = FiltersAction.excluded
    /// `http.*`: the status server; nil: off.
    public var statusServer: StatusServerConfiguration?
    /// `webhooks:`: who is told about which events.
    public var webhooks: [WebhookConfiguration] = []
    /// `log.*`: format and level of log lines.
    public var log = LogConfiguration()
    /// `expectations:`: the rules every run is validated against; nil: none.
    public var expectations: ExpectationSettings?
    /// `annotations.*`: where label files are dropped.
    public var annotations = AnnotationSettings()

    public init(drop: URL, output: URL, database: URL, deidentification: DeidentificationConfiguration, settleSeconds: Double = 5,
                rescanSeconds: Double = 60, workers: Int = ProcessInfo.processInfo.activeProcessorCount,
                sizeBuckets: [SizeBucket] = SizeBucket.defaults) {
        self.drop = drop
        self.output = output
        self.database = database
        self.settleSeconds = settleSeconds
        self.rescanSeconds = rescanSeconds
        self.workers = workers
        self.sizeBuckets = sizeBuckets
        self.deidentification = deidentification
    }

    /// The bucket of an image of `pixels` = Rows x Columns: the first whose limit it fits.
    public func sizeBucket(forPixels pixels: Int) -> SizeBucket {
        sizeBuckets.first { $0.maxPixels.map { pixels <= $0 } ?? true } ?? sizeBuckets[sizeBuckets.count - 1]
    }
}

/// `png.*`: bit depth, which frames of a multi-frame image, which encoder and zlib level.
public struct PNGConfiguration: Sendable, Equatable {
    public enum Frames: String, Sendable, Equatable {
        case all, first
    }

    /// Who writes the PNG files: dicomdrop's own deflate (Imaging's FastPNGEncoder), or
    /// libpng with zlib at `level`. Both write the same pixels.
    public enum Encoder: String, Sendable, Equatable {
        case fast, zlib
    }

    /// 8 (default) or 16 bits per sample.
    public var bitDepth = 8
    /// Every frame of a multi-frame image as `<name>-f0001.png`, ..., or only the first.
    public var frames = Frames.all
    public var encoder = Encoder.fast
    /// zlib level of the `zlib` encoder; 1 by default: PNG compression is most of that
    /// encoder's time.
    public var level = 1

    public init() {}
}

/// Thresholds of the suboptimal rules as written in watch.yaml; nil: the built-in default
/// (Imaging's QualityThresholds documents each).
public struct QualityRuleSettings: Sendable, Equatable, Codable {
    public var enabled: Bool?
    public var minDynamicRange: Double?
    public var minForegroundStd: Double?
    public var maxForegroundClipped: Double?
    public var minSharpness: Double?
    public var maxSharpness: Double?

    public init(enabled: Bool? = nil) { self.enabled = enabled }

    enum CodingKeys: String, CodingKey {
        case enabled
        case minDynamicRange = "min_dynamic_range"
        case minForegroundStd = "min_foreground_std"
        case maxForegroundClipped = "max_foreground_clipped"
        case minSharpness = "min_sharpness"
        case maxSharpness = "max_sharpness"
    }
}

/// `quality.*`.
public struct QualityConfiguration: Sendable, Equatable {
    public var rules = QualityRuleSettings()
    /// Per modality, over `rules`. Segmentations and dose grids are not pictures of anatomy:
    /// the rules are off for them unless watch.yaml says otherwise.
    public var byModality: [String: QualityRuleSettings] = ["SEG": QualityRuleSettings(enabled: false),
                                                             "RTDOSE": QualityRuleSettings(enabled: false)]
    public var model: LinearQualityModel?

    public init() {}
}

/// `buckets.capacity`: a bucket directory holds at most `images` images (an instance with
/// all its frames is one); the next is opened beside it when it is full.
public struct BucketCapacity: Sendable, Equatable {
    public enum Naming: String, Sendable {
        /// `<bucket>-YYYYMMDDTHHMMSSZ`, the UTC time the directory was opened.
        case timestamp
        /// `<bucket>-0002`, `<bucket>-0003`, ...
        case sequence
    }

    public var images: Int
    public var naming = Naming.timestamp

    public init(images: Int, naming: Naming = .timestamp) {
        self.images = images
        self.naming = naming
    }
}

/// One size bucket: images of at most `maxPixels` (Rows x Columns) go here; nil is no limit.
public struct SizeBucket: Sendable, Equatable, Codable {
    public var name: String
    public var maxPixels: Int?

    public init(name: String, maxPixels: Int?) {
        self.name = name
        self.maxPixels = maxPixels
    }

    enum CodingKeys: String, CodingKey {
        case name
        case maxPixels = "max_pixels"
    }

    /// `small` up to 512 x 512, `large` above.
    public static let defaults = [SizeBucket(name: "small", maxPixels: 512 * 512), SizeBucket(name: "large", maxPixels: nil)]
}

/// De-identification settings (PS3.15 Annex E).
public struct DeidentificationConfiguration: Sendable, Equatable {
    /// Raw values of Deidentify's `ConfidentialityProfile.Option`, each checked by the loader.
    public var options: [String] = []
    /// Private creators whose blocks are kept; every other private element is removed.
    public var keepPrivateCreators: [String] = []
    /// Descriptor values kept verbatim under clean_descriptors.
    public var descriptorAllowList: [String] = []
    /// The HMAC key (created 0600 on first start).
    public var keyFile: URL
    /// original -> pseudonym, kept apart from the ledger (0600).
    public var mapDatabase: URL
    /// Also write the de-identified dataset as a Part 10 file next to its PNG.
    public var writeDICOM = false

    /// Where the key and the map are when watch.yaml does not say, relative to its folder
    /// (as README documents; not beside the database, which may be moved on its own).
    public static let defaultKeyFile = "var/deidentify.key"
    public static let defaultMapDatabase = "var/pseudonyms.sqlite"

    public init(keyFile: URL, mapDatabase: URL) {
        self.keyFile = keyFile
        self.mapDatabase = mapDatabase
    }

    /// The defaults, under `folder` (the folder of watch.yaml).
    public init(defaultsIn folder: URL) {
        self.init(keyFile: folder.appendingPathComponent(Self.defaultKeyFile).standardizedFileURL,
                  mapDatabase: folder.appendingPathComponent(Self.defaultMapDatabase).standardizedFileURL)
    }
}
