import Config
import Foundation
import Imaging

extension PNGConfiguration {
    /// A raster as a PNG file by the configured encoder.
    func encode(_ raster: Raster) throws(PNGCodec.Failure) -> Data {
        switch encoder {
        case .fast: try FastPNGEncoder.encode(raster)
        case .zlib: try PNGCodec.encode(raster, compressionLevel: level)
        }
    }
}
