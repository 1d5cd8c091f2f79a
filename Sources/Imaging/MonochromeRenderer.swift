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
        let stored = storedValues(pixelBytes.prefix(frameBytes), layout: layout, byteOrder: dataSet.byteOrder)
        let slope = dataSet.doubles(Tag(0x0028, 0x1053))?.first ?? 1
        let intercept = dataSet.doubles(Tag(0x0028, 0x1052))?.first ?? 0
        var values = [Double](repeating: 0, count: count)
        for index in 0..<count { values[index] = Double(stored[index]) * slope + intercept }

        let window = voiWindow(of: dataSet)
        var gray = [UInt8](repeating: 0, count: count)
        if let (center, width) = window, width >= 1 {
            // PS3.3 C.11.2.1.2.1: y = ((x - (c - 0.5)) / (w - 1) + 0.5) * 255, clamped.
            let low = center - 0.5 - (width - 1) / 2
            let high = center - 0.5 + (width - 1) / 2
            let span = max(width - 1, 1)
            for index in 0..<count {
                let x = values[index]
                let y: Double = x <= low ? 0 : x > high ? 255 : ((x - (center - 0.5)) / span + 0.5) * 255
                gray[index] = UInt8(max(0, min(255, y.rounded())))
            }
        } else {
            let minimum = values.min() ?? 0
            let maximum = values.max() ?? 0
            let scale = maximum > minimum ? 255 / (maximum - minimum) : 0
            for index in 0..<count {
                gray[index] = UInt8(max(0, min(255, ((values[index] - minimum) * scale).rounded())))
            }
        }
        if layout.isInverted {
            for index in 0..<count { gray[index] = 255 - gray[index] }
        }
        return Raster(width: layout.columns, height: layout.rows, channels: 1, bitDepth: 8, pixels: gray)
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

    /// Stored pixel values: the Bits Stored bits ending at High Bit, sign-extended when signed.
    private func storedValues(_ bytes: Data, layout: Layout, byteOrder: ByteOrder) -> [Int32] {
        let shift = layout.highBit + 1 - layout.bitsStored
        let mask = layout.bitsStored >= 32 ? UInt32.max : (UInt32(1) << UInt32(layout.bitsStored)) - 1
        let signBit = UInt32(1) << UInt32(layout.bitsStored - 1)
        let count = layout.rows * layout.columns
        var values = [Int32](repeating: 0, count: count)
        bytes.withUnsafeBytes { raw in
            for index in 0..<count {
                var word: UInt32
                if layout.bitsAllocated == 8 {
                    word = UInt32(raw[index])
                } else {
                    let lowByte = UInt32(raw[2 * index]), highByte = UInt32(raw[2 * index + 1])
                    word = byteOrder == .littleEndian ? lowByte | highByte << 8 : highByte | lowByte << 8
                }
                word = (word >> UInt32(shift)) & mask
                if layout.isSigned && word & signBit != 0 {
                    values[index] = Int32(word) - Int32(bitPattern: mask) - 1
                } else {
                    values[index] = Int32(word)
                }
            }
        }
        return values
    }

    /// The first Window Center/Width pair, if both are present.
    private func voiWindow(of dataSet: DataSet) -> (Double, Double)? {
        guard let center = dataSet.doubles(Tag(0x0028, 0x1050))?.first,
              let width = dataSet.doubles(Tag(0x0028, 0x1051))?.first else { return nil }
        return (center, width)
    }
}
