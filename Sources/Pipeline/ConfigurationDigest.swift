import Config
import Crypto
import Foundation

extension WatchConfiguration {
    /// A digest of the settings that shape outputs, stored with every result so that it is
    /// known which configuration produced which files.
    public var outputDigest: String {
        let buckets = sizeBuckets.map { "\($0.name)=\($0.maxPixels.map(String.init) ?? "*")" }.joined(separator: ",")
        let deidentify = deidentification
        let privacy = "options=\(deidentify.options.sorted());keep=\(deidentify.keepPrivateCreators.sorted());"
            + "allow=\(deidentify.descriptorAllowList.sorted());dicom=\(deidentify.writeDICOM)"
        let text = "buckets:\(buckets);renderer:monochrome-8bit-v1;json:ps3.18-v1;deidentify:ps3.15-e1-v1:\(privacy)"
        return SHA256.hash(data: Data(text.utf8)).prefix(8).map { String(format: "%02x", $0) }.joined()
    }
}
