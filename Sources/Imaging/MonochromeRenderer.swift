import DICOM
import Foundation

/// Why an image was not rendered. The dataset's metadata is still good; only pixels failed.
public enum RenderError: Error, Sendable, Equatable, CustomStringConvertible {
    case noPixelData
    case compressed(transferSyntax: String)
    case unsupported(String)
    case inconsistent(String)

    public var description: String {
        switch self {
        case .noPixelData: "no Pixel Data"
        case .compressed(let uid): "compressed pixel data (\(uid)) is not decoded yet"
        case .unsupported(let what): "unsupported image: \(what)"
        case .inconsistent(let what): "inconsistent image attributes: \(what)"
        }
    }
}

/// Renders the first frame of a native monochrome image to 8-bit gray, in the order of
/// PS3.4 N.2: stored values (Bits Stored honoured, sign extended), Modality LUT as Rescale
/// Slope/Intercept, VOI as the first Window Center/Width (PS3.3 C.11.2.1.2.1, LINEAR) or
/// else the frame's min-max, MONOCHROME1 inverted.
public struct MonochromeRenderer: Sendable {
    public init() {}

    /// Image geometry and encoding read from the dataset.
    struct Layout {
        let rows: Int
        let columns: Int
        let bitsAllocated: Int
        let bitsStored: Int
        let highBit: Int
        let isSigned: Bool
        let isInverted: Bool
    }

    public func render(_ dataSet: DataSet, transferSyntax: TransferSyntax) throws(RenderError) -> Raster {
        guard let element = dataSet[.pixelData] else { throw .noPixelData }
        guard case .bytes(let pixelBytes) = element.value else {
            throw .compressed(transferSyntax: transferSyntax.uid)
        }
        let layout = try self.layout(of: dataSet)
        let count = layout.rows * layout.columns
        let frameBytes = count * layout.bitsAllocated / 8
        guard pixelBytes.count >= frameBytes else {
            throw .inconsistent("Pixel Data holds \(pixelBytes.count) bytes, one \(layout.rows)x\(layout.columns) frame of \(layout.bitsAllocated) bits needs \(frameBytes)")
        }
        let slope = dataSet.doubles(Tag(0x0028, 0x1053))?.first ?? 1
        let intercept = dataSet.doubles(Tag(0x0028, 0x1052))?.first ?? 0
        let byteOrder = dataSet.byteOrder
        // Every step maps one stored value to one output value, so the steps are computed
        // once per distinct stored value in the frame's range (at most 65,536 for 16 bits)
        // into a lookup table, the way dcmtk does, instead of once per pixel: one pass finds
        // the range, a second maps each pixel through the table.
        let gray = pixelBytes.prefix(frameBytes).withUnsafeBytes { raw in
            let range = storedRange(raw, layout: layout, byteOrder: byteOrder)
            let lowest = range.lowerBound
            let table = lookupTable(storedRange: range, slope: slope, intercept: intercept,
                                    window: voiWindow(of: dataSet), inverted: layout.isInverted)
            return [UInt8](unsafeUninitializedCapacity: count) { output, initialized in
                table.withUnsafeBufferPointer { table in
                    forEachStoredValue(raw, layout: layout, byteOrder: byteOrder) { index, value in
                        output[index] = table[Int(value &- lowest)]
                    }
                }
                initialized = count
            }
        }
        return Raster(width: layout.columns, height: layout.rows, channels: 1, bitDepth: 8, pixels: gray)
    }

    /// The smallest and largest stored value of the frame. Sixteen pixels at a time through
    /// SIMD lanes for 16-bit data (the common CT/MR case, and a full pass over the frame).
    private func storedRange(_ bytes: UnsafeRawBufferPointer, layout: Layout, byteOrder: ByteOrder) -> ClosedRange<Int32> {
        let count = layout.rows * layout.columns
        var lowest = Int32.max, highest = Int32.min
        var vectorised = 0
        if layout.bitsAllocated == 16 && count >= 16 {
            let shift = UInt32(layout.highBit + 1 - layout.bitsStored)
            let mask = SIMD16<UInt32>(repeating: (UInt32(1) << UInt32(layout.bitsStored)) - 1)
            let signBit = SIMD16<UInt32>(repeating: layout.isSigned ? UInt32(1) << UInt32(layout.bitsStored - 1) : 0)
            let swap = (byteOrder == .littleEndian) != (UInt16(littleEndian: 1) == 1)
            var lanesLow = SIMD16<Int32>(repeating: .max), lanesHigh = SIMD16<Int32>(repeating: .min)
            vectorised = count / 16 * 16
            for start in stride(from: 0, to: vectorised, by: 16) {
                var samples = bytes.loadUnaligned(fromByteOffset: 2 * start, as: SIMD16<UInt16>.self)
                if swap { samples = (samples &<< 8) | (samples &>> 8) }
                // Widening through the bit pattern's lanes: the generic conversion
                // initialisers are not specialised and cost more than the loop itself.
                var words = SIMD16<UInt32>()
                for lane in 0..<16 { words[lane] = UInt32(samples[lane]) }
                words = (words &>> shift) & mask
                let values = unsafeBitCast((words ^ signBit) &- signBit, to: SIMD16<Int32>.self)
                lanesLow.replace(with: values, where: values .< lanesLow)
                lanesHigh.replace(with: values, where: values .> lanesHigh)
            }
            lowest = lanesLow.min()
            highest = lanesHigh.max()
        }
        forEachStoredValue(bytes, layout: layout, byteOrder: byteOrder, from: vectorised) { _, value in
            lowest = min(lowest, value)
            highest = max(highest, value)
        }
        return lowest...highest
    }

