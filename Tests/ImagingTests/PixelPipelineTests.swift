import DICOM
import Foundation
@testable import Imaging
import Testing

/// Testing has a Tag of its own; these tests mean the DICOM one.
typealias Tag = DICOM.Tag

/// What the corpus does not hold: VOI LUT functions other than LINEAR, segmented palettes,
/// float pixel data, 16-bit output. Expected values computed by hand from PS3.3.
@Suite struct PixelPipelineTests {
    static func us(_ tag: Tag, _ value: UInt16) -> DataElement {
        DataElement(tag: tag, vr: .US, value: .bytes(Data([UInt8(value & 0xFF), UInt8(value >> 8)])))
    }

    static func text(_ tag: Tag, _ vr: VR, _ value: String) -> DataElement {
        var bytes = Array(value.utf8)
        if bytes.count % 2 == 1 { bytes.append(0x20) }
        return DataElement(tag: tag, vr: vr, value: .bytes(Data(bytes)))
    }

    /// One row of 16-bit unsigned stored values, 16 bits stored, MONOCHROME2.
    static func row(_ values: [UInt16], extra: [DataElement] = []) -> DataSet {
        var elements = [us(.rows, 1), us(.columns, UInt16(values.count)), us(.samplesPerPixel, 1), us(.bitsAllocated, 16),
                        us(Tag(0x0028, 0x0101), 16), us(Tag(0x0028, 0x0102), 15), us(.pixelRepresentation, 0),
                        text(Tag(0x0028, 0x0004), .CS, "MONOCHROME2"),
                        DataElement(tag: .pixelData, vr: .OW, value: .bytes(Data(values.flatMap { [UInt8($0 & 0xFF), UInt8($0 >> 8)] })))]
        elements += extra
        return DataSet(elements: elements)
    }

    static func render(_ dataSet: DataSet, bitDepth: Int = 8) throws -> [Int] {
        let raster = try ImageRenderer(dataSet: dataSet, transferSyntax: .explicitVRLittleEndian).render(frame: 0, bitDepth: bitDepth)
        if bitDepth == 16 { return raster.pixels.withUnsafeBytes { $0.bindMemory(to: UInt16.self).map(Int.init) } }
        return raster.pixels.map(Int.init)
    }

