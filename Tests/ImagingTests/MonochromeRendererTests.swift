import DICOM
import Foundation
import Imaging
import Testing


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
