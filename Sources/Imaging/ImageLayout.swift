import DICOM

/// How an image's pixels are laid out, from the Image Pixel module (PS3.3 C.7.6.3): what a
/// decoder needs before it touches a pixel.
public struct ImageLayout: Sendable, Equatable {
    /// What one sample is: an integer of Bits Stored bits, or IEEE floating point (Float
    /// Pixel Data, OF, and Double Float Pixel Data, OD).
    public enum SampleKind: Sendable, Equatable {
        case integer, float32, float64
    }

    public let rows: Int
    public let columns: Int
    public let samplesPerPixel: Int
    public let bitsAllocated: Int
    public let bitsStored: Int
    public let highBit: Int
    public let isSigned: Bool
    /// Planar Configuration 1: each frame holds all of its red, then green, then blue.
    public let isPlanar: Bool
    public let frames: Int
    public let photometric: String
    public let sampleKind: SampleKind
    /// The element that holds the pixels: Pixel Data, Float Pixel Data or Double Float Pixel Data.
    public let pixelTag: Tag

    public var pixelsPerFrame: Int { rows * columns }
    public var isMonochrome: Bool { photometric == "MONOCHROME1" || photometric == "MONOCHROME2" }

    static let photometricInterpretation = Tag(0x0028, 0x0004)
    static let planarConfiguration = Tag(0x0028, 0x0006)
    static let bitsStored = Tag(0x0028, 0x0101)
    static let highBit = Tag(0x0028, 0x0102)

    /// 768 Mi samples: a 16,384 x 16,384 RGB frame.
    public static let maximumSamplesPerFrame = 16_384 * 16_384 * 3

    /// YBR_RCT and YBR_ICT are JPEG 2000's: OpenJPEG undoes the transform, so they render as RGB.
    static let supportedPhotometrics: Set<String> = [
        "MONOCHROME1", "MONOCHROME2", "RGB", "YBR_FULL", "YBR_FULL_422", "PALETTE COLOR", "YBR_RCT", "YBR_ICT",
    ]

    /// Whether the dataset holds pixels in any of the three pixel data elements.
    public static func hasPixelData(_ dataSet: DataSet) -> Bool {
        dataSet[.pixelData] != nil || dataSet[.floatPixelData] != nil || dataSet[.doubleFloatPixelData] != nil
    }

    /// Reads and checks the layout; every refusal says which attributes disagree.
    public init(of dataSet: DataSet) throws(RenderError) {
        let pixelTag: Tag
        let kind: SampleKind
        if dataSet[.pixelData] != nil {
            (pixelTag, kind) = (.pixelData, .integer)
        } else if dataSet[.floatPixelData] != nil {
            (pixelTag, kind) = (.floatPixelData, .float32)
        } else if dataSet[.doubleFloatPixelData] != nil {
            (pixelTag, kind) = (.doubleFloatPixelData, .float64)
        } else {
            throw .noPixelData
        }
        // US attributes: 1...65535. The VR of an explicit-VR file is the file's, so a UL or
        // FD Rows could claim more, and the products below would overflow.
        guard let rows = dataSet.integer(.rows), let columns = dataSet.integer(.columns),
              (1...65_535).contains(rows), (1...65_535).contains(columns) else {
            throw .inconsistent("Rows and Columns must be present and between 1 and 65535")
        }
        let samples = dataSet.integer(.samplesPerPixel) ?? 1
        let photometric = dataSet.string(Self.photometricInterpretation) ?? (samples == 3 ? "RGB" : "MONOCHROME2")
        guard Self.supportedPhotometrics.contains(photometric) else {
            throw .unsupported("Photometric Interpretation \(photometric)")
        }
        let expectedSamples = ["RGB", "YBR_FULL", "YBR_FULL_422", "YBR_RCT", "YBR_ICT"].contains(photometric) ? 3 : 1
        guard samples == expectedSamples else {
            throw .inconsistent("\(photometric) with \(samples) samples per pixel")
        }
        let bitsAllocated: Int
        switch kind {
        case .integer: bitsAllocated = dataSet.integer(.bitsAllocated) ?? 0
        case .float32: bitsAllocated = 32
        case .float64: bitsAllocated = 64
        }
        guard kind != .integer || [1, 8, 16, 32].contains(bitsAllocated) else {
            throw .unsupported("Bits Allocated \(bitsAllocated)")
        }
        let bitsStored = kind == .integer ? dataSet.integer(Self.bitsStored) ?? bitsAllocated : bitsAllocated
        let highBit = kind == .integer ? dataSet.integer(Self.highBit) ?? bitsStored - 1 : bitsAllocated - 1
        guard (1...bitsAllocated).contains(bitsStored), highBit >= bitsStored - 1, highBit < bitsAllocated else {
            throw .inconsistent("Bits Stored \(bitsStored) and High Bit \(highBit) do not fit Bits Allocated \(bitsAllocated)")
        }
        guard !photometric.hasPrefix("YBR_FULL") || bitsAllocated == 8 else {
            throw .unsupported("\(photometric) with Bits Allocated \(bitsAllocated)")
        }
        guard bitsAllocated != 1 || samples == 1 else {
            throw .inconsistent("Bits Allocated 1 with \(samples) samples per pixel")
        }
        // A frame is decoded whole in memory: beyond this many samples (a 16k x 16k RGB
        // image) it is refused rather than risking the daemon's memory on one file.
        guard rows * columns * samples <= Self.maximumSamplesPerFrame else {
            throw .unsupported("a frame of \(rows)x\(columns)x\(samples) samples (the limit is \(Self.maximumSamplesPerFrame))")
        }
        guard photometric != "PALETTE COLOR" || (bitsAllocated == 8 || bitsAllocated == 16) else {
            throw .unsupported("PALETTE COLOR with Bits Allocated \(bitsAllocated)")
        }
        self.rows = rows
        self.columns = columns
        self.samplesPerPixel = samples
        self.bitsAllocated = bitsAllocated
        self.bitsStored = bitsStored
        self.highBit = highBit
        self.isSigned = kind == .integer && dataSet.integer(.pixelRepresentation) == 1
        self.isPlanar = samples > 1 && dataSet.integer(Self.planarConfiguration) == 1
        self.frames = max(dataSet.integer(.numberOfFrames) ?? 1, 1)
        self.photometric = photometric
        self.sampleKind = kind
        self.pixelTag = pixelTag
    }

    /// Bytes one native frame occupies (1-bit frames are packed and need not start on a byte).
    var nativeFrameBits: Int {
        photometric == "YBR_FULL_422" ? pixelsPerFrame * 16 : pixelsPerFrame * samplesPerPixel * bitsAllocated
    }
}
