import DICOM
import Foundation

/// The grayscale pipeline of PS3.4 N.2 for one image: Modality LUT (PS3.3 C.11.1), VOI
/// (C.11.2), MONOCHROME1 inversion; stored value in, a fraction of the display range out.
struct GrayscaleTransform: Sendable {
    /// A LUT of a Modality or VOI LUT Sequence item (PS3.3 C.11.1.1.1): descriptor
    /// (entries, 0 meaning 65,536; first stored value mapped; bits per entry) and data.
    struct LookupTable: Sendable {
        let firstMapped: Int
        let entries: [Double]
        let bits: Int

        /// Inputs below the first mapped value take the first entry, above the last the last.
        /// A fractional input (after a rescale) is truncated, as pydicom and dcmtk do.
        func callAsFunction(_ input: Double) -> Double {
            guard !input.isNaN else { return entries[0] }
            let offset = input - Double(firstMapped)
            let index = offset < 0 ? 0 : offset >= Double(entries.count - 1) ? entries.count - 1 : Int(offset)
            return entries[index]
        }
    }

    enum Modality: Sendable {
        case rescale(slope: Double, intercept: Double)
        case table(LookupTable)
    }

    enum VOI: Sendable {
        case table(LookupTable)
        /// PS3.3 C.11.2.1.2 and C.11.2.1.3: LINEAR, LINEAR_EXACT, SIGMOID.
        case window(center: Double, width: Double, function: String)
        /// No VOI in the dataset: the frame's smallest to largest modality value.
        case frameRange
    }

    let modality: Modality
    let voi: VOI
    let inverted: Bool

    static let modalityLUTSequence = Tag(0x0028, 0x3000)
    static let voiLUTSequence = Tag(0x0028, 0x3010)

    init(dataSet: DataSet, layout: ImageLayout) throws(RenderError) {
        if let item = dataSet[Self.modalityLUTSequence]?.items?.first {
            modality = .table(try Self.lookupTable(item, byteOrder: dataSet.byteOrder, what: "Modality LUT", signedInput: layout.isSigned))
        } else {
            modality = .rescale(slope: dataSet.doubles(Tag(0x0028, 0x1053))?.first ?? 1,
                                intercept: dataSet.doubles(Tag(0x0028, 0x1052))?.first ?? 0)
        }
        if let item = dataSet[Self.voiLUTSequence]?.items?.first {
            voi = .table(try Self.lookupTable(item, byteOrder: dataSet.byteOrder, what: "VOI LUT", signedInput: layout.isSigned))
        } else if let center = dataSet.doubles(Tag(0x0028, 0x1050))?.first,
                  let width = dataSet.doubles(Tag(0x0028, 0x1051))?.first {
            let function = dataSet.string(Tag(0x0028, 0x1056))?.uppercased() ?? "LINEAR"
            switch function {
            case "LINEAR" where width >= 1, "LINEAR_EXACT" where width > 0, "SIGMOID" where width > 0:
                voi = .window(center: center, width: width, function: function)
            case "LINEAR", "LINEAR_EXACT", "SIGMOID":
                // A window no display could apply: the image is still worth seeing.
                voi = .frameRange
            default:
                throw .unsupported("VOI LUT Function \(function)")
            }
        } else {
            voi = .frameRange
        }
        inverted = layout.photometric == "MONOCHROME1"
    }

    /// The first value a LUT maps, as the descriptor's VR gave it (SS: signed), and as SS
    /// when the pixels are signed but the file wrote US: the value pydicom uses, but never
    /// a negative reading of unsigned data's 40,000.
    static func firstMapped(_ value: Int, signed: Bool) -> Int {
        signed && value > 32_767 ? value - 65_536 : value
    }

