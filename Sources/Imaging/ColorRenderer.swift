import DICOM
import Foundation

/// Renders one frame of a colour image to RGB at 8 or 16 bits: RGB as stored, YBR_FULL and
/// YBR_FULL_422 converted (PS3.3 C.7.6.3.1.2), PALETTE COLOR through its red, green and
/// blue lookup tables (C.7.6.3.1.5, segmented tables C.7.9.2).
struct ColorRenderer: Sendable {
    let palette: Palette?

    init(dataSet: DataSet, layout: ImageLayout) throws(RenderError) {
        palette = layout.photometric == "PALETTE COLOR" ? try Palette(dataSet: dataSet) : nil
    }

    /// The samples are read in place from the frame and written once, at the output's width:
    /// a colour frame costs its PNG samples in memory (1 or 2 bytes a sample), not a decoded
    /// copy of 8 bytes a sample besides.
    func render(_ frame: NativeFrame, image: ImageLayout, bitDepth: Int) -> Raster {
        let count = image.pixelsPerFrame * 3
        return frame.bytes.withUnsafeBytes { raw in
            let samples = IntegerSamples(raw, frame: frame, isSigned: image.isSigned)
            if bitDepth == 16 {
                let words = [UInt16](unsafeUninitializedCapacity: count) { output, initialized in
                    render(samples, frame: frame, image: image, maximum: 65_535, into: output)
                    initialized = count
                }
                return Raster(width: image.columns, height: image.rows, channels: 3, bitDepth: 16,
                              pixels: words.withUnsafeBytes { Array($0) })
            }
            let bytes = [UInt8](unsafeUninitializedCapacity: count) { output, initialized in
                render(samples, frame: frame, image: image, maximum: 255, into: output)
                initialized = count
            }
            return Raster(width: image.columns, height: image.rows, channels: 3, bitDepth: 8, pixels: bytes)
        }
    }

    /// Every path maps a sample to an output level through a table or integer arithmetic,
    /// written straight into the output: no per-pixel floating point or rounding calls, which
    /// cost more than the PNG encoder on large colour images (YBR's matrix aside).
    private func render<Output: FixedWidthInteger & UnsignedInteger>(
        _ values: IntegerSamples, frame: NativeFrame, image: ImageLayout, maximum: Int, into output: UnsafeMutableBufferPointer<Output>
    ) {
        let pixels = image.pixelsPerFrame
        if let palette {
            let scale = Double(maximum) / (pow(2, Double(palette.bits)) - 1)
            let tables = [palette.red, palette.green, palette.blue].map { channel in
                channel.map { Output(min(Double(maximum), (Double($0) * scale).rounded())) }
            }
            tables[0].withUnsafeBufferPointer { red in
                tables[1].withUnsafeBufferPointer { green in
                    tables[2].withUnsafeBufferPointer { blue in
                        for pixel in 0..<pixels {
                            let index = palette.index(of: values[pixel])
                            output[3 * pixel] = red[index]
                            output[3 * pixel + 1] = green[index]
                            output[3 * pixel + 2] = blue[index]
                        }
                    }
                }
            }
        } else if frame.photometric == "RGB" {
            let top = (Int64(1) << Int64(frame.bitsStored)) - 1
            if top == Int64(maximum) {
                for index in 0..<pixels * 3 { output[index] = Output(truncatingIfNeeded: values[index]) }
            } else {
                // v * maximum / top, rounded half up, in integers (top < 2^32, v * maximum < 2^63).
                for index in 0..<pixels * 3 {
                    let value = min(max(values[index], 0), top)
                    output[index] = Output((value * Int64(maximum) * 2 + top) / (2 * top))
                }
            }
        } else {
            // YBR_FULL to RGB with the coefficients of PS3.3 C.7.6.3.1.2 (8-bit data only),
            // rounded half up and clamped, as pydicom does.
            let scale = maximum / 255
            for pixel in 0..<pixels {
                let y = Double(values[3 * pixel]), cb = Double(values[3 * pixel + 1]) - 128, cr = Double(values[3 * pixel + 2]) - 128
                let red = y + 1.402 * cr
                let green = y - 0.114 * 1.772 / 0.587 * cb - 0.299 * 1.402 / 0.587 * cr
                let blue = y + 1.772 * cb
                output[3 * pixel] = Output(min(max(Int(red + 0.5), 0), 255) * scale)
                output[3 * pixel + 1] = Output(min(max(Int(green + 0.5), 0), 255) * scale)
                output[3 * pixel + 2] = Output(min(max(Int(blue + 0.5), 0), 255) * scale)
            }
        }
    }
}

/// The Palette Color Lookup Tables of an image (PS3.3 C.7.6.3.1.5).
struct Palette: Sendable {
    let firstMapped: Int
    let red: [Int]
    let green: [Int]
    let blue: [Int]
    /// Bits of each entry: 8 or 16. Some writers put 8-bit entries in 16-bit words with an
    /// 8-bit descriptor; the data's length then says 16, and it is believed, as pydicom does.
    let bits: Int

