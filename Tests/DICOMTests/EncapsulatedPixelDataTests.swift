import Crypto
import DICOM
import Foundation
import Testing

@Suite struct EncapsulatedPixelDataTests {
    @Test func framesOfEveryCompressedCorpusFileMatchPydicom() throws {
        var files = 0
        var frames = 0
        for entry in try Corpus.oracle() {
            guard let expected = entry.frameHashes else { continue }
            let file = try DICOMFile.read(path: entry.url.path)
            let ours = try #require(try file.dataSet.encapsulatedFrames(), "\(entry.path) has no encapsulated Pixel Data")
            #expect(ours.map { SHA256.hash(data: $0).hexString } == expected, "\(entry.path)")
            files += 1
            frames += ours.count
        }
        print("encapsulated pixel data: \(files) files, \(frames) frames identical to pydicom's generate_frames")
        #expect(files == 142)
        #expect(frames == 497)
    }

    /// Builds Pixel Data with an empty Basic Offset Table and the given fragments.
    private func encapsulated(_ fragments: [[UInt8]], offsetTable: [UInt32] = [], extended: [UInt64]? = nil,
                              frames: Int) throws -> DICOMFile {
        var stream = StreamBuilder.part10(transferSyntax: "1.2.840.10008.1.2.4.50")
        stream.text(0x0028, 0x0008, "IS", "\(frames) ")
        if let extended {
            stream.element(0x7FE0, 0x0001, "OV", extended.flatMap { value in (0..<8).map { UInt8((value >> (8 * $0)) & 0xFF) } })
        }
        stream.header(0x7FE0, 0x0010, "OB", length: 0xFFFF_FFFF)
        stream.element(0xFFFE, 0xE000, "", offsetTable.flatMap(le32))
        for fragment in fragments { stream.element(0xFFFE, 0xE000, "", fragment) }
        stream.sequenceDelimiter()
        return try DICOMFile(data: stream.data)
    }

    @Test func basicOffsetTableGroupsFragmentsIntoFrames() throws {
        // Frame 1 = fragments 1+2 (8 + 4 bytes + headers = 28), frame 2 = fragment 3.
        let file = try encapsulated([[0xFF, 0xD8, 1, 2], [3, 4], [0xFF, 0xD8, 5, 6]], offsetTable: [0, 22], frames: 2)
        let frames = try #require(try file.dataSet.encapsulatedFrames())
        #expect(frames == [Data([0xFF, 0xD8, 1, 2, 3, 4]), Data([0xFF, 0xD8, 5, 6])])
    }

    @Test func extendedOffsetTableAddressesFragmentsDirectly() throws {
        let file = try encapsulated([[0xFF, 0xD8, 1, 2], [0xFF, 0xD8, 3, 4]], extended: [0, 12], frames: 2)
        let frames = try #require(try file.dataSet.encapsulatedFrames())
        #expect(frames == [Data([0xFF, 0xD8, 1, 2]), Data([0xFF, 0xD8, 3, 4])])
    }

    @Test func withoutOffsetTableJPEGMarkersSplitFrames() throws {
        let file = try encapsulated([[0xFF, 0xD8, 1, 2], [3, 4], [0xFF, 0xD8, 5, 6]], frames: 2)
        let frames = try #require(try file.dataSet.encapsulatedFrames())
        #expect(frames == [Data([0xFF, 0xD8, 1, 2, 3, 4]), Data([0xFF, 0xD8, 5, 6])])
    }

    @Test func anOffsetTableThatDisagreesWithNumberOfFramesIsAnError() throws {
        let file = try encapsulated([[1, 2], [3, 4]], offsetTable: [0], frames: 2)
        #expect(throws: EncapsulatedPixelData.FrameError.offsetTableMismatch(entries: 1, frames: 2)) {
            try file.dataSet.encapsulatedFrames()
        }
    }
}

extension Digest {
    var hexString: String { map { String(format: "%02x", $0) }.joined() }
}