    static func lookupTable(_ item: DataSet, byteOrder: ByteOrder, what: String, signedInput: Bool) throws(RenderError) -> LookupTable {
        guard let descriptor = item.integers(.lutDescriptor), descriptor.count == 3 else {
            throw .inconsistent("\(what) Descriptor must hold three values")
        }
        // The entry count is always unsigned, 0 meaning 65,536 (PS3.3 C.11.1.1.1), whatever
        // VR the file gave the descriptor.
        let entries = descriptor[0] & 0xFFFF
        let count = entries == 0 ? 65_536 : entries
        let firstMapped = Self.firstMapped(descriptor[1], signed: signedInput)
        guard let element = item[.lutData], let bytes = element.bytes else {
            throw .inconsistent("\(what) Data is missing")
        }
        let words = LUTData.entries(bytes, bits: 16, byteOrder: byteOrder)
        guard words.count >= count else {
            throw .inconsistent("\(what) Data holds \(words.count) entries, its descriptor says \(count)")
        }
        return LookupTable(firstMapped: firstMapped, entries: words.prefix(count).map(Double.init), bits: descriptor[2])
    }

    func modalityValue(_ stored: Double) -> Double {
        switch modality {
        case .rescale(let slope, let intercept): stored * slope + intercept
        case .table(let table): table(stored)
        }
    }

    /// The display value in 0...1 of a modality value, before any inversion; `range` is the
    /// frame's modality range, used only without a VOI.
    func display(_ value: Double, range: ClosedRange<Double>) -> Double {
        var output: Double
        switch voi {
        case .table(let table):
            output = table(value) / (pow(2, Double(table.bits)) - 1)
        case .window(let center, let width, let function):
            switch function {
            case "LINEAR":
                // PS3.3 C.11.2.1.2.1: y = ((x - (c - 0.5)) / (w - 1) + 0.5), clamped.
                let low = center - 0.5 - (width - 1) / 2, high = center - 0.5 + (width - 1) / 2
                output = value <= low ? 0 : value > high ? 1 : (value - (center - 0.5)) / max(width - 1, 1) + 0.5
            case "LINEAR_EXACT":
                output = value <= center - width / 2 ? 0 : value > center + width / 2 ? 1 : (value - center) / width + 0.5
            default:
                output = 1 / (1 + exp(-4 * (value - center) / width))
            }
        case .frameRange:
            output = range.upperBound > range.lowerBound ? (value - range.lowerBound) / (range.upperBound - range.lowerBound) : 0
        }
        return min(max(output, 0), 1)
    }

    /// `display` scaled to 0...maximum and rounded; MONOCHROME1 is inverted after rounding,
    /// as pydicom's and dcmtk's renderings are, so that a mid grey lands on the same side.
    func quantized(_ value: Double, range: ClosedRange<Double>, maximum: Double) -> Double {
        // A value no arithmetic can place (NaN from a NaN slope or window) is black.
        let shown = display(value, range: range)
        let level = shown.isFinite ? (shown * maximum).rounded() : 0
        return inverted ? maximum - level : level
    }

    /// The smallest to largest finite value: the frame range of min-max VOI. NaN and
    /// infinities (a corrupt slope, float pixels) have no place on a display scale.
    static func finiteRange<S: Sequence>(_ values: S) -> ClosedRange<Double> where S.Element == Double {
        var low = Double.infinity, high = -Double.infinity
        for value in values where value.isFinite {
            low = min(low, value)
            high = max(high, value)
        }
        return low <= high ? low...high : 0...0
    }

    var needsFrameRange: Bool {
        if case .frameRange = voi { return true }
        return false
    }
}

/// The entries of LUT data (Modality, VOI and palette tables, segmented or not): bytes for
/// 8-bit entries, otherwise 16-bit words in the dataset's byte order.
enum LUTData {
    static func entries(_ bytes: Data, bits: Int, byteOrder: ByteOrder) -> [Int] {
        if bits == 8 { return bytes.map(Int.init) }
        return bytes.withUnsafeBytes { raw in
            (0..<raw.count / 2).map { index in
                let word = raw.loadUnaligned(fromByteOffset: 2 * index, as: UInt16.self)
                return Int(byteOrder == .littleEndian ? UInt16(littleEndian: word) : UInt16(bigEndian: word))
            }
        }
    }
}
