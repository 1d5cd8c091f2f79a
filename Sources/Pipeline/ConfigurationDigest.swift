import Config
import Crypto
import Foundation
import Imaging
import Shared

extension WatchConfiguration {
    /// A digest of the settings that shape outputs, stored with every result so that it is
    /// known which configuration produced which files.
    public var outputDigest: String {
        let buckets = sizeBuckets.map { "\($0.name)=\($0.maxPixels.map(String.init) ?? "*")" }.joined(separator: ",")
        let deidentify = deidentification
        let privacy = "options=\(deidentify.options.sorted());keep=\(deidentify.keepPrivateCreators.sorted());"
            + "allow=\(deidentify.descriptorAllowList.sorted());dicom=\(deidentify.writeDICOM)"
        let images = "png:\(png.bitDepth)bit,\(png.frames.rawValue),\(png.encoder == .fast ? "fast" : "level\(png.level)")"
        var text = "buckets:\(buckets);renderer:ps3.4-n2-v2;\(images);json:ps3.18-v1;deidentify:ps3.15-e1-v1:\(privacy)"
        // The quality rules and model decide which images go to `suboptimal`. Their effective
        // values are appended only where they differ from the built-in ones, so that ledgers
        // written before they were part of the digest keep theirs under the defaults.
        if let quality = qualityDifferenceFromDefaults { text += ";quality:\(quality)" }
        if let capacity = bucketCapacity { text += ";capacity:\(capacity.images),\(capacity.naming.rawValue)" }
        // Filters decide buckets too; appended only when set, like the quality rules.
        if !filters.isEmpty {
            let rules = filters.map { "\($0.keyword) \($0.mode.rawValue)\($0.ignoreCase ? " nocase" : "") \($0.values)" }
            text += ";filters:\(rules.joined(separator: ","));action:\(filtersAction.rawValue)"
        }
        return Hexadecimal.string(SHA256.hash(data: Data(text.utf8)).prefix(8))
    }

    /// The effective thresholds (everywhere, and per modality watch.yaml names) and the
    /// model, in one canonical text; nil when all are the built-in ones.
    var qualityDifferenceFromDefaults: String? {
        var parts: [String] = []
        let builtIn = WatchConfiguration(drop: drop, output: output, database: database, deidentification: deidentification)
        for modality in [nil] + quality.byModality.keys.sorted() {
            let effective = qualityJudge(forModality: modality).thresholds
            if effective != builtIn.qualityJudge(forModality: modality).thresholds {
                parts.append("\(modality ?? "*")=\(effective)")
            }
        }
        if let model = quality.model {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            parts.append("model=" + String(decoding: (try? encoder.encode(model)) ?? Data(), as: UTF8.self))
        }
        return parts.isEmpty ? nil : parts.joined(separator: ";")
    }
}
