import DICOM
import Foundation

/// One frame's samples in the one layout the renderers read: words of `bitsAllocated` bits
/// in `byteOrder`, samples interleaved (R G B R G B ...). Planar frames are interleaved,
/// 1-bit frames unpacked to one byte per pixel, YBR_FULL_422 expanded to full YBR,
/// compressed frames decoded; the bits outside Bits Stored are still there, for the
/// renderers to mask.
public struct NativeFrame: Sendable {
    /// For an uncompressed frame, a slice of the Pixel Data element's bytes: not a copy.
    public let bytes: Data
    public let bitsAllocated: Int
    public let bitsStored: Int
    public let highBit: Int
    public let byteOrder: ByteOrder
    /// What the samples are, for the renderer: the dataset's Photometric Interpretation, or
    /// what a codec made of it (RGB after JPEG 2000's inverse RCT/ICT, YBR_FULL after
    /// upsampling YBR_FULL_422).
    public let photometric: String
    /// Where the codestream and the dataset disagree, or what the codec had to say.
    public var notes: [String] = []
}

/// The decoded values of one frame: integers after masking to Bits Stored and sign
/// extension, or floating point. Samples interleaved.
public enum FrameValues: Sendable, Equatable {
    case integers([Int64])
    case floats([Double])
}

/// Decodes the frames of an image: native, RLE Lossless (PS3.5 8 and Annex G), and every
/// compressed syntax CompressedFrameDecoder knows, one frame at a time.
public struct PixelDecoder: Sendable {
    public let layout: ImageLayout
    private let byteOrder: ByteOrder
    private let source: Source

    private enum Source: Sendable {
        case native(Data)
        /// Each frame's fragments (slices of Pixel Data), joined only when it is decoded.
        case encapsulated([[Data]], CompressedFrameDecoder)
        /// Native Pixel Data left in its file: each frame read by offset; `swapPairs` as for
        /// `.native`.
        case nativeInFile(PixelDataInFile, swapPairs: Bool)
        /// Encapsulated Pixel Data left in its file: each frame's fragments read when it is
        /// decoded.
        case encapsulatedInFile([[PixelDataInFile.Span]], PixelDataInFile, CompressedFrameDecoder)
    }

    public init(dataSet: DataSet, transferSyntax: TransferSyntax) throws(RenderError) {
        layout = try ImageLayout(of: dataSet)
        byteOrder = dataSet.byteOrder
        // OW is a run of 16-bit words: big-endian files swap each pair of 8-bit samples.
        let swapPairs = byteOrder == .bigEndian && layout.bitsAllocated <= 8 && dataSet[layout.pixelTag]?.vr == .OW
        switch dataSet[layout.pixelTag]?.value {
        case .bytes(let bytes)?:
            try Self.checkNative(layout, holding: bytes.count)
            source = .native(swapPairs ? Self.swappingPairs(bytes) : bytes)
        case .inFile(let pixelData)? where pixelData.items == nil:
            try Self.checkNative(layout, holding: pixelData.length)
            source = .nativeInFile(pixelData, swapPairs: swapPairs)
        case .inFile(let pixelData)?:
            let decoder = try CompressedFrameDecoder(transferSyntax: transferSyntax)
            do {
                source = .encapsulatedInFile(try dataSet.frameSpansInFile() ?? [], pixelData, decoder)
            } catch {
                throw .inconsistent("encapsulated frames: \(error)")
            }
        case .encapsulated?:
            let decoder = try CompressedFrameDecoder(transferSyntax: transferSyntax)
            do {
                source = .encapsulated(try dataSet.encapsulatedFrameFragments() ?? [], decoder)
            } catch {
                throw .inconsistent("encapsulated frames: \(error)")
            }
        default:
            throw .noPixelData
        }
    }

    public var frameCount: Int { layout.frames }

    /// Native Pixel Data of `count` bytes must hold every frame the layout says.
    private static func checkNative(_ layout: ImageLayout, holding count: Int) throws(RenderError) {
        // YBR_RCT and YBR_ICT name JPEG 2000's transforms: native samples so labelled are
        // not something the renderer can read (it would apply YBR_FULL's 8-bit matrix).
        guard !["YBR_RCT", "YBR_ICT"].contains(layout.photometric) else {
            throw .inconsistent("\(layout.photometric) is for JPEG 2000 frames, not native pixel data")
        }
        let (bits, overflow) = layout.nativeFrameBits.multipliedReportingOverflow(by: layout.frames)
        let needed = overflow ? Int.max : (bits + 7) / 8
        guard count >= needed else {
            throw .inconsistent("Pixel Data holds \(count) bytes, \(layout.frames) frame(s) of \(layout.rows)x\(layout.columns)x\(layout.samplesPerPixel) at \(layout.bitsAllocated) bits need \(needed)")
        }
    }

