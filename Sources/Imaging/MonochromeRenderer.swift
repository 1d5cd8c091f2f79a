import DICOM
import Foundation

/// Why an image was not rendered. The dataset's metadata is still good; only pixels failed.
public enum RenderError: Error, Sendable, Equatable, CustomStringConvertible {
    case noPixelData
    /// Pixel data in a transfer syntax dicomdrop does not decode (video, JPEG XL): its name.
    case unsupportedTransferSyntax(String)
    /// A compressed frame its codec refused: the codec's reason.
    case corruptFrame(String)
    case unsupported(String)
    case inconsistent(String)
    /// A frame of Pixel Data left in its file could not be read: the file and the reason.
    case unreadableFrame(String)

    public var description: String {
        switch self {
        case .noPixelData: "no Pixel Data"
        case .unsupportedTransferSyntax(let name): "unsupported transfer syntax \(name)"
        case .corruptFrame(let reason): "undecodable frame: \(reason)"
        case .unsupported(let what): "unsupported image: \(what)"
        case .inconsistent(let what): "inconsistent image attributes: \(what)"
        case .unreadableFrame(let reason): "frame not read: \(reason)"
        }
    }
}

/// Renders one frame of a monochrome image through its `GrayscaleTransform`, to 8 or 16
/// bits. Integer frames of 8 or 16 bits (nearly every CT, MR, CR and DX image) go through a
/// lookup table of their stored range; 32-bit and floating-point frames are computed pixel
/// by pixel.
struct MonochromeRenderer: Sendable {
    /// The stored-value geometry of one native frame.
    struct Layout {
        let rows: Int
        let columns: Int
        let bitsAllocated: Int
        let bitsStored: Int
        let highBit: Int
        let isSigned: Bool
    }

    let transform: GrayscaleTransform
    /// Where tables shared between images with the same transform are kept.
    var tables: RenderTables = .shared

    func render(_ frame: NativeFrame, image: ImageLayout, bitDepth: Int) -> Raster {
        let count = image.pixelsPerFrame
        let maximum = bitDepth == 16 ? 65_535.0 : 255.0
        if image.sampleKind == .integer && frame.bitsAllocated <= 16 {
            let layout = Layout(rows: image.rows, columns: image.columns, bitsAllocated: frame.bitsAllocated,
                                bitsStored: frame.bitsStored, highBit: frame.highBit, isSigned: image.isSigned)
            // Every step maps one stored value to one output value, so the steps are computed
            // once per distinct stored value in the frame's range (at most 65,536 for 16 bits)
            // into a lookup table, the way dcmtk does, instead of once per pixel: one pass
            // finds the range, a second maps each pixel through the table.
            return frame.bytes.withUnsafeBytes { raw in
                if let key = RenderTables.Key(transform, bitsStored: layout.bitsStored, isSigned: layout.isSigned, bitDepth: bitDepth),
                   let table = tables.table(for: key, build: { key in
                       // Every stored value Bits Stored allows: the window does not look at the
                       // frame, so the frame's bytes are not read.
                       let every = key.lowest...(key.lowest + Int32(key.entries - 1))
                       return Self.packed(lookupTable(raw, layout: layout, byteOrder: frame.byteOrder, storedRange: every, maximum: maximum),
                                          bitDepth: bitDepth)
                   }) {
                    // A table over every stored value, kept from an image of the same series:
                    // no range to find, no table to compute.
                    return render(raw, layout: layout, byteOrder: frame.byteOrder, lowest: key.lowest, through: table)
                }
                let range = storedRange(raw, layout: layout, byteOrder: frame.byteOrder)
                let table = lookupTable(raw, layout: layout, byteOrder: frame.byteOrder, storedRange: range, maximum: maximum)
                return render(raw, layout: layout, byteOrder: frame.byteOrder, lowest: range.lowerBound,
                              through: Self.packed(table, bitDepth: bitDepth))
            }
        }
        // 32-bit integers and floats: the modality values, their range, then each pixel.
        let stored: [Double]
        switch image.sampleKind {
        case .integer:
            stored = PixelDecoder.integers(frame, count: count, isSigned: image.isSigned).map(Double.init)
        case .float32, .float64:
            stored = FloatSamples(frame: frame, kind: image.sampleKind).values(count: count)
        }
        let modality = stored.map(transform.modalityValue)
        let range = GrayscaleTransform.finiteRange(modality)
        let display = modality.map { transform.quantized($0, range: range, maximum: maximum) }
        return Self.raster(display, width: image.columns, height: image.rows, channels: 1, bitDepth: bitDepth)
    }

