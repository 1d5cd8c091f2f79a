import Config
import Crypto
import Foundation
import Shared

extension WatchConfiguration {
    /// A digest of the settings that shape outputs, stored with every result so that it is
    /// known which configuration produced which files.
    public var outputDigest: String {
        let buckets = sizeBuckets.map { "\($0.name)=\($0.maxPixels.map(String.init) ?? "*")" }.joined(separator: ",")
        let deidentify = deidentification
        let privacy = "options=\(deidentify.options.sorted());keep=\(deidentify.keepPrivateCreators.sorted());"
            + "allow=\(deidentify.descriptorAllowList.sorted());dicom=\(deidentify.writeDICOM)"
        let images = "png:\(png.bitDepth)bit,\(png.frames.rawValue),level\(png.level)"
        let text = "buckets:\(buckets);renderer:ps3.4-n2-v2;\(images);json:ps3.18-v1;deidentify:ps3.15-e1-v1:\(privacy)"
        return Hexadecimal.string(SHA256.hash(data: Data(text.utf8)).prefix(8))
    }
}
