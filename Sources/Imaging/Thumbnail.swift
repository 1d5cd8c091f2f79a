import Foundation

/// A small copy of a PNG for a gallery: decoded with libpng's reader, reduced by averaging
/// the source pixels each thumbnail pixel covers (a box filter: no aliasing of fine
/// structure, as nearest-neighbour would give), written as an 8-bit PNG.
public enum Thumbnail {
    /// `png` with its longest side at most `longestSide` (never enlarged).
    public static func make(from png: Data, longestSide: Int) throws(PNGCodec.Failure) -> Data {
        let source = try PNGCodec.decode(png)
        let scale = min(1, Double(longestSide) / Double(max(source.width, source.height, 1)))
        let width = max(1, Int((Double(source.width) * scale).rounded()))
        let height = max(1, Int((Double(source.height) * scale).rounded()))
        let reduced = reduce(source, toWidth: width, height: height)
        return try PNGCodec.encode(reduced, compressionLevel: 6)
    }

    /// Box average of `source` into `width` x `height`, 8-bit samples.
    static func reduce(_ source: Raster, toWidth width: Int, height: Int) -> Raster {
        let channels = source.channels
        let bytesPerSample = source.bitDepth / 8
        var pixels = [UInt8](repeating: 0, count: width * height * channels)
        source.pixels.withUnsafeBufferPointer { input in
            func sample(_ x: Int, _ y: Int, _ channel: Int) -> UInt64 {
                let index = ((y * source.width + x) * channels + channel) * bytesPerSample
                // 16-bit samples are in host order (PNGCodec); the top byte is the 8-bit value.
                return bytesPerSample == 1 ? UInt64(input[index])
                    : UInt64(UnsafeRawBufferPointer(input).loadUnaligned(fromByteOffset: index, as: UInt16.self) >> 8)
            }
            for row in 0..<height {
                let y0 = row * source.height / height, y1 = max(y0 + 1, (row + 1) * source.height / height)
                for column in 0..<width {
                    let x0 = column * source.width / width, x1 = max(x0 + 1, (column + 1) * source.width / width)
                    // A 65535 x 65535 PNG into 16 px: 4096^2 samples of up to 255 a box.
                    let count = UInt64((y1 - y0) * (x1 - x0))
                    for channel in 0..<channels {
                        var sum: UInt64 = 0
                        for y in y0..<y1 { for x in x0..<x1 { sum += sample(x, y, channel) } }
                        pixels[(row * width + column) * channels + channel] = UInt8((sum + count / 2) / count)
                    }
                }
            }
        }
        return Raster(width: width, height: height, channels: channels, bitDepth: 8, pixels: pixels)
    }
}