    /// `table` as the pixel pass reads it: words for 16-bit output; bytes for 8-bit output,
    /// half the table's cache footprint for the per-pixel lookup.
    private static func packed(_ table: [UInt16], bitDepth: Int) -> RenderTables.Table {
        bitDepth == 16 ? .words(table) : .bytes(table.map { UInt8(truncatingIfNeeded: $0) })
    }

    /// The frame's pixels through `table`, whose first entry is stored value `lowest`.
    private func render(_ raw: UnsafeRawBufferPointer, layout: Layout, byteOrder: ByteOrder, lowest: Int32,
                        through table: RenderTables.Table) -> Raster {
        let count = layout.rows * layout.columns
        switch table {
        case .bytes(let bytes):
            let gray = [UInt8](unsafeUninitializedCapacity: count) { output, initialized in
                bytes.withUnsafeBufferPointer { table in
                    mapStoredValuesToBytes(raw, layout: layout, byteOrder: byteOrder, lowest: lowest, through: table, into: output)
                }
                initialized = count
            }
            return Raster(width: layout.columns, height: layout.rows, channels: 1, bitDepth: 8, pixels: gray)
        case .words(let words):
            let values = [UInt16](unsafeUninitializedCapacity: count) { output, initialized in
                words.withUnsafeBufferPointer { table in
                    mapStoredValues(raw, layout: layout, byteOrder: byteOrder, lowest: lowest, through: table, into: output)
                }
                initialized = count
            }
            return Raster(width: layout.columns, height: layout.rows, channels: 1, bitDepth: 16,
                          pixels: values.withUnsafeBytes { Array($0) })
        }
    }

    /// Display values already scaled to 0...255 or 0...65,535, packed for PNG.
    static func raster(_ values: [Double], width: Int, height: Int, channels: Int, bitDepth: Int) -> Raster {
        if bitDepth == 16 {
            let words = values.map { UInt16(max(0, min(65_535, $0))) }
            return Raster(width: width, height: height, channels: channels, bitDepth: 16, pixels: words.withUnsafeBytes { Array($0) })
        }
        return Raster(width: width, height: height, channels: channels, bitDepth: 8, pixels: values.map { UInt8(max(0, min(255, $0))) })
    }

    /// The smallest and largest stored value of the frame. Sixteen pixels at a time through
    /// SIMD lanes for 16-bit data (the common CT/MR case, and a full pass over the frame).
    private func storedRange(_ bytes: UnsafeRawBufferPointer, layout: Layout, byteOrder: ByteOrder) -> ClosedRange<Int32> {
        let count = layout.rows * layout.columns
        var lowest = Int32.max, highest = Int32.min
        var vectorised = 0
        if layout.bitsAllocated == 16 && count >= 16 {
            // In 16-bit lanes throughout: a stored value of at most 16 bits, sign-extended
            // with (x ^ m) - m, is its own Int16 bit pattern, and SSE2 has 16-bit signed
            // min and max, so no lane is widened. Unsigned 16-bit values are compared with
            // their top bit flipped (x - 32,768, the same order) and shifted back at the end.
            let shift = UInt16(layout.highBit + 1 - layout.bitsStored)
            let mask = SIMD16<UInt16>(repeating: UInt16(truncatingIfNeeded: (UInt32(1) << UInt32(layout.bitsStored)) - 1))
            let signBit = SIMD16<UInt16>(repeating: layout.isSigned ? UInt16(1) << UInt16(layout.bitsStored - 1) : 0)
            let bias: UInt16 = !layout.isSigned && layout.bitsStored == 16 ? 0x8000 : 0
            let flip = SIMD16<UInt16>(repeating: bias)
            let swap = (byteOrder == .littleEndian) != (UInt16(littleEndian: 1) == 1)
            var lanesLow = SIMD16<Int16>(repeating: .max), lanesHigh = SIMD16<Int16>(repeating: .min)
            vectorised = count / 16 * 16
            for start in stride(from: 0, to: vectorised, by: 16) {
                var samples = bytes.loadUnaligned(fromByteOffset: 2 * start, as: SIMD16<UInt16>.self)
                if swap { samples = (samples &<< 8) | (samples &>> 8) }
                samples = (samples &>> shift) & mask
                let values = unsafeBitCast(((samples ^ signBit) &- signBit) ^ flip, to: SIMD16<Int16>.self)
                // A compare and a blend each: the library's generic pointwiseMin/Max were
                // left as calls, lane by lane (0.9% of a CT/MR run's samples).
                lanesLow.replace(with: values, where: values .< lanesLow)
                lanesHigh.replace(with: values, where: values .> lanesHigh)
            }
            lowest = Int32(lanesLow.min()) + Int32(bias)
            highest = Int32(lanesHigh.max()) + Int32(bias)
        }
        forEachStoredValue(bytes, layout: layout, byteOrder: byteOrder, from: vectorised) { _, value in
            lowest = min(lowest, value)
            highest = max(highest, value)
        }
        return lowest...highest
    }

