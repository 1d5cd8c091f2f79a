import DICOM
import Foundation
import Imaging
import Testing
import TestSupport


@Suite struct MonochromeRendererTests {
    static let corpus = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("corpus/files")

    private func render(_ relative: String) throws -> Raster {
        let file = try DICOMFile.read(path: Self.corpus.appendingPathComponent(relative).path)
        return try ImageRenderer(dataSet: file.dataSet, transferSyntax: file.transferSyntax).render(frame: 0)
    }

    /// A dataset with one 16-bit frame of the given stored values.
    private func dataSet(_ values: [UInt16], rows: Int, columns: Int, extra: [DataElement] = []) -> DataSet {
        func us(_ tag: Tag, _ value: UInt16) -> DataElement {
            DataElement(tag: tag, vr: .US, value: .bytes(Data([UInt8(value & 0xFF), UInt8(value >> 8)])))
        }
        func text(_ tag: Tag, _ vr: VR, _ value: String) -> DataElement {
            DataElement(tag: tag, vr: vr, value: .bytes(Data(value.utf8)))
        }
        let pixels: [UInt8] = values.flatMap { [UInt8($0 & 0xFF), UInt8($0 >> 8)] }
        var elements: [DataElement] = [us(.rows, UInt16(rows)), us(.columns, UInt16(columns))]
        elements.append(us(.samplesPerPixel, 1))
        elements.append(us(.bitsAllocated, 16))
        elements.append(us(Tag(0x0028, 0x0101), 12))
        elements.append(us(Tag(0x0028, 0x0102), 11))
        elements.append(us(.pixelRepresentation, 0))
        elements.append(text(Tag(0x0028, 0x0004), .CS, "MONOCHROME2 "))
        elements.append(DataElement(tag: .pixelData, vr: .OW, value: .bytes(Data(pixels))))
        elements += extra
        return DataSet(elements: elements)
    }

    @Test func windowCenterWidthFollowsTheLinearFunctionOfPS3_3() throws {
        let window = [DataElement(tag: Tag(0x0028, 0x1050), vr: .DS, value: .bytes(Data("100 ".utf8))),
                      DataElement(tag: Tag(0x0028, 0x1051), vr: .DS, value: .bytes(Data("51".utf8)))]
        // Bits above Bits Stored (the 0xF000 nibble) are masked off: 0xF064 is stored 100.
        let raster = try ImageRenderer(dataSet: dataSet([0, 74, 75, 0xF064, 125, 126, 4095, 99], rows: 2, columns: 4, extra: window),
                                       transferSyntax: .explicitVRLittleEndian).render(frame: 0)
        // c - 0.5 - (w-1)/2 = 74.5: 74 is black; c - 0.5 + (w-1)/2 = 124.5: 125 is white.
        #expect(raster.pixels == [0, 0, 3, 130, 255, 255, 255, 125])
    }

    @Test func withoutAWindowTheFrameIsStretchedMinToMaxAndMonochrome1Inverted() throws {
        var set = dataSet([10, 20, 30], rows: 1, columns: 3)
        #expect(try ImageRenderer(dataSet: set, transferSyntax: .explicitVRLittleEndian).render(frame: 0).pixels == [0, 128, 255])
        set.set(DataElement(tag: Tag(0x0028, 0x0004), vr: .CS, value: .bytes(Data("MONOCHROME1 ".utf8))))
        #expect(try ImageRenderer(dataSet: set, transferSyntax: .explicitVRLittleEndian).render(frame: 0).pixels == [255, 127, 0])
    }

