import DICOM
import Foundation
@testable import Imaging
import Testing

/// Tables shared between images of the same rescale and window render exactly what each
/// image's own table renders, from the second image of a key on, over every stored value.
@Suite struct RenderTablesTests {
    func element(_ tag: Tag, _ vr: VR, _ bytes: [UInt8]) -> DataElement { DataElement(tag: tag, vr: vr, value: .bytes(Data(bytes))) }
    func text(_ tag: Tag, _ vr: VR, _ value: String) -> DataElement { element(tag, vr, Array(value.utf8)) }
    func us(_ value: UInt16) -> [UInt8] { [UInt8(value & 0xFF), UInt8(value >> 8)] }

    /// One frame of 16-bit words holding `bitsStored`-bit stored values (high bit at the top
    /// of the stored bits), with `extra` attributes.
    func dataSet(_ words: [UInt16], bitsStored: Int, signed: Bool, photometric: String = "MONOCHROME2 ",
                 extra: [DataElement]) -> DataSet {
        DataSet(elements: [
            element(.rows, .US, us(1)), element(.columns, .US, us(UInt16(words.count))), element(.samplesPerPixel, .US, us(1)),
            element(.bitsAllocated, .US, us(16)), element(Tag(0x0028, 0x0101), .US, us(UInt16(bitsStored))),
            element(Tag(0x0028, 0x0102), .US, us(UInt16(bitsStored - 1))), element(.pixelRepresentation, .US, us(signed ? 1 : 0)),
            text(Tag(0x0028, 0x0004), .CS, photometric), element(.pixelData, .OW, words.flatMap(us)),
        ] + extra)
    }

    @Test func theSecondImageOfAKeyBuildsItsTableAndLaterOnesUseItWithTheSamePixels() throws {
        for (bitsStored, signed) in [(12, false), (12, true), (16, false), (16, true), (8, true)] {
            for depth in [8, 16] {
                for photometric in ["MONOCHROME2 ", "MONOCHROME1 "] {
                    let tables = RenderTables()
                    let window = [text(Tag(0x0028, 0x1050), .DS, "37.5"), text(Tag(0x0028, 0x1051), .DS, "913 "),
                                  text(Tag(0x0028, 0x1053), .DS, "0.75"), text(Tag(0x0028, 0x1052), .DS, "-20 ")]
                    let mask = UInt16(truncatingIfNeeded: (1 << bitsStored) - 1)
                    // The lowest and highest stored values (an entry off at either end of the
                    // table would show), then values across the range.
                    let lowest: UInt16 = signed ? UInt16(1) << UInt16(bitsStored - 1) : 0
                    let words = [lowest, lowest &- 1 & mask] + (0..<300).map { UInt16(truncatingIfNeeded: $0 &* 40_503) & mask }
                    let set = dataSet(words, bitsStored: bitsStored, signed: signed, photometric: photometric, extra: window)
                    let renderer = try ImageRenderer(dataSet: set, transferSyntax: .explicitVRLittleEndian, tables: tables)
                    let key = try #require(RenderTables.Key(try GrayscaleTransform(dataSet: set, layout: renderer.layout),
                                                            bitsStored: bitsStored, isSigned: signed, bitDepth: depth))
                    let first = try renderer.render(frame: 0, bitDepth: depth)
                    #expect(!tables.holds(key) && tables.builds == 0)
                    let second = try renderer.render(frame: 0, bitDepth: depth)
                    #expect(tables.holds(key) && tables.builds == 1)
                    let third = try renderer.render(frame: 0, bitDepth: depth)
                    #expect(tables.builds == 1)
                    let label = "\(bitsStored) bits, signed \(signed), \(depth)-bit, \(photometric)"
                    #expect(second.pixels == first.pixels, "\(label)")
                    #expect(third.pixels == first.pixels, "\(label)")
                }
            }
        }
    }

    @Test func transformsThatDependOnTheFrameOrOnALUTHaveNoKey() throws {
        let words: [UInt16] = [1, 2, 3]
        let stretched = dataSet(words, bitsStored: 12, signed: false, extra: [])
        let layout = try ImageRenderer(dataSet: stretched, transferSyntax: .explicitVRLittleEndian).layout
        #expect(RenderTables.Key(try GrayscaleTransform(dataSet: stretched, layout: layout), bitsStored: 12, isSigned: false, bitDepth: 8) == nil)
        let lut = DataSet(elements: [element(.lutDescriptor, .US, us(4) + us(0) + us(8)), element(.lutData, .OW, us(0) + us(9) + us(99) + us(255))])
        let withLUT = dataSet(words, bitsStored: 12, signed: false,
                              extra: [DataElement(tag: GrayscaleTransform.voiLUTSequence, vr: .SQ, value: .sequence([lut]))])
        #expect(RenderTables.Key(try GrayscaleTransform(dataSet: withLUT, layout: layout), bitsStored: 12, isSigned: false, bitDepth: 8) == nil)
        // Two renders of a frame stretched to its own range build nothing.
        let tables = RenderTables()
        let renderer = try ImageRenderer(dataSet: stretched, transferSyntax: .explicitVRLittleEndian, tables: tables)
        _ = try renderer.render(frame: 0)
        #expect(try renderer.render(frame: 0).pixels == [0, 128, 255])
        #expect(tables.builds == 0)
    }
}