    /// Output value for each stored value of `storedRange`. Without a VOI the display
    /// range is the frame's modality range: with a rescale its ends are those of the stored
    /// range (the rescale is linear); with a Modality LUT the values present are looked at.
    private func lookupTable(_ raw: UnsafeRawBufferPointer, layout: Layout, byteOrder: ByteOrder,
                             storedRange: ClosedRange<Int32>, maximum: Double) -> [UInt16] {
        let lowest = Int(storedRange.lowerBound), count = Int(storedRange.upperBound) - lowest + 1
        let modality = (0..<count).map { transform.modalityValue(Double(lowest + $0)) }
        var range = 0.0...0.0
        if transform.needsFrameRange {
            if case .rescale = transform.modality {
                range = GrayscaleTransform.finiteRange([modality[0], modality[count - 1]])
            } else {
                var present = [Bool](repeating: false, count: count)
                forEachStoredValue(raw, layout: layout, byteOrder: byteOrder) { _, value in present[Int(value) - lowest] = true }
                range = GrayscaleTransform.finiteRange(modality.indices.lazy.filter { present[$0] }.map { modality[$0] })
            }
        }
        return modality.map { UInt16(transform.quantized($0, range: range, maximum: maximum)) }
    }

    /// Writes each pixel's table entry, `table[stored value - lowest]`, to `output`: the
    /// render's one pass over the pixels (about a tenth of a CT file's CPU). Raw pointers and
    /// four pixels per turn, so that the loop is the load, the arithmetic and the lookup, with
    /// no bounds or nil checks, for 16-bit little-endian frames (nearly all). The shift is a
    /// masking one (`&>>`, the amount is below 16): the plain `>>` tested its amount against
    /// the word size at every pixel. The stored value minus `lowest` is
    /// `(word ^ signBit) - (signBit + lowest)` in wrapping 32-bit arithmetic, one subtraction
    /// for the sign extension and the offset together. From pixel `first` on (the pixels
    /// before it already mapped).
    @inline(__always)
    private func mapStoredValues<Output>(_ bytes: UnsafeRawBufferPointer, layout: Layout, byteOrder: ByteOrder, lowest: Int32,
                                         through table: UnsafeBufferPointer<Output>, into output: UnsafeMutableBufferPointer<Output>,
                                         from first: Int = 0) {
        let count = layout.rows * layout.columns
        guard count > 0, let source = bytes.baseAddress, let lookup = table.baseAddress, let target = output.baseAddress,
              layout.bitsAllocated == 16, byteOrder == .littleEndian else {
            forEachStoredValue(bytes, layout: layout, byteOrder: byteOrder, from: first) { index, value in
                output[index] = table[Int(value &- lowest)]
            }
            return
        }
        let shift = UInt32(layout.highBit + 1 - layout.bitsStored)
        let mask = (UInt32(1) << UInt32(layout.bitsStored)) - 1
        let signBit: UInt32 = layout.isSigned ? UInt32(1) << UInt32(layout.bitsStored - 1) : 0
        let offset = signBit &+ UInt32(bitPattern: lowest)
        @inline(__always) func sample(_ index: Int) -> UInt32 {
            UInt32(UInt16(littleEndian: source.loadUnaligned(fromByteOffset: 2 &* index, as: UInt16.self)))
        }
        var index = first
        while index &+ 4 <= count {
            let a = sample(index), b = sample(index &+ 1), c = sample(index &+ 2), d = sample(index &+ 3)
            target[index] = lookup[Int((((a &>> shift) & mask) ^ signBit) &- offset)]
            target[index &+ 1] = lookup[Int((((b &>> shift) & mask) ^ signBit) &- offset)]
            target[index &+ 2] = lookup[Int((((c &>> shift) & mask) ^ signBit) &- offset)]
            target[index &+ 3] = lookup[Int((((d &>> shift) & mask) ^ signBit) &- offset)]
            index &+= 4
        }
        while index < count {
            target[index] = lookup[Int((((sample(index) &>> shift) & mask) ^ signBit) &- offset)]
            index &+= 1
        }
    }