    static func swappingPairs(_ bytes: Data) -> Data {
        var swapped = Data(bytes)
        swapped.withUnsafeMutableBytes { raw in
            for index in stride(from: 0, to: raw.count - 1, by: 2) { raw.swapAt(index, index + 1) }
        }
        return swapped
    }

    /// Frame `index` (from 0) in the native layout.
    public func nativeFrame(_ index: Int) throws(RenderError) -> NativeFrame {
        guard (0..<layout.frames).contains(index) else {
            throw .inconsistent("frame \(index + 1) of \(layout.frames)")
        }
        let compressed: Data, decoder: CompressedFrameDecoder
        switch source {
        case .native(let data):
            return nativeFrame(firstBit: index * layout.nativeFrameBits, of: data)
        case .nativeInFile(let pixelData, let swapPairs):
            // The bytes holding the frame's bits; with swapped pairs, from an even offset.
            let firstBit = index * layout.nativeFrameBits
            var start = firstBit / 8, end = (firstBit + layout.nativeFrameBits + 7) / 8
            if swapPairs { start &= ~1; end = min(pixelData.length, (end + 1) & ~1) }
            var bytes: Data
            do {
                bytes = try pixelData.read(PixelDataInFile.Span(offset: pixelData.valueOffset + start, length: end - start))
            } catch {
                throw .unreadableFrame("\(error)")
            }
            if swapPairs { bytes = Self.swappingPairs(bytes) }
            return nativeFrame(firstBit: firstBit - start * 8, of: bytes)
        case .encapsulated(let frames, let frameDecoder):
            guard index < frames.count else {
                throw .inconsistent("the encapsulated Pixel Data holds \(frames.count) frames, Number of Frames is \(layout.frames)")
            }
            compressed = EncapsulatedPixelData.joined(frames[index])
            decoder = frameDecoder
        case .encapsulatedInFile(let frames, let pixelData, let frameDecoder):
            guard index < frames.count else {
                throw .inconsistent("the encapsulated Pixel Data holds \(frames.count) frames, Number of Frames is \(layout.frames)")
            }
            do {
                compressed = EncapsulatedPixelData.joined(try frames[index].map { (span) throws(DICOMFileError) in try pixelData.read(span) })
            } catch {
                throw .unreadableFrame("\(error)")
            }
            decoder = frameDecoder
        }
        let nativeFrameBytes = (layout.nativeFrameBits + 7) / 8
        switch decoder.method {
        case .rle:
            let bytes = try RLEDecoder.decode(frame: compressed, layout: layout)
            return NativeFrame(bytes: Data(bytes), bitsAllocated: layout.bitsAllocated, bitsStored: layout.bitsStored,
                               highBit: layout.highBit, byteOrder: .littleEndian, photometric: layout.photometric)
        case .deflated:
            return nativeFrame(firstBit: 0, of: try DeflatedFrameDecoder.inflate(compressed, expected: nativeFrameBytes), byteOrder: .littleEndian)
        case .uncompressed:
            guard compressed.count >= nativeFrameBytes else {
                throw .corruptFrame("an uncompressed fragment of \(compressed.count) bytes, a frame needs \(nativeFrameBytes)")
            }
            return nativeFrame(firstBit: 0, of: compressed, byteOrder: .littleEndian)
        case .jpeg, .jpegLS, .jpeg2000:
            return try nativeFrame(from: try decoder.decode(compressed, layout: layout), index: index)
        }
    }