    @Test func linearExactAndSigmoidFollowPS3_3() throws {
        let window = [Self.text(Tag(0x0028, 0x1050), .DS, "100"), Self.text(Tag(0x0028, 0x1051), .DS, "50")]
        // LINEAR_EXACT (C.11.2.1.3.2): x <= c - w/2 -> 0, x > c + w/2 -> max, else ((x - c)/w + 0.5) * max.
        let exact = Self.row([75, 76, 100, 110, 125, 126], extra: window + [Self.text(Tag(0x0028, 0x1056), .CS, "LINEAR_EXACT")])
        #expect(try Self.render(exact) == [0, 5, 128, 179, 255, 255])
        // SIGMOID (C.11.2.1.3.1): max / (1 + exp(-4 (x - c) / w)).
        let sigmoid = Self.row([0, 100, 125, 200], extra: window + [Self.text(Tag(0x0028, 0x1056), .CS, "SIGMOID")])
        let expected = [0.0, 100, 125, 200].map { Int((255 / (1 + exp(-4 * ($0 - 100) / 50))).rounded()) }
        #expect(try Self.render(sigmoid) == expected)
        #expect(throws: RenderError.unsupported("VOI LUT Function CURVED")) {
            try Self.render(Self.row([1, 2], extra: window + [Self.text(Tag(0x0028, 0x1056), .CS, "CURVED")]))
        }
    }

    @Test func sixteenBitOutputKeepsLevelsThatEightBitsMerge() throws {
        let values: [UInt16] = [1000, 1001, 1002, 2000]
        #expect(try Self.render(Self.row(values)) == [0, 0, 1, 255])
        #expect(try Self.render(Self.row(values), bitDepth: 16) == [0, 66, 131, 65535])
    }

    /// The oracle compares 8-bit renders; a 16-bit colour render must be the same picture
    /// at 257 times the scale (to within rounding), for every colour kind the corpus holds.
    @Test(arguments: ["pydicom-data/OBXXXX1A.dcm", "pydicom-data/SC_rgb.dcm", "pydicom-data/SC_rgb_16bit.dcm",
                      "pydicom-data/SC_rgb_32bit.dcm", "pydicom-data/SC_ybr_full_uncompressed.dcm",
                      "pydicom-data/gdcm-US-ALOKA-16.dcm", "pydicom/test_files/SC_ybr_full_422_uncompressed.dcm"])
    func colourRendersAtSixteenBitsAreTheEightBitPictureAtFullScale(file: String) throws {
        let path = PixelConformanceTests.corpus.appendingPathComponent("files/\(file)").path
        let dicom = try DICOMFile.read(path: path)
        let renderer = try ImageRenderer(dataSet: dicom.dataSet, transferSyntax: dicom.transferSyntax)
        let narrow = try renderer.render(frame: 0, bitDepth: 8), wide = try renderer.render(frame: 0, bitDepth: 16)
        #expect(narrow.channels == 3 && wide.channels == 3 && wide.bitDepth == 16)
        let words = wide.pixels.withUnsafeBytes { Array($0.bindMemory(to: UInt16.self)) }
        #expect(words.count == narrow.pixels.count)
        let worst = zip(words, narrow.pixels).map { abs(Int((Double($0) / 257).rounded()) - Int($1)) }.max() ?? 0
        #expect(worst <= 1, "\(file): 16-bit and 8-bit renders differ by \(worst) levels")
        #expect(Set(narrow.pixels).count > 1, "\(file): a flat render")
    }

    @Test func segmentedPaletteTablesExpandDiscreteLinearAndIndirectSegments() throws {
        // Discrete [0, 10], linear to 40 over 3, then an indirect copy of the first segment (at word offset 0).
        let data = [0, 2, 0, 10, 1, 3, 40, 2, 1, 0, 0]
        #expect(try SegmentedLookupTable.expand(data, eightBit: false) == [0, 10, 20, 30, 40, 0, 10])
        #expect(throws: RenderError.self) { try SegmentedLookupTable.expand([1, 3, 40], eightBit: false) }
        #expect(throws: RenderError.self) { try SegmentedLookupTable.expand([7, 1, 0], eightBit: false) }
    }

    @Test func floatPixelDataIsStretchedOverItsRange() throws {
        let values: [Float] = [-1.5, 0, 0.75, 1.5]
        let dataSet = DataSet(elements: [
            Self.us(.rows, 2), Self.us(.columns, 2), Self.us(.samplesPerPixel, 1), Self.us(.bitsAllocated, 32),
            Self.text(Tag(0x0028, 0x0004), .CS, "MONOCHROME2"),
            DataElement(tag: Tag(0x7FE0, 0x0008), vr: .OF, value: .bytes(values.withUnsafeBytes { Data($0) })),
        ])
        let decoder = try PixelDecoder(dataSet: dataSet, transferSyntax: .explicitVRLittleEndian)
        #expect(try decoder.values(ofFrame: 0) == .floats([-1.5, 0, 0.75, 1.5]))
        #expect(try Self.render(dataSet) == [0, 128, 191, 255])
    }

    @Test func bitsOutsideBitsStoredAreClearedFromDeidentifiedCopies() throws {
        var dataSet = Self.row([0xF064, 0x0FFF, 0x1000])
        dataSet.set(Self.us(Tag(0x0028, 0x0101), 12))
        dataSet.set(Self.us(Tag(0x0028, 0x0102), 11))
        let cleared = UnusedBits.cleared(dataSet)
        let words = try #require(cleared[.pixelData]?.bytes).withUnsafeBytes { Array($0.bindMemory(to: UInt16.self)) }
        #expect(words == [0x0064, 0x0FFF, 0x0000])
        // 16 bits stored: nothing to clear, the dataset is unchanged.
        #expect(UnusedBits.cleared(Self.row([0xF064]))[.pixelData]?.bytes == Self.row([0xF064])[.pixelData]?.bytes)
    }

    /// Found by review: attributes a crafted file can give, answered with an error.
    @Test func craftedAttributesAreRefusedNotObeyed() throws {
        var huge = Self.row([1, 2])
        huge.set(DataElement(tag: .rows, vr: .UL, value: .bytes(Data([0xFF, 0xFF, 0xFF, 0xFF]))))
        #expect(throws: RenderError.self) { try Self.render(huge) }
        // A segmented palette whose few bytes ask for more entries than its descriptor allows.
        #expect(throws: RenderError.self) {
            try SegmentedLookupTable.expand([0, 1, 5] + Array(repeating: [1, 65_535, 9], count: 4).flatMap { $0 }, eightBit: false, limit: 256)
        }
        // An SS LUT descriptor of 40,000 entries is 40,000 entries, not a negative count.
        let lut = DataSet(elements: [DataElement(tag: Tag(0x0028, 0x3002), vr: .SS, value: .bytes(Data([0x40, 0x9C, 0, 0, 16, 0]))),
                                     DataElement(tag: Tag(0x0028, 0x3006), vr: .OW, value: .bytes(Data(count: 80_000)))])
        let table = try GrayscaleTransform.lookupTable(lut, byteOrder: .littleEndian, what: "VOI LUT", signedInput: false)
        #expect(table.entries.count == 40_000 && table.firstMapped == 0)
    }

    @Test func aLongThinStripKeepsASharpness() {
        // 4096 x 40 of vertical stripes: reduced, it still has rows above and below.
        let strip = Raster(width: 4096, height: 40, channels: 1, bitDepth: 8,
                           pixels: (0..<40).flatMap { _ in (0..<4096).map { UInt8(($0 / 64) % 2 * 200) } })
        #expect(QualityFeatures.measure(strip).sharpness > 0.01)
    }
}