    /// `mapStoredValues` for 8-bit output, sixteen pixels a turn: their table indices
    /// computed in 16-bit SIMD lanes (the index is below 65,536, so the 32-bit wrapping
    /// arithmetic of `mapStoredValues` and its 16-bit remainder agree), each table byte
    /// stored where it goes. (Eight a turn with the eight bytes shifted into one 64-bit store
    /// took 1.18x the time, `dicomdrop-render-bench` `render_seconds` on 200 files of the
    /// CT/MR drop: the shifts and ors cost more than the stores they saved.)
    @inline(__always)
    private func mapStoredValuesToBytes(_ bytes: UnsafeRawBufferPointer, layout: Layout, byteOrder: ByteOrder, lowest: Int32,
                                        through table: UnsafeBufferPointer<UInt8>, into output: UnsafeMutableBufferPointer<UInt8>) {
        let count = layout.rows * layout.columns
        guard count >= 16, let source = bytes.baseAddress, let lookup = table.baseAddress, let target = output.baseAddress,
              layout.bitsAllocated == 16, byteOrder == .littleEndian, UInt16(littleEndian: 1) == 1 else {
            mapStoredValues(bytes, layout: layout, byteOrder: byteOrder, lowest: lowest, through: table, into: output)
            return
        }
        let shift = SIMD16<UInt16>(repeating: UInt16(layout.highBit + 1 - layout.bitsStored))
        let mask = SIMD16<UInt16>(repeating: UInt16(truncatingIfNeeded: (UInt32(1) << UInt32(layout.bitsStored)) - 1))
        let signBit: UInt32 = layout.isSigned ? UInt32(1) << UInt32(layout.bitsStored - 1) : 0
        let sign = SIMD16<UInt16>(repeating: UInt16(truncatingIfNeeded: signBit))
        let offset = SIMD16<UInt16>(repeating: UInt16(truncatingIfNeeded: signBit &+ UInt32(bitPattern: lowest)))
        var index = 0
        while index &+ 16 <= count {
            let words = source.loadUnaligned(fromByteOffset: 2 &* index, as: SIMD16<UInt16>.self)
            let at = (((words &>> shift) & mask) ^ sign) &- offset
            let pixels = target + index
            for lane in 0..<16 { pixels[lane] = lookup[Int(at[lane])] }
            index &+= 16
        }
        // The last pixels (fewer than sixteen) by the general pass.
        mapStoredValues(bytes, layout: layout, byteOrder: byteOrder, lowest: lowest, through: table, into: output, from: index)
    }

    /// Calls `body` with each pixel's index and stored value: the Bits Stored bits ending at
    /// High Bit, sign-extended when signed. Inlined into its two callers, so that neither
    /// pass materialises the values.
    @inline(__always)
    private func forEachStoredValue(_ bytes: UnsafeRawBufferPointer, layout: Layout, byteOrder: ByteOrder,
                                    from first: Int = 0, _ body: (Int, Int32) -> Void) {
        let shift = UInt32(layout.highBit + 1 - layout.bitsStored)
        let mask = layout.bitsStored >= 32 ? UInt32.max : (UInt32(1) << UInt32(layout.bitsStored)) - 1
        // (x ^ m) - m sign-extends a value whose sign bit is m; m = 0 leaves it unsigned.
        let signBit = layout.isSigned ? UInt32(1) << UInt32(layout.bitsStored - 1) : 0
        let count = layout.rows * layout.columns
        // One loop per byte order, with no branch inside, so that the compiler vectorises it.
        if layout.bitsAllocated == 16 && byteOrder == .littleEndian {
            for index in first..<count {
                let sample = UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: 2 * index, as: UInt16.self))
                let word = (UInt32(sample) >> shift) & mask
                body(index, Int32(bitPattern: (word ^ signBit) &- signBit))
            }
        } else if layout.bitsAllocated == 16 {
            for index in first..<count {
                let sample = UInt16(bigEndian: bytes.loadUnaligned(fromByteOffset: 2 * index, as: UInt16.self))
                let word = (UInt32(sample) >> shift) & mask
                body(index, Int32(bitPattern: (word ^ signBit) &- signBit))
            }
        } else {
            for index in first..<count {
                let word = (UInt32(bytes[index]) >> shift) & mask
                body(index, Int32(bitPattern: (word ^ signBit) &- signBit))
            }
        }
    }
}

/// Float and Double Float Pixel Data samples of a frame.
struct FloatSamples {
    let frame: NativeFrame
    let kind: ImageLayout.SampleKind

    /// The first `count` samples as Doubles, read through one pass over the frame's bytes.
    func values(count: Int) -> [Double] {
        let little = frame.byteOrder == .littleEndian
        return frame.bytes.withUnsafeBytes { raw in
            (0..<count).map { index in
                if kind == .float32 {
                    let bits = raw.loadUnaligned(fromByteOffset: 4 * index, as: UInt32.self)
                    return Double(Float(bitPattern: little ? UInt32(littleEndian: bits) : UInt32(bigEndian: bits)))
                }
                let bits = raw.loadUnaligned(fromByteOffset: 8 * index, as: UInt64.self)
                return Double(bitPattern: little ? UInt64(littleEndian: bits) : UInt64(bigEndian: bits))
            }
        }
    }
}
