import Deidentify
import DICOM
import Foundation
import Imaging
import Watcher
import Yams

/// Reads watch.yaml: Yams composes the document (keeping each node's line and column), the
/// keys are checked against what dicomdrop knows, Codable decodes the values, and each
/// value is checked for sense. Every failure names the file, line, column and key.
public enum ConfigurationLoader {
    /// The keys dicomdrop reads, nested as in the file; `[item]` stands for list items.
    static let schema: Schema = .mapping([
        "drop": .leaf, "output": .leaf, "database": .leaf,
        "settle_seconds": .leaf, "rescan_seconds": .leaf, "workers": .leaf, "log_file": .leaf,
        "extra_columns": .list(.leaf), "filters_action": .leaf,
        // Keys are attribute keywords; each value is a list or a mapping, read by `filters(in:)`.
        "filters": .dictionary(.leaf),
        "watch": .mapping(["mode": .leaf, "poll_seconds": .leaf]),
        "buckets": .mapping(["size": .list(.mapping(["name": .leaf, "max_pixels": .leaf])), "capacity": .leaf, "naming": .leaf]),
        "deidentify": .mapping([
            "options": .list(.leaf), "keep_private": .list(.leaf), "descriptor_allow_list": .list(.leaf),
            "key_file": .leaf, "map_database": .leaf, "write_dicom": .leaf,
        ]),
        "png": .mapping(["bit_depth": .leaf, "frames": .leaf, "encoder": .leaf, "level": .leaf]),
        "http": .mapping(["listen": .leaf, "token": .leaf]),
        "webhooks": .list(.mapping(["url": .leaf, "events": .list(.leaf), "secret": .leaf, "attempts": .leaf])),
        "log": .mapping(["format": .leaf, "level": .leaf]),
        "expectations": expectationsSchema,
        "annotations": annotationsSchema,
        "limits": .mapping(["max_elements": .leaf, "max_inflated_bytes": .leaf]),
        "quality": .mapping(qualityRuleKeys.merging([
            "modalities": .dictionary(.mapping(qualityRuleKeys)),
            "model_file": .leaf,
            "model": .mapping(["features": .list(.leaf), "weights": .list(.leaf), "bias": .leaf, "threshold": .leaf,
                               "mean": .list(.leaf), "scale": .list(.leaf)]),
        ]) { $1 }),
    ])

    static let qualityRuleKeys: [String: Schema] = [
        "enabled": .leaf, "min_dynamic_range": .leaf, "min_foreground_std": .leaf, "max_foreground_clipped": .leaf,
        "min_sharpness": .leaf, "max_sharpness": .leaf,
    ]

    /// Every key name the schema holds, at any depth (for tests that must cover them all).
    public static func schemaKeys() -> Set<String> {
        func keys(_ schema: Schema) -> Set<String> {
            switch schema {
            case .leaf: []
            case .list(let item), .dictionary(let item): keys(item)
            case .mapping(let children): children.reduce(into: Set(children.keys)) { $0.formUnion(keys($1.value)) }
            }
        }
        return keys(schema)
    }

    indirect enum Schema: Sendable {
        case leaf
        case mapping([String: Schema])
        case list(Schema)
        /// A mapping whose keys are names the user chooses (modalities), each value checked.
        case dictionary(Schema)
    }

    /// The values as written, before paths are resolved and limits checked.
    struct RawConfiguration: Decodable {
        var drop: String?
        var output: String?
        var database: String?
        var settleSeconds: Double?
        var rescanSeconds: Double?
        var workers: Int?
        var watch: RawWatch?
        var buckets: RawBuckets?
        var deidentify: RawDeidentification?
        var png: RawPNG?
        var quality: RawQuality?
        var limits: RawLimits?
        var logFile: String?
        var extraColumns: [String]?
        var filtersAction: String?
        var http: RawHTTP?
        var webhooks: [RawWebhook]?
        var log: RawLog?