    /// A codec's frame in the native layout. The codestream wins for decoding (its precision
    /// and signedness say how to read the samples), the dataset for rendering (its window,
    /// LUTs and Photometric Interpretation); what disagrees is noted.
    private func nativeFrame(from decoded: DecodedFrame, index: Int) throws(RenderError) -> NativeFrame {
        guard decoded.width == layout.columns, decoded.height == layout.rows else {
            throw .inconsistent("frame \(index + 1): the codestream is \(decoded.width)x\(decoded.height), Columns x Rows say \(layout.columns)x\(layout.rows)")
        }
        guard decoded.components == layout.samplesPerPixel else {
            throw .inconsistent("frame \(index + 1): the codestream has \(decoded.components) components, Samples per Pixel is \(layout.samplesPerPixel)")
        }
        var notes = decoded.notes
        if decoded.precision != layout.bitsStored {
            notes.append("the codestream's precision is \(decoded.precision) bits, Bits Stored is \(layout.bitsStored)")
        }
        if let signed = decoded.isSigned, signed != layout.isSigned {
            notes.append("the codestream's samples are \(signed ? "signed" : "unsigned"), Pixel Representation says \(layout.isSigned ? "signed" : "unsigned")")
        }
        let singleSample = layout.samplesPerPixel == 1
        let photometric: String
        if singleSample {
            // MONOCHROME1, MONOCHROME2 or PALETTE COLOR: one sample, the dataset says which.
            photometric = layout.photometric
        } else if let colorSpace = decoded.colorSpace, colorSpace != .monochrome {
            photometric = colorSpace.rawValue
        } else {
            // A colour codestream that says nothing about colour holds what the dataset says;
            // YBR_RCT and YBR_ICT without the codestream's transform can only be RGB.
            photometric = Self.expectedDecodedPhotometric(layout.photometric)
        }
        if !singleSample && photometric != Self.expectedDecodedPhotometric(layout.photometric) {
            notes.append("the codestream's colour space is \(photometric), Photometric Interpretation says \(layout.photometric)")
        }
        // Signed samples keep the dataset's Bits Stored when it is narrower: a 12-bit value
        // in a 16-bit codestream reads the same whether the encoder sign-extended it or not.
        let signed = decoded.isSigned ?? layout.isSigned
        let bitsStored = signed ? min(layout.bitsStored, decoded.precision) : decoded.precision
        return NativeFrame(bytes: decoded.samples, bitsAllocated: decoded.bytesPerSample * 8, bitsStored: bitsStored,
                           highBit: bitsStored - 1, byteOrder: .littleEndian, photometric: photometric, notes: notes)
    }

    /// What a codec returns for a colour dataset: RGB for RGB and the JPEG 2000 transforms,
    /// full-resolution YBR for YBR_FULL and YBR_FULL_422.
    static func expectedDecodedPhotometric(_ photometric: String) -> String {
        photometric.hasPrefix("YBR_FULL") ? "YBR_FULL" : "RGB"
    }

