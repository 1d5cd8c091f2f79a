import CZlib
import Foundation

/// PNG files written without libpng, for speed: the rows filtered (Sub for the first, whose Up
/// would see only zeros, Up for the others: what the zlib path uses, and the best single
/// filter on the corpus's renders), then deflated by `RunLengthDeflater`, in one IDAT chunk.
/// zlib computes the CRC-32 of the chunks. libpng and Pillow read files back in the tests.
public enum FastPNGEncoder {
    public static func encode(_ raster: Raster) throws(PNGCodec.Failure) -> Data {
        guard raster.width > 0, raster.height > 0, raster.width < 1 << 31, raster.height < 1 << 31,
              (1...4).contains(raster.channels), raster.bitDepth == 8 || raster.bitDepth == 16 else {
            throw PNGCodec.Failure(message: "cannot encode \(raster.width)x\(raster.height) with \(raster.channels) channels of \(raster.bitDepth) bits")
        }
        let pixelBytes = raster.channels * raster.bitDepth / 8
        let (stride, strideOverflow) = raster.width.multipliedReportingOverflow(by: pixelBytes)
        let (expected, expectedOverflow) = stride.multipliedReportingOverflow(by: raster.height)
        guard !strideOverflow, !expectedOverflow, raster.pixels.count == expected else {
            throw PNGCodec.Failure(message: "\(raster.pixels.count) bytes of pixels for \(raster.width)x\(raster.height)x\(raster.channels) at \(raster.bitDepth) bits, expected \(strideOverflow || expectedOverflow ? "more than memory holds" : "\(expected)")")
        }
        let filteredCount = (stride + 1) * raster.height
        let filtered = UnsafeMutablePointer<UInt8>.allocate(capacity: filteredCount)
        defer { filtered.deallocate() }
        raster.pixels.withUnsafeBufferPointer { pixels in
            if raster.bitDepth == 16 {
                // PNG stores samples big-endian; rasters hold them in host order.
                let swapped = UnsafeMutablePointer<UInt8>.allocate(capacity: pixels.count)
                defer { swapped.deallocate() }
                bigEndianSamples(pixels.baseAddress!, count: pixels.count, into: swapped)
                filterRows(UnsafePointer(swapped), width: stride, height: raster.height, pixelBytes: pixelBytes, into: filtered)
            } else {
                filterRows(pixels.baseAddress!, width: stride, height: raster.height, pixelBytes: pixelBytes, into: filtered)
            }
        }
        let deflated = RunLengthDeflater.deflate(UnsafeBufferPointer(start: filtered, count: filteredCount))
        let adler = Adler32.checksum(filtered, count: filteredCount)
        guard deflated.count + 6 <= Int(Int32.max) else {
            throw PNGCodec.Failure(message: "\(deflated.count) compressed bytes do not fit one IDAT chunk")
        }

        var png = Data(capacity: deflated.count + 64)
        png.append(contentsOf: [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
        var header = [UInt8]()
        header.appendBigEndian(UInt32(raster.width))
        header.appendBigEndian(UInt32(raster.height))
        header += [UInt8(raster.bitDepth), colourType(channels: raster.channels), 0, 0, 0]
        appendChunk("IHDR", [header], to: &png)
        // The zlib stream in three pieces, appended to the file as they are (the deflate
        // bytes copied once): its header (deflate with a 32 KiB window, "fastest" level;
        // 0x7801 is a multiple of 31), the deflate stream, the Adler-32.
        appendChunk("IDAT", [[0x78, 0x01], deflated, [UInt8](bigEndian: UInt32(adler))], to: &png)
        appendChunk("IEND", [], to: &png)
        return png
    }

    /// The filter type byte, then the filtered bytes, of every row.
    private static func filterRows(_ pixels: UnsafePointer<UInt8>, width: Int, height: Int, pixelBytes: Int,
                                   into filtered: UnsafeMutablePointer<UInt8>) {
        // Row 0: Sub (1).
        filtered[0] = 1
        for index in 0..<min(pixelBytes, width) { filtered[1 + index] = pixels[index] }
        if width > pixelBytes {
            for index in pixelBytes..<width { filtered[1 + index] = pixels[index] &- pixels[index - pixelBytes] }
        }
        // Rows 1...: Up (2), a loop the compiler vectorizes.
        for row in 1..<max(1, height) {
            let current = pixels + row * width, above = current - width
            let out = filtered + row * (width + 1)
            out[0] = 2
            let target = out + 1
            for index in 0..<width { target[index] = current[index] &- above[index] }
        }
    }

    private static func bigEndianSamples(_ pixels: UnsafePointer<UInt8>, count: Int, into swapped: UnsafeMutablePointer<UInt8>) {
        var index = 0
        while index + 1 < count {
            swapped[index] = pixels[index + 1]
            swapped[index + 1] = pixels[index]
            index += 2
        }
    }

    private static func colourType(channels: Int) -> UInt8 {
        switch channels {
        case 1: 0  // grey
        case 2: 4  // grey + alpha
        case 3: 2  // RGB
        default: 6  // RGBA
        }
    }

    /// A chunk whose data is `pieces` one after another: length, type, data, CRC-32 of the
    /// type and data.
    private static func appendChunk(_ type: String, _ pieces: [[UInt8]], to png: inout Data) {
        let typeBytes = Array(type.utf8)
        png.append(contentsOf: [UInt8](bigEndian: UInt32(pieces.reduce(0) { $0 + $1.count })))
        png.append(contentsOf: typeBytes)
        var crc = typeBytes.withUnsafeBufferPointer { crc32_z(0, $0.baseAddress, z_size_t($0.count)) }
        for piece in pieces {
            png.append(contentsOf: piece)
            crc = piece.withUnsafeBufferPointer { crc32_z(crc, $0.baseAddress, z_size_t($0.count)) }
        }
        png.append(contentsOf: [UInt8](bigEndian: UInt32(crc)))
    }
}

private extension [UInt8] {
    init(bigEndian value: UInt32) {
        self = [UInt8(value >> 24), UInt8(truncatingIfNeeded: value >> 16), UInt8(truncatingIfNeeded: value >> 8), UInt8(truncatingIfNeeded: value)]
    }

    mutating func appendBigEndian(_ value: UInt32) {
        self += [UInt8](bigEndian: value)
    }
}