    static let descriptors = [Tag(0x0028, 0x1101), Tag(0x0028, 0x1102), Tag(0x0028, 0x1103)]
    static let data = [Tag(0x0028, 0x1201), Tag(0x0028, 0x1202), Tag(0x0028, 0x1203)]
    static let segmentedData = [Tag(0x0028, 0x1221), Tag(0x0028, 0x1222), Tag(0x0028, 0x1223)]

    init(dataSet: DataSet) throws(RenderError) {
        guard let descriptor = dataSet.integers(Self.descriptors[0]), descriptor.count == 3 else {
            throw .inconsistent("PALETTE COLOR without a Red Palette Color Lookup Table Descriptor")
        }
        let entries = descriptor[0] & 0xFFFF
        let count = entries == 0 ? 65_536 : entries
        firstMapped = GrayscaleTransform.firstMapped(descriptor[1], signed: dataSet.integer(.pixelRepresentation) == 1)
        var tables: [[Int]] = []
        var bits = descriptor[2]
        for channel in 0..<3 {
            if let bytes = dataSet[Self.data[channel]]?.bytes {
                let actualBits = bytes.count >= 2 * count ? 16 : 8
                bits = actualBits
                tables.append(LUTData.entries(bytes, bits: actualBits, byteOrder: dataSet.byteOrder))
            } else if let bytes = dataSet[Self.segmentedData[channel]]?.bytes {
                let words = LUTData.entries(bytes, bits: descriptor[2] == 8 ? 8 : 16, byteOrder: dataSet.byteOrder)
                tables.append(try SegmentedLookupTable.expand(words, eightBit: descriptor[2] == 8, limit: count))
            } else {
                throw .inconsistent("PALETTE COLOR without palette data for channel \(channel + 1)")
            }
            guard tables[channel].count >= count else {
                throw .inconsistent("palette channel \(channel + 1) holds \(tables[channel].count) entries, its descriptor says \(count)")
            }
            tables[channel] = Array(tables[channel].prefix(count))
        }
        guard bits == 8 || bits == 16 else { throw .unsupported("palette entries of \(bits) bits") }
        (red, green, blue, self.bits) = (tables[0], tables[1], tables[2], bits)
    }

    func index(of value: Int64) -> Int {
        value < firstMapped ? 0 : min(Int(value) - firstMapped, red.count - 1)
    }
}

/// Segmented palette tables (PS3.3 C.7.9.2): discrete (opcode 0), linear (1) and indirect
/// (2) segments expanded into a plain table.
enum SegmentedLookupTable {
    /// `limit` entries at most (the descriptor's count): a few bytes of linear or indirect
    /// segments could otherwise ask for gigabytes.
    static func expand(_ data: [Int], eightBit: Bool, limit: Int = 65_536, maximumSegments: Int? = nil, previous: Int? = nil,
                       depth: Int = 0) throws(RenderError) -> [Int] {
        guard depth < 8 else { throw .inconsistent("segmented palette: indirect segments nest too deep") }
        var table: [Int] = []
        var offset = 0, segments = 0
        while offset + 1 < data.count, segments < (maximumSegments ?? .max) {
            guard table.count <= limit else { throw .inconsistent("segmented palette expands past its \(limit) entries") }
            let opcode = data[offset], length = data[offset + 1]
            offset += 2
            segments += 1
            switch opcode {
            case 0:
                guard offset + length <= data.count else { throw .inconsistent("segmented palette: discrete segment runs past the data") }
                table += data[offset..<offset + length]
                offset += length
            case 1:
                guard let start = table.last ?? previous, offset < data.count else {
                    throw .inconsistent("segmented palette: a linear segment needs a previous value")
                }
                let end = data[offset]
                offset += 1
                // Entries y0 + step ... y1, rounded half to even as numpy's around().
                let step = Double(end - start) / Double(max(length, 1))
                table += (1...max(length, 1)).prefix(length).map { Int((Double(start) + step * Double($0)).rounded(.toNearestOrEven)) }
            case 2:
                guard let last = table.last else { throw .inconsistent("segmented palette: an indirect segment cannot come first") }
                let byteOffset: Int
                if eightBit {
                    guard offset + 3 < data.count else { throw .inconsistent("segmented palette: truncated indirect segment") }
                    let bytes = [data[offset + 3], data[offset + 2], data[offset + 1], data[offset]]
                    byteOffset = (bytes[0] << 8 | bytes[1]) << 16 | (bytes[2] << 8 | bytes[3])
                    offset += 4
                } else {
                    guard offset + 1 < data.count else { throw .inconsistent("segmented palette: truncated indirect segment") }
                    byteOffset = data[offset + 1] << 16 | data[offset]
                    offset += 2
                }
                guard byteOffset < data.count else { throw .inconsistent("segmented palette: indirect offset \(byteOffset) outside the data") }
                table += try expand(Array(data[byteOffset...]), eightBit: eightBit, limit: limit - table.count,
                                    maximumSegments: length, previous: last, depth: depth + 1)
            default:
                throw .inconsistent("segmented palette: unknown segment type \(opcode)")
            }
        }
        return table
    }
}