    /// The table pass (16-bit frames: range, table, lookup, with their fast paths) against
    /// the per-pixel path of 32-bit frames, on the same stored values: every Bits Stored from
    /// 8 to 16, High Bit at the bottom or at the top of the word, signed and unsigned, both
    /// byte orders, junk in the bits outside Bits Stored, pixel counts around the four-, eight-
    /// and sixteen-pixel steps, with and without a rescale and a window, at 8 and 16 bits.
    @Test func theTablePassRendersAsThePerPixelPath() throws {
        var generator = SeededGenerator(state: 31)
        func element(_ tag: Tag, _ vr: VR, _ bytes: [UInt8]) -> DataElement { DataElement(tag: tag, vr: vr, value: .bytes(Data(bytes))) }
        func text(_ tag: Tag, _ vr: VR, _ value: String) -> DataElement { element(tag, vr, Array(value.utf8)) }
        var compared = 0
        for bitsStored in [8, 9, 12, 15, 16] {
            for highBitAtTop in [false, true] where !(highBitAtTop && bitsStored == 16) {
                for signed in [false, true] {
                    for order in [ByteOrder.littleEndian, .bigEndian] {
                        for count in [1, 3, 4, 7, 8, 9, 17, 35, 260] {
                            for extra in [[], [text(Tag(0x0028, 0x1053), .DS, "2.5 "), text(Tag(0x0028, 0x1052), .DS, "-100")],
                                          [text(Tag(0x0028, 0x1050), .DS, "40"), text(Tag(0x0028, 0x1051), .DS, "300 ")]] {
                                let highBit = highBitAtTop ? 15 : bitsStored - 1
                                let shift = highBit + 1 - bitsStored
                                // Stored values, then words with random bits outside them.
                                let values = (0..<count).map { _ in UInt32(truncatingIfNeeded: generator.next()) & ((1 << UInt32(bitsStored)) - 1) }
                                let words = values.map { value -> UInt16 in
                                    let outside = ~(UInt16(truncatingIfNeeded: ((1 << UInt32(bitsStored)) - 1) << UInt32(shift)))
                                    return UInt16(truncatingIfNeeded: value << UInt32(shift)) | (UInt16(truncatingIfNeeded: generator.next()) & outside)
                                }
                                let signExtended = values.map { value -> Int32 in
                                    let sign: UInt32 = signed ? 1 << UInt32(bitsStored - 1) : 0
                                    return Int32(bitPattern: (value ^ sign) &- sign)
                                }
                                func us(_ value: UInt16) -> [UInt8] { order == .littleEndian ? [UInt8(value & 0xFF), UInt8(value >> 8)] : [UInt8(value >> 8), UInt8(value & 0xFF)] }
                                func frame(bitsAllocated: Int) -> DataSet {
                                    let pixels: [UInt8] = bitsAllocated == 16
                                        ? words.flatMap(us)
                                        : signExtended.flatMap { value -> [UInt8] in
                                            let bytes = withUnsafeBytes(of: UInt32(bitPattern: value).littleEndian, Array.init)
                                            return order == .littleEndian ? bytes : bytes.reversed()
                                        }
                                    let stored = bitsAllocated == 16 ? bitsStored : 32
                                    let high = bitsAllocated == 16 ? highBit : 31
                                    return DataSet(elements: [
                                        element(.rows, .US, us(1)), element(.columns, .US, us(UInt16(count))), element(.samplesPerPixel, .US, us(1)),
                                        element(.bitsAllocated, .US, us(UInt16(bitsAllocated))), element(Tag(0x0028, 0x0101), .US, us(UInt16(stored))),
                                        element(Tag(0x0028, 0x0102), .US, us(UInt16(high))), element(.pixelRepresentation, .US, us(signed ? 1 : 0)),
                                        text(Tag(0x0028, 0x0004), .CS, "MONOCHROME2 "),
                                        element(.pixelData, bitsAllocated == 16 ? .OW : .OB, pixels),
                                    ] + extra, byteOrder: order)
                                }
                                let syntax: TransferSyntax = order == .littleEndian ? .explicitVRLittleEndian : .explicitVRBigEndian
                                for depth in [8, 16] {
                                    let table = try ImageRenderer(dataSet: frame(bitsAllocated: 16), transferSyntax: syntax).render(frame: 0, bitDepth: depth)
                                    let perPixel = try ImageRenderer(dataSet: frame(bitsAllocated: 32), transferSyntax: syntax).render(frame: 0, bitDepth: depth)
                                    #expect(table.pixels == perPixel.pixels, "stored \(bitsStored) high \(highBit) signed \(signed) \(order) \(count) px, \(extra.count) extra, \(depth)-bit")
                                    compared += 1
                                }
                            }
                        }
                    }
                }
            }
        }
        #expect(compared == 9 * 2 * 2 * 9 * 3 * 2)
    }

    @Test func signedStoredValuesAreSignExtendedBeforeTheRescale() throws {
        var set = dataSet([0x0FFF, 0x0000, 0x07FF], rows: 1, columns: 3)   // 12-bit: -1, 0, 2047
        set.set(DataElement(tag: .pixelRepresentation, vr: .US, value: .bytes(Data([1, 0]))))
        set.set(DataElement(tag: Tag(0x0028, 0x1053), vr: .DS, value: .bytes(Data("2 ".utf8))))
        set.set(DataElement(tag: Tag(0x0028, 0x1052), vr: .DS, value: .bytes(Data("-1".utf8))))
        // Values -3, -1, 4093: min-max stretch.
        #expect(try ImageRenderer(dataSet: set, transferSyntax: .explicitVRLittleEndian).render(frame: 0).pixels == [0, 0, 255])
    }

    @Test func corpusCTIsRenderedWithItsWindowAndVideoIsRefusedByName() throws {
        let ct = try render("pydicom/test_files/CT_small.dcm")
        #expect(ct.width == 128 && ct.height == 128 && ct.pixels.count == 128 * 128)
        #expect(Set(ct.pixels).count > 50)
        let jpeg = try DICOMFile.read(path: Self.corpus.appendingPathComponent("pydicom/test_files/SC_rgb_jpeg_dcmtk.dcm").path)
        #expect(try ImageRenderer(dataSet: jpeg.dataSet, transferSyntax: jpeg.transferSyntax).render(frame: 0).channels == 3)
        let h264 = try #require(TransferSyntax.lookup("1.2.840.10008.1.2.4.102"))
        #expect(throws: RenderError.unsupportedTransferSyntax("MPEG-4 AVC/H.264 High Profile / Level 4.1")) {
            try ImageRenderer(dataSet: jpeg.dataSet, transferSyntax: h264)
        }
    }
}
