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

    /// zlib level 1 with the Sub filter: PNG compression is the floor of the pipeline, and
    /// level 1 compresses several times faster than libpng's default for a few percent more bytes.
    public static func encode(_ raster: Raster, compressionLevel: Int = 1, filters: Int32 = 0x10 /* PNG_FILTER_SUB */) throws(Failure) -> Data {
        let expected = raster.width * raster.height * raster.channels * raster.bitDepth / 8
        guard raster.pixels.count == expected else {
            throw Failure(message: "\(raster.pixels.count) bytes of pixels for \(raster.width)x\(raster.height)x\(raster.channels) at \(raster.bitDepth) bits, expected \(expected)")
        }
        var buffer = dd_png_buffer()
        var message = [CChar](repeating: 0, count: 256)
        let status = raster.pixels.withUnsafeBufferPointer { pixels in
            dd_png_encode(pixels.baseAddress, UInt32(raster.width), UInt32(raster.height), Int32(raster.channels),
                          Int32(raster.bitDepth), Int32(compressionLevel), filters, &buffer, &message, message.count)
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