    /// The frame whose first bit is bit `firstBit` of `data` (byte-aligned unless 1-bit).
    private func nativeFrame(firstBit: Int, of data: Data, byteOrder: ByteOrder? = nil) -> NativeFrame {
        let byteOrder = byteOrder ?? self.byteOrder
        let pixels = layout.pixelsPerFrame
        if layout.bitsAllocated == 1 {
            // Bit i of the pixel stream is bit (i % 8) of byte i / 8, least significant
            // first (PS3.5 D.2); frames follow each other with no byte alignment.
            let unpacked = data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) -> [UInt8] in
                [UInt8](unsafeUninitializedCapacity: pixels) { output, initialized in
                    for pixel in 0..<pixels {
                        let bit = firstBit + pixel
                        output[pixel] = (raw[bit >> 3] >> UInt8(bit & 7)) & 1
                    }
                    initialized = pixels
                }
            }
            return NativeFrame(bytes: Data(unpacked), bitsAllocated: 8, bitsStored: 1, highBit: 0, byteOrder: .littleEndian,
                               photometric: layout.photometric)
        }
        let frameBytes = layout.nativeFrameBits / 8
        let start = data.startIndex + firstBit / 8
        var bytes = data[start..<start + frameBytes]
        var photometric = layout.photometric
        if layout.photometric == "YBR_FULL_422" {
            bytes = Data(Self.expandYBR422([UInt8](bytes), pixels: pixels))
            photometric = "YBR_FULL"
        } else if layout.isPlanar {
            bytes = Data(Self.interleave([UInt8](bytes), samples: layout.samplesPerPixel, bytesPerSample: layout.bitsAllocated / 8, pixels: pixels))
        }
        return NativeFrame(bytes: bytes, bitsAllocated: layout.bitsAllocated, bitsStored: layout.bitsStored,
                           highBit: layout.highBit, byteOrder: byteOrder, photometric: photometric)
    }

    /// Y1 Y2 Cb Cr for each horizontal pair of pixels (PS3.3 C.7.6.3.1.2) to Y Cb Cr per pixel.
    static func expandYBR422(_ bytes: [UInt8], pixels: Int) -> [UInt8] {
        var output = [UInt8](repeating: 0, count: pixels * 3)
        var pixel = 0, input = 0
        while pixel < pixels && input + 3 < bytes.count {
            let (y1, y2, cb, cr) = (bytes[input], bytes[input + 1], bytes[input + 2], bytes[input + 3])
            output[3 * pixel] = y1; output[3 * pixel + 1] = cb; output[3 * pixel + 2] = cr
            if pixel + 1 < pixels {
                output[3 * pixel + 3] = y2; output[3 * pixel + 4] = cb; output[3 * pixel + 5] = cr
            }
            pixel += 2
            input += 4
        }
        return output
    }

    /// RRR...GGG...BBB to RGBRGB..., sample by sample.
    static func interleave(_ bytes: [UInt8], samples: Int, bytesPerSample: Int, pixels: Int) -> [UInt8] {
        var output = [UInt8](repeating: 0, count: bytes.count)
        for sample in 0..<samples {
            for pixel in 0..<pixels {
                for byte in 0..<bytesPerSample {
                    output[(pixel * samples + sample) * bytesPerSample + byte] = bytes[(sample * pixels + pixel) * bytesPerSample + byte]
                }
            }
        }
        return output
    }

    /// Frame `index` as values: integers masked to Bits Stored and sign-extended at High
    /// Bit (PS3.5 8.1.1: the other bits may hold anything), or floats.
    public func values(ofFrame index: Int) throws(RenderError) -> FrameValues {
        let frame = try nativeFrame(index)
        let count = layout.pixelsPerFrame * layout.samplesPerPixel
        switch layout.sampleKind {
        case .float32, .float64:
            return .floats(FloatSamples(frame: frame, kind: layout.sampleKind).values(count: count))
        case .integer:
            return .integers(Self.integers(frame, count: count, isSigned: layout.isSigned))
        }
    }

    static func integers(_ frame: NativeFrame, count: Int, isSigned: Bool) -> [Int64] {
        frame.bytes.withUnsafeBytes { raw in
            let samples = IntegerSamples(raw, frame: frame, isSigned: isSigned)
            return [Int64](unsafeUninitializedCapacity: count) { output, initialized in
                for index in 0..<count { output[index] = samples[index] }
                initialized = count
            }
        }
    }
}

/// The integer samples of a native frame of 8, 16 or 32 bits, read in place: the Bits Stored
/// bits ending at High Bit (PS3.5 8.1.1: the other bits may hold anything), sign-extended
/// when signed. Valid while the buffer it reads is.
struct IntegerSamples {
    private let raw: UnsafeRawBufferPointer
    private let bitsAllocated: Int
    private let shift: UInt64
    private let mask: UInt64
    private let signBit: UInt64
    private let little: Bool

    init(_ raw: UnsafeRawBufferPointer, frame: NativeFrame, isSigned: Bool) {
        self.raw = raw
        bitsAllocated = frame.bitsAllocated
        shift = UInt64(frame.highBit + 1 - frame.bitsStored)
        mask = (1 << UInt64(frame.bitsStored)) - 1
        signBit = isSigned ? 1 << UInt64(frame.bitsStored - 1) : 0
        little = frame.byteOrder == .littleEndian
    }

    @inline(__always)
    subscript(index: Int) -> Int64 {
        let word: UInt64
        switch bitsAllocated {
        case 8: word = UInt64(raw[index])
        case 16:
            let value = raw.loadUnaligned(fromByteOffset: 2 * index, as: UInt16.self)
            word = UInt64(little ? UInt16(littleEndian: value) : UInt16(bigEndian: value))
        default:
            let value = raw.loadUnaligned(fromByteOffset: 4 * index, as: UInt32.self)
            word = UInt64(little ? UInt32(littleEndian: value) : UInt32(bigEndian: value))
        }
        let stored = (word >> shift) & mask
        return Int64(bitPattern: (stored ^ signBit) &- signBit)
    }
}