    /// Output gray for each stored value of `storedRange`: Rescale Slope/Intercept, then the
    /// window (PS3.3 C.11.2.1.2.1, LINEAR) or the min-max of the modality values, then
    /// MONOCHROME1 inversion.
    private func lookupTable(storedRange: ClosedRange<Int32>, slope: Double, intercept: Double,
                             window: (center: Double, width: Double)?, inverted: Bool) -> [UInt8] {
        let lowest = Int(storedRange.lowerBound), count = Int(storedRange.upperBound) - lowest + 1
        var table = [UInt8](repeating: 0, count: count)
        func modality(_ offset: Int) -> Double { Double(lowest + offset) * slope + intercept }
        if let (center, width) = window, width >= 1 {
            // y = ((x - (c - 0.5)) / (w - 1) + 0.5) * 255, clamped.
            let low = center - 0.5 - (width - 1) / 2
            let high = center - 0.5 + (width - 1) / 2
            let span = max(width - 1, 1)
            for offset in 0..<count {
                let x = modality(offset)
                let y: Double = x <= low ? 0 : x > high ? 255 : ((x - (center - 0.5)) / span + 0.5) * 255
                table[offset] = UInt8(max(0, min(255, y.rounded())))
            }
        } else {
            // The modality values' extremes are those of the stored range's ends (the rescale
            // is linear), in either order when the slope is negative.
            let minimum = min(modality(0), modality(count - 1))
            let maximum = max(modality(0), modality(count - 1))
            let scale = maximum > minimum ? 255 / (maximum - minimum) : 0
            for offset in 0..<count {
                table[offset] = UInt8(max(0, min(255, ((modality(offset) - minimum) * scale).rounded())))
            }
        }
        if inverted {
            for offset in 0..<count { table[offset] = 255 - table[offset] }
        }
        return table
    }

    private func layout(of dataSet: DataSet) throws(RenderError) -> Layout {
        guard let rows = dataSet.integer(.rows), let columns = dataSet.integer(.columns), rows > 0, columns > 0 else {
            throw .inconsistent("Rows and Columns must be present and positive")
        }
        let samples = dataSet.integer(.samplesPerPixel) ?? 1
        let photometric = dataSet.string(Tag(0x0028, 0x0004)) ?? "MONOCHROME2"
        guard samples == 1, photometric == "MONOCHROME1" || photometric == "MONOCHROME2" else {
            throw .unsupported("\(photometric) with \(samples) samples per pixel (colour images come later)")
        }
        let bitsAllocated = dataSet.integer(.bitsAllocated) ?? 0
        guard bitsAllocated == 8 || bitsAllocated == 16 else {
            throw .unsupported("Bits Allocated \(bitsAllocated)")
        }
        let bitsStored = dataSet.integer(Tag(0x0028, 0x0101)) ?? bitsAllocated
        let highBit = dataSet.integer(Tag(0x0028, 0x0102)) ?? bitsStored - 1
        guard (1...bitsAllocated).contains(bitsStored), highBit >= bitsStored - 1, highBit < bitsAllocated else {
            throw .inconsistent("Bits Stored \(bitsStored) and High Bit \(highBit) do not fit Bits Allocated \(bitsAllocated)")
        }
        return Layout(rows: rows, columns: columns, bitsAllocated: bitsAllocated, bitsStored: bitsStored, highBit: highBit,
                      isSigned: dataSet.integer(.pixelRepresentation) == 1, isInverted: photometric == "MONOCHROME1")
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

    /// The first Window Center/Width pair, if both are present.
    private func voiWindow(of dataSet: DataSet) -> (Double, Double)? {
        guard let center = dataSet.doubles(Tag(0x0028, 0x1050))?.first,
              let width = dataSet.doubles(Tag(0x0028, 0x1051))?.first else { return nil }
        return (center, width)
    }
}
