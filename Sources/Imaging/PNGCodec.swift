import CPNG
import Foundation

/// Raster pixels in memory: rows packed, 8-bit samples or 16-bit samples in host order.
public struct Raster: Sendable, Equatable {
    public var width: Int
    public var height: Int
    /// 1 gray, 3 RGB.
    public var channels: Int
    /// 8 or 16.
    public var bitDepth: Int
    public var pixels: [UInt8]

    public init(width: Int, height: Int, channels: Int, bitDepth: Int, pixels: [UInt8]) {
        self.width = width
        self.height = height
        self.channels = channels
        self.bitDepth = bitDepth
        self.pixels = pixels
    }
}

/// PNG encoding and decoding through libpng (module CPNG), errors returned, never aborted.
public enum PNGCodec {
    public struct Failure: Error, Sendable, Equatable, CustomStringConvertible {
        public let message: String
        public init(message: String) { self.message = message }
        public var description: String { "PNG: \(message)" }
    }

    /// zlib's compression strategies (zlib.h `Z_*`).
    public enum Strategy: Int32, Sendable {
        case `default` = 0, filtered = 1, huffmanOnly = 2, rle = 3, fixed = 4
    }

    /// PNG row filters (png.h `PNG_FILTER_*`), combinable: libpng picks per row among several.
    public struct Filters: OptionSet, Sendable {
        public let rawValue: Int32
        public init(rawValue: Int32) { self.rawValue = rawValue }
        public static let none = Filters(rawValue: 0x08)
        public static let sub = Filters(rawValue: 0x10)
        public static let up = Filters(rawValue: 0x20)
        public static let average = Filters(rawValue: 0x40)
        public static let paeth = Filters(rawValue: 0x80)
    }

    /// Defaults: zlib level 1, the Up filter, the RLE strategy. PNG compression is the floor
    /// of the pipeline. Measured on the renders of the benchmark drop (docs/PERFORMANCE.md):
    /// Up + RLE compresses 1.6 times faster than Sub + the default strategy at level 1 and
    /// gives smaller files (0.40 of the raw rows against 0.48); level 6 is 2 to 3 times slower
    /// for 5% smaller files.
    public static func encode(_ raster: Raster, compressionLevel: Int = 1, filters: Filters = .up,
                              strategy: Strategy = .rle) throws(Failure) -> Data {
        let expected = raster.width * raster.height * raster.channels * raster.bitDepth / 8
        guard raster.pixels.count == expected else {
            throw Failure(message: "\(raster.pixels.count) bytes of pixels for \(raster.width)x\(raster.height)x\(raster.channels) at \(raster.bitDepth) bits, expected \(expected)")
        }
        var buffer = dd_png_buffer()
        var message = [CChar](repeating: 0, count: 256)
        let status = raster.pixels.withUnsafeBufferPointer { pixels in
            dd_png_encode(pixels.baseAddress, UInt32(raster.width), UInt32(raster.height), Int32(raster.channels),
                          Int32(raster.bitDepth), Int32(compressionLevel), filters.rawValue, strategy.rawValue, &buffer, &message, message.count)
        }
        guard status == 0, let bytes = buffer.data else {
            throw Failure(message: String(decoding: message.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        defer { dd_png_free(bytes) }
        return Data(bytes: bytes, count: buffer.size)
    }

    public static func decode(_ png: Data) throws(Failure) -> Raster {
        var image = dd_png_image()
        var message = [CChar](repeating: 0, count: 256)
        let status = png.withUnsafeBytes { bytes in
            dd_png_decode(bytes.bindMemory(to: UInt8.self).baseAddress, bytes.count, &image, &message, message.count)
        }
        guard status == 0, let pixels = image.pixels else {
            throw Failure(message: String(decoding: message.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        defer { dd_png_free(pixels) }
        let count = Int(image.width) * Int(image.height) * Int(image.channels) * Int(image.bit_depth) / 8
        return Raster(width: Int(image.width), height: Int(image.height), channels: Int(image.channels),
                      bitDepth: Int(image.bit_depth), pixels: Array(UnsafeBufferPointer(start: pixels, count: count)))
    }
}