        enum CodingKeys: String, CodingKey {
            case drop, output, database, workers, watch, buckets, deidentify, png, quality, limits, http, webhooks, log
            case logFile = "log_file"
            case extraColumns = "extra_columns"
            case filtersAction = "filters_action"
            case settleSeconds = "settle_seconds"
            case rescanSeconds = "rescan_seconds"
        }
    }

    struct RawWatch: Decodable {
        var mode: String?
        var pollSeconds: Double?

        enum CodingKeys: String, CodingKey {
            case mode
            case pollSeconds = "poll_seconds"
        }
    }

    struct RawBuckets: Decodable {
        var size: [SizeBucket]?
        var capacity: Int?
        var naming: String?
    }

    struct RawQuality: Decodable {
        var rules: QualityRuleSettings
        var modalities: [String: QualityRuleSettings]?
        var modelFile: String?
        var model: LinearQualityModel?

        enum CodingKeys: String, CodingKey {
            case modalities, model
            case modelFile = "model_file"
        }

        init(from decoder: any Decoder) throws {
            rules = try QualityRuleSettings(from: decoder)
            let container = try decoder.container(keyedBy: CodingKeys.self)
            modalities = try container.decodeIfPresent([String: QualityRuleSettings].self, forKey: .modalities)
            modelFile = try container.decodeIfPresent(String.self, forKey: .modelFile)
            model = try container.decodeIfPresent(LinearQualityModel.self, forKey: .model)
        }
    }

    struct RawLimits: Decodable {
        var maxElements: Int?
        var maxInflatedBytes: Int?

        enum CodingKeys: String, CodingKey {
            case maxElements = "max_elements"
            case maxInflatedBytes = "max_inflated_bytes"
        }
    }

    struct RawPNG: Decodable {
        var bitDepth: Int?
        var frames: String?
        var encoder: String?
        var level: Int?

        enum CodingKeys: String, CodingKey {
            case frames, encoder, level
            case bitDepth = "bit_depth"
        }
    }

    struct RawDeidentification: Decodable {
        var options: [String]?
        var keepPrivate: [String]?
        var descriptorAllowList: [String]?
        var keyFile: String?
        var mapDatabase: String?
        var writeDICOM: Bool?

        enum CodingKeys: String, CodingKey {
            case options
            case keepPrivate = "keep_private"
            case descriptorAllowList = "descriptor_allow_list"
            case keyFile = "key_file"
            case mapDatabase = "map_database"
            case writeDICOM = "write_dicom"
        }
    }

    /// A quality model is a few hundred bytes of JSON (scripts/fit-quality-model).
    static let maximumModelBytes = 1 << 20

