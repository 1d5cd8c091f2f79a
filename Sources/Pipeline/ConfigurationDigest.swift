import Config
import Crypto
import Foundation
import Imaging

extension WatchConfiguration {
    /// A digest of the settings that shape outputs, stored with every result so that it is
    /// known which configuration produced which files.
    public var outputDigest: String {
        let buckets = sizeBuckets.map { "\($0.name)=\($0.maxPixels.map(String.init) ?? "*")" }.joined(separator: ",")
        let deidentify = deidentification
        let privacy = "options=\(deidentify.options.sorted());keep=\(deidentify.keepPrivateCreators.sorted());"
            + "allow=\(deidentify.descriptorAllowList.sorted());dicom=\(deidentify.writeDICOM)"
        let images = "png:\(png.bitDepth)bit,\(png.frames.rawValue),level\(png.level)"
        var text = "buckets:\(buckets);renderer:ps3.4-n2-v2;\(images);json:ps3.18-v1;deidentify:ps3.15-e1-v1:\(privacy)"
        // The quality rules and model decide which images go to `suboptimal`. Appended only
        // when watch.yaml sets any, so that ledgers written before they were part of the
        // digest keep theirs under the built-in defaults.
        if quality != QualityConfiguration() { text += ";quality:\(quality.canonicalText)" }
        return SHA256.hash(data: Data(text.utf8)).prefix(8).map { String(format: "%02x", $0) }.joined()
    }
}

extension QualityConfiguration {
    /// Thresholds per modality and the model, in one canonical text (sorted keys).
    var canonicalText: String {
        struct Canonical: Encodable {
            let rules: QualityRuleSettings
            let byModality: [String: QualityRuleSettings]
            let model: LinearQualityModel?
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let data = (try? encoder.encode(Canonical(rules: rules, byModality: byModality, model: model))) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }
}