    public static func load(path: String) throws(ConfigurationError) -> WatchConfiguration {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConfigurationError(file: path, message: "cannot be read (\(String(cString: strerror(errno))))")
        }
        return try parse(String(decoding: data, as: UTF8.self), file: path)
    }

    /// Parses a configuration document; `file` names it in errors and anchors relative paths.
    public static func parse(_ yaml: String, file: String) throws(ConfigurationError) -> WatchConfiguration {
        let root: Node
        do {
            guard let composed = try Yams.compose(yaml: yaml) else {
                throw ConfigurationError(file: file, message: "is empty: expected a mapping of settings")
            }
            root = composed
        } catch let error as ConfigurationError {
            throw error
        } catch {
            throw syntaxError(error, file: file)
        }
        try checkKeys(root, against: schema, path: [], file: file)

        let raw: RawConfiguration
        do {
            raw = try YAMLDecoder().decode(RawConfiguration.self, from: root)
        } catch let error as DecodingError {
            throw decodingError(error, root: root, file: file)
        } catch {
            throw ConfigurationError(file: file, message: "\(error)")
        }
        return try validate(raw, root: root, file: file)
    }

    private static func validate(_ raw: RawConfiguration, root: Node, file: String) throws(ConfigurationError) -> WatchConfiguration {
        let folder = URL(fileURLWithPath: file).deletingLastPathComponent()
        // `place` is the key's full path: an error about deidentify.key_file is anchored at that
        // node, not at a top-level key_file the file does not have.
        func path(_ value: String?, default fallback: String, at place: [any CodingKey]) throws(ConfigurationError) -> URL {
            let text = value ?? fallback
            guard !text.isEmpty else { throw error(at: place, in: root, file: file, "must be a path, found an empty string") }
            let expanded = (text as NSString).expandingTildeInPath
            return expanded.hasPrefix("/") ? URL(fileURLWithPath: expanded).standardizedFileURL
                : folder.appendingPathComponent(expanded).standardizedFileURL
        }
        var configuration = WatchConfiguration(
            drop: try path(raw.drop, default: "var/drop", at: [Key("drop")]),
            output: try path(raw.output, default: "var/out", at: [Key("output")]),
            database: try path(raw.database, default: "var/dicomdrop.sqlite", at: [Key("database")]),
            deidentification: DeidentificationConfiguration(
                keyFile: try path(raw.deidentify?.keyFile, default: DeidentificationConfiguration.defaultKeyFile,
                                  at: [Key("deidentify"), Key("key_file")]),
                mapDatabase: try path(raw.deidentify?.mapDatabase, default: DeidentificationConfiguration.defaultMapDatabase,
                                      at: [Key("deidentify"), Key("map_database")])))
        if let logFile = raw.logFile {
            configuration.logFile = try path(logFile, default: "", at: [Key("log_file")])
        }
        if let settle = raw.settleSeconds {
            guard settle >= 0, settle.isFinite else {
                throw error(at: ["settle_seconds"], in: root, file: file, "must be a number of seconds >= 0, found \(settle)")
            }
            configuration.settleSeconds = settle
        }
        if let rescan = raw.rescanSeconds {
            guard rescan >= 1, rescan.isFinite else {
                throw error(at: ["rescan_seconds"], in: root, file: file, "must be a number of seconds >= 1, found \(rescan)")
            }
            configuration.rescanSeconds = rescan
        }
        if let mode = raw.watch?.mode {
            guard let known = WatchMode(rawValue: mode) else {
                throw error(at: [Key("watch"), Key("mode")], in: root, file: file, "must be auto, inotify or poll, found \"\(mode)\"")
            }
            configuration.watchMode = known
        }
        if let poll = raw.watch?.pollSeconds {
            guard poll >= 0.1, poll.isFinite else {
                throw error(at: [Key("watch"), Key("poll_seconds")], in: root, file: file, "must be a number of seconds >= 0.1, found \(poll)")
            }
            configuration.pollSeconds = poll
        }
        if let workers = raw.workers {
            guard (1...256).contains(workers) else {
                throw error(at: ["workers"], in: root, file: file, "must be between 1 and 256, found \(workers)")
            }
            configuration.workers = workers
        }
        if let deidentify = raw.deidentify {
            for (index, option) in (deidentify.options ?? []).enumerated() {
                guard ConfidentialityProfile.Option(rawValue: option) != nil else {
                    let known = ConfidentialityProfile.Option.allCases.map(\.rawValue).joined(separator: ", ")
                    throw error(at: [Key("deidentify"), Key("options"), Key(index: index)], in: root, file: file,
                                "unknown option \"\(option)\"; known: \(known)")
                }
            }
            configuration.deidentification.options = deidentify.options ?? []
            configuration.deidentification.keepPrivateCreators = deidentify.keepPrivate ?? []
            configuration.deidentification.descriptorAllowList = deidentify.descriptorAllowList ?? []
            configuration.deidentification.writeDICOM = deidentify.writeDICOM ?? false
        }
        if let png = raw.png {
            if let depth = png.bitDepth {
                guard depth == 8 || depth == 16 else {
                    throw error(at: [Key("png"), Key("bit_depth")], in: root, file: file, "must be 8 or 16, found \(depth)")
                }
                configuration.png.bitDepth = depth
            }
            if let frames = png.frames {
                guard let choice = PNGConfiguration.Frames(rawValue: frames) else {
                    throw error(at: [Key("png"), Key("frames")], in: root, file: file, "must be all or first, found \"\(frames)\"")
                }
                configuration.png.frames = choice
            }
            if let name = png.encoder {
                guard let encoder = PNGConfiguration.Encoder(rawValue: name) else {
                    throw error(at: [Key("png"), Key("encoder")], in: root, file: file, "must be fast or zlib, found \"\(name)\"")
                }
                configuration.png.encoder = encoder
            }
            if let level = png.level {
                guard (0...9).contains(level) else {
                    throw error(at: [Key("png"), Key("level")], in: root, file: file, "must be a zlib level from 0 to 9, found \(level)")
                }
                // A level asks for zlib: a watch.yaml written before the fast encoder keeps
                // the files it chose; with `encoder: fast` the level would mean nothing.
                guard png.encoder != PNGConfiguration.Encoder.fast.rawValue else {
                    throw error(at: [Key("png"), Key("level")], in: root, file: file, "is a zlib level: it needs `encoder: zlib` (the fast encoder has no levels)")
                }
                configuration.png.encoder = .zlib
                configuration.png.level = level
            }
        }
        if let limits = raw.limits {
            if let elements = limits.maxElements {
                guard elements >= 1000 else {
                    throw error(at: [Key("limits"), Key("max_elements")], in: root, file: file, "must be at least 1000, found \(elements)")
                }
                configuration.limits.maximumElements = elements
            }
            if let bytes = limits.maxInflatedBytes {
                guard bytes >= 1 << 20 else {
                    throw error(at: [Key("limits"), Key("max_inflated_bytes")], in: root, file: file, "must be at least 1048576 (1 MiB), found \(bytes)")
                }
                configuration.limits.maximumInflatedBytes = bytes
            }
        }
        if let quality = raw.quality {
            try validate(quality.rules, at: [Key("quality")], root: root, file: file)
            configuration.quality.rules = quality.rules
            for (modality, settings) in quality.modalities ?? [:] {
                try validate(settings, at: [Key("quality"), Key("modalities"), Key(modality)], root: root, file: file)
                configuration.quality.byModality[modality.uppercased()] = settings
            }
            guard quality.model == nil || quality.modelFile == nil else {
                throw error(at: [Key("quality"), Key("model_file")], in: root, file: file, "give model or model_file, not both")
            }
            var model = quality.model
            if let modelFile = quality.modelFile {
                let url = try path(modelFile, default: "", at: [Key("quality"), Key("model_file")])
                // Read whole: a device or a huge file named by mistake (/dev/zero) would hang
                // start-up or fill memory, so only a regular file of a model's size is read.
                var status = stat()
                if stat(url.path, &status) == 0, (status.st_mode & S_IFMT) != S_IFREG || status.st_size > Self.maximumModelBytes {
                    throw error(at: [Key("quality"), Key("model_file")], in: root, file: file,
                                "\(url.path) is not a regular file of at most \(Self.maximumModelBytes) bytes")
                }
                guard let data = FileManager.default.contents(atPath: url.path) else {
                    throw error(at: [Key("quality"), Key("model_file")], in: root, file: file, "cannot read \(url.path)")
                }
                do {
                    model = try JSONDecoder().decode(LinearQualityModel.self, from: data)
                } catch {
                    throw Self.error(at: [Key("quality"), Key("model_file")], in: root, file: file, "\(url.path) is not a quality model: \(error)")
                }
            }
            if let problem = model?.problem {
                throw error(at: [Key("quality"), Key(quality.modelFile == nil ? "model" : "model_file")], in: root, file: file, problem)
            }
            configuration.quality.model = model
        }
        for (index, keyword) in (raw.extraColumns ?? []).enumerated() {
            let place: [any CodingKey] = [Key("extra_columns"), Key(index: index)]
            guard let entry = StandardDictionary.entry(forKeyword: keyword) else {
                throw error(at: place, in: root, file: file, "\"\(keyword)\" is not an attribute keyword of the DICOM dictionary (PS3.6), which are written like ViewPosition")
            }
            guard AttributeColumnKind.of(entry) != nil else {
                let vr = if case .single(let vr) = entry.vr { vr.rawValue } else { "\(entry.vr)" }
                throw error(at: place, in: root, file: file, "\(keyword) has VR \(vr) (a sequence or bytes): not one column's value")
            }
            configuration.extraColumns.append(keyword)
        }
        if let filters = root.mapping?["filters"] {
            configuration.filters = try Self.filters(in: filters, file: file)
        }
        if let action = raw.filtersAction {
            guard let known = FiltersAction(rawValue: action) else {
                throw error(at: ["filters_action"], in: root, file: file, "must be excluded or skip, found \"\(action)\"")
            }
            configuration.filtersAction = known
        }
        if let buckets = raw.buckets?.size {
            try validate(buckets, root: root, file: file)
            configuration.sizeBuckets = buckets
        }
        if let capacity = raw.buckets?.capacity {
            guard capacity >= 1 else {
                throw error(at: [Key("buckets"), Key("capacity")], in: root, file: file, "must be a number of images >= 1, found \(capacity)")
            }
            configuration.bucketCapacity = BucketCapacity(images: capacity)
        }
        if let naming = raw.buckets?.naming {
            guard let known = BucketCapacity.Naming(rawValue: naming) else {
                throw error(at: [Key("buckets"), Key("naming")], in: root, file: file, "must be timestamp or sequence, found \"\(naming)\"")
            }
            guard configuration.bucketCapacity != nil else {
                throw error(at: [Key("buckets"), Key("naming")], in: root, file: file, "names the directories after a full one: it needs buckets.capacity")
            }
            configuration.bucketCapacity?.naming = known
        }
        if configuration.bucketCapacity != nil {
            // A full bucket's next directory is `<bucket>-0002` or `<bucket>-<UTC time>`:
            // a size bucket of such a name would share its folder with another bucket's images.
            let names = configuration.sizeBuckets.map(\.name) + ReservedBucket.allCases.map(\.rawValue)
            for (index, bucket) in configuration.sizeBuckets.enumerated() {
                for other in names where other != bucket.name && bucket.name.hasPrefix(other + "-") {
                    let suffix = bucket.name.dropFirst(other.count + 1)
                    if suffix.range(of: #"^([0-9]{4}|[0-9]{8}T[0-9]{6}Z)"#, options: .regularExpression) != nil {
                        throw error(at: [Key("buckets"), Key("size"), Key(index: index), Key("name")], in: root, file: file,
                                    "\"\(bucket.name)\" is the name of a further directory of the bucket \"\(other)\" under buckets.capacity")
                    }
                }
            }
        }
        // Outputs inside the drop directory would be watched and processed as new drops; a
        // drop directory inside the outputs would be swept and overwritten.
        let drop = configuration.drop.path, output = configuration.output.path
        guard drop != output else {
            throw error(at: ["output"], in: root, file: file, "must not be the drop directory: dicomdrop never writes into the drop directory")
        }
        guard !output.hasPrefix(drop + "/") else {
            throw error(at: ["output"], in: root, file: file, "must not be inside the drop directory \(drop): its outputs would be processed as new drops")
        }
        guard !drop.hasPrefix(output + "/") else {
            throw error(at: ["drop"], in: root, file: file, "must not be inside the output directory \(output)")
        }
        guard !configuration.database.path.hasPrefix(drop + "/") else {
            throw error(at: ["database"], in: root, file: file, "must not be inside the drop directory \(drop): dicomdrop never writes into the drop directory")
        }
        try validateOperatorSettings(raw, into: &configuration, root: root, file: file)
        try readExpectationsAndAnnotations(root, into: &configuration, file: file)
        return configuration
    }

    /// `filters:`: a mapping from attribute keyword to a rule, each checked where it is
    /// written: `[A, B]` keeps those values, `{in: [A, B]}` too, `{exclude: [A, B]}` drops
    /// them, and `ignore_case: true` beside `in` or `exclude` compares without case.
    static func filters(in node: Node, file: String) throws(ConfigurationError) -> [AttributeFilter] {
        guard let mapping = node.mapping else {
            if node.scalar?.string.isEmpty == true || node.scalar?.string == "~" { return [] }
            throw error(at: node, path: [Key("filters")], file: file, "must be a mapping from attribute keyword to a rule")
        }
        let shape = "must be a list of values, {in: [...]} or {exclude: [...]}, with ignore_case: true as an option"
        var filters: [AttributeFilter] = []
        for (keyNode, rule) in mapping {
            let keyword = keyNode.string ?? ""
            let path: [any CodingKey] = [Key("filters"), Key(keyword)]
            if let entry = StandardDictionary.entry(forKeyword: keyword) {
                guard AttributeColumnKind.of(entry) != nil else {
                    throw error(at: keyNode, path: path, file: file, "\(keyword) is a sequence or bytes: it has no value to compare")
                }
            } else if AttributeFilter.looksLikeKeyword(keyword) {
                throw error(at: keyNode, path: path, file: file,
                            "unknown attribute keyword (PS3.6 keywords are written like ViewPosition; a metadata.csv column is not written like a keyword)")
            }
            func values(_ list: Node, at place: [any CodingKey]) throws(ConfigurationError) -> [String] {
                guard let items = list.sequence else { throw error(at: list, path: place, file: file, shape) }
                var values: [String] = []
                for (index, item) in items.enumerated() {
                    guard let text = item.scalar?.string else {
                        throw error(at: item, path: place + [Key(index: index)], file: file, "must be a value, found a list or mapping")
                    }
                    values.append(text.trimmingCharacters(in: .whitespaces))
                }
                guard !values.isEmpty else { throw error(at: list, path: place, file: file, "lists no values: no image could pass") }
                return values
            }
            if rule.sequence != nil {
                filters.append(AttributeFilter(keyword: keyword, mode: .include, values: try values(rule, at: path)))
                continue
            }
            guard let options = rule.mapping else { throw error(at: rule, path: path, file: file, shape) }
            var mode: AttributeFilter.Mode?
            var listed: [String] = []
            var ignoreCase = false
            for (optionNode, value) in options {
                let option = optionNode.string ?? ""
                switch option {
                case "in", "exclude":
                    guard mode == nil else { throw error(at: optionNode, path: path + [Key(option)], file: file, "give in or exclude, not both") }
                    mode = option == "in" ? .include : .exclude
                    listed = try values(value, at: path + [Key(option)])
                case "ignore_case":
                    guard let flag = value.bool else {
                        throw error(at: value, path: path + [Key(option)], file: file, "must be true or false, found \"\(value.string ?? "")\"")
                    }
                    ignoreCase = flag
                default:
                    throw error(at: optionNode, path: path + [Key(option)], file: file, "unknown key (known here: exclude, ignore_case, in)")
                }
            }
            guard let mode else { throw error(at: rule, path: path, file: file, shape) }
            filters.append(AttributeFilter(keyword: keyword, mode: mode, values: listed, ignoreCase: ignoreCase))
        }
        return filters
    }

    /// Bucket names become directory names; limits must grow; only the last has none.
    private static func validate(_ buckets: [SizeBucket], root: Node, file: String) throws(ConfigurationError) {
        guard !buckets.isEmpty else {
            throw error(at: ["buckets", "size"], in: root, file: file, "must list at least one bucket")
        }
        var names: Set<String> = []
        var previousLimit = 0
        for (index, bucket) in buckets.enumerated() {
            let place: [any CodingKey] = [Key("buckets"), Key("size"), Key(index: index)]
            guard bucket.name.range(of: "^[A-Za-z0-9][A-Za-z0-9_.-]*$", options: .regularExpression) != nil else {
                throw error(at: place + [Key("name")], in: root, file: file,
                            "must be a plain folder name (letters, digits, '_', '.', '-'), found \"\(bucket.name)\"")
            }
            if let reserved = ReservedBucket(rawValue: bucket.name) {
                throw error(at: place + [Key("name")], in: root, file: file,
                            "\"\(bucket.name)\" is reserved: dicomdrop's own folder, it \(reserved.purpose)")
            }
            guard names.insert(bucket.name).inserted else {
                throw error(at: place + [Key("name")], in: root, file: file, "\"\(bucket.name)\" is used twice")
            }
            let isLast = index == buckets.count - 1
            switch bucket.maxPixels {
            case nil where !isLast:
                throw error(at: place, in: root, file: file, "only the last bucket may be without max_pixels")
            case let limit? where isLast:
                throw error(at: place + [Key("max_pixels")], in: root, file: file,
                            "the last bucket takes every larger image and has no max_pixels, found \(limit)")
            case let limit? where limit <= previousLimit:
                throw error(at: place + [Key("max_pixels")], in: root, file: file,
                            "must be larger than the previous bucket's \(previousLimit), found \(limit)")
            case let limit?:
                previousLimit = limit
            case nil:
                break
            }
        }
    }

    /// Fractions between 0 and 1, levels between 0 and 255, sharpness bounds that leave room.
    private static func validate(_ rules: QualityRuleSettings, at place: [any CodingKey], root: Node, file: String) throws(ConfigurationError) {
        func check(_ value: Double?, _ key: String, _ range: ClosedRange<Double>) throws(ConfigurationError) {
            guard let value else { return }
            guard range.contains(value) else {
                throw error(at: place + [Key(key)], in: root, file: file, "must be between \(range.lowerBound) and \(range.upperBound), found \(value)")
            }
        }
        try check(rules.minDynamicRange, "min_dynamic_range", 0...255)
        try check(rules.minForegroundStd, "min_foreground_std", 0...255)
        try check(rules.maxForegroundClipped, "max_foreground_clipped", 0...1)
        try check(rules.minSharpness, "min_sharpness", 0...1000)
        try check(rules.maxSharpness, "max_sharpness", 0...1000)
        if let low = rules.minSharpness, let high = rules.maxSharpness, low >= high {
            throw error(at: place + [Key("max_sharpness")], in: root, file: file, "must be above min_sharpness \(low), found \(high)")
        }
    }

    private static func checkKeys(_ node: Node, against schema: Schema, path: [any CodingKey], file: String) throws(ConfigurationError) {
        switch schema {
        case .leaf:
            return
        case .dictionary(let valueSchema):
            guard let mapping = node.mapping else {
                if node.scalar?.string.isEmpty == true || node.scalar?.string == "~" { return }
                throw error(at: node, path: path, file: file, "must be a mapping")
            }
            for (keyNode, value) in mapping {
                try checkKeys(value, against: valueSchema, path: path + [Key(keyNode.string ?? "")], file: file)
            }
        case .mapping(let known):
            guard let mapping = node.mapping else {
                if node.scalar?.string.isEmpty == true || node.scalar?.string == "~" { return }
                throw error(at: node, path: path, file: file, "must be a mapping of settings")
            }
            for (keyNode, value) in mapping {
                let key = keyNode.string ?? ""
                guard let child = known[key] else {
                    let choices = known.keys.sorted().joined(separator: ", ")
                    throw error(at: keyNode, path: path + [Key(key)], file: file, "unknown key (known here: \(choices))")
                }
                try checkKeys(value, against: child, path: path + [Key(key)], file: file)
            }
        case .list(let itemSchema):
            guard let sequence = node.sequence else {
                throw error(at: node, path: path, file: file, "must be a list")
            }
            for (index, item) in sequence.enumerated() {
                try checkKeys(item, against: itemSchema, path: path + [Key(index: index)], file: file)
            }
        }
    }

    private static func decodingError(_ decodingError: DecodingError, root: Node, file: String) -> ConfigurationError {
        switch decodingError {
        case .typeMismatch(let type, let context), .valueNotFound(let type, let context):
            let found = node(at: context.codingPath, in: root)?.string.map { "\"\($0)\"" } ?? "a list or mapping"
            return error(at: context.codingPath, in: root, file: file, "must be \(describe(type)), found \(found)")
        case .keyNotFound(let key, let context):
            return error(at: context.codingPath, in: root, file: file, "needs the key \"\(key.stringValue)\"")
        case .dataCorrupted(let context):
            let found = node(at: context.codingPath, in: root)?.string.map { ", found \"\($0)\"" } ?? ""
            return error(at: context.codingPath, in: root, file: file, "has a value that cannot be read\(found)")
        @unknown default:
            return ConfigurationError(file: file, message: "\(decodingError)")
        }
    }

    private static func describe(_ type: Any.Type) -> String {
        switch type {
        case is Double.Type: "a number"
        case is Int.Type: "a whole number"
        case is String.Type: "a string"
        default: "a \(type)"
        }
    }

    private static func syntaxError(_ error: any Error, file: String) -> ConfigurationError {
        if let yamlError = error as? YamlError {
            switch yamlError {
            case .scanner(_, let problem, let mark, _), .parser(_, let problem, let mark, _), .composer(_, let problem, let mark, _):
                return ConfigurationError(file: file, line: mark.line, column: mark.column, message: "is not valid YAML: \(problem)")
            case .duplicatedKeysInMapping(let duplicates, _):
                return ConfigurationError(file: file, message: "sets \(duplicates.joined(separator: ", ")) twice")
            default:
                break
            }
        }
        return ConfigurationError(file: file, message: "is not valid YAML: \(error)")
    }

    static func error(at keys: [String], in root: Node, file: String, _ message: String) -> ConfigurationError {
        error(at: keys.map { Key($0) as any CodingKey }, in: root, file: file, message)
    }

    static func error(at path: [any CodingKey], in root: Node, file: String, _ message: String) -> ConfigurationError {
        error(at: node(at: path, in: root) ?? root, path: path, file: file, message)
    }

    static func error(at node: Node, path: [any CodingKey], file: String, _ message: String) -> ConfigurationError {
        ConfigurationError(file: file, line: node.mark?.line, column: node.mark?.column, key: keyPath(path), message: message)
    }

    /// The node a coding path points to, for its line and column.
    private static func node(at path: [any CodingKey], in root: Node) -> Node? {
        var current = root
        for key in path {
            if let index = key.intValue, let sequence = current.sequence, index < sequence.count {
                current = sequence[index]
            } else if let value = current.mapping?[key.stringValue] {
                current = value
            } else {
                return nil
            }
        }
        return current
    }

    private static func keyPath(_ path: [any CodingKey]) -> String? {
        guard !path.isEmpty else { return nil }
        return path.reduce("") { text, key in
            if let index = key.intValue { return text + "[\(index)]" }
            return text.isEmpty ? key.stringValue : text + "." + key.stringValue
        }
    }

    struct Key: CodingKey {
        var stringValue: String
        var intValue: Int?
        init(_ string: String) { stringValue = string }
        init(index: Int) { stringValue = "\(index)"; intValue = index }
        init?(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { self.init(index: intValue) }
    }
}
