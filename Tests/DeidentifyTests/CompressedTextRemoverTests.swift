@testable import Deidentify
import DICOM
import Foundation
import Testing
import TestSupport

/// Text segments in compressed frames, on real corpus files.
@Suite struct CompressedTextRemoverTests {
    static let corpus = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("corpus/files")

    static func segment(_ marker: UInt8, _ text: String) -> [UInt8] {
        let payload = Array(text.utf8)
        return [0xFF, marker, UInt8((payload.count + 2) >> 8), UInt8((payload.count + 2) & 0xFF)] + payload
    }

    @Test func jpegCommentsAndExifAreRemovedAndTheRestOfTheFrameIsUnchanged() throws {
        let file = try DICOMFile.read(path: Self.corpus.appendingPathComponent("pydicom/test_files/SC_rgb_jpeg_dcmtk.dcm").path)
        let original = try #require(try file.dataSet.encapsulatedFrames()?.first)
        // After SOI: a comment and an EXIF block naming the patient, as a camera writes them.
        let planted = Data([0xFF, 0xD8] + Self.segment(0xFE, "Patient Jane Doe 1970-01-01")
                           + Self.segment(0xE1, "Exif\0\0Doe^Jane") + Array(original.dropFirst(2)))
        var dataSet = file.dataSet
        dataSet.set(DataElement(tag: .pixelData, vr: .OB, value: .encapsulated(EncapsulatedPixelData(frames: [planted]))))

        let outcome = CompressedTextRemover.cleaned(dataSet, transferSyntax: file.transferSyntax.asLabelled)
        #expect(outcome.segmentsRemoved == 2)
        let cleaned = try #require(try outcome.dataSet.encapsulatedFrames()?.first)
        // The source's own APP0 (JFIF, no thumbnail) stays; the frame is the original again,
        // followed only by the zero bytes that pad fragments to an even length.
        #expect(cleaned.prefix(original.count) == original && cleaned.dropFirst(original.count).allSatisfy { $0 == 0 })
        // Written and read back, the frame survives the new encapsulation.
        let written = try DICOMWriter.part10(outcome.dataSet, transferSyntax: file.transferSyntax.asLabelled)
        let reread = try #require(try DICOMFile(data: written).dataSet.encapsulatedFrames())
        #expect(reread == [cleaned])
        #expect(written.range(of: Data("Jane".utf8)) == nil)
    }

    @Test func jpeg2000CommentsAreRemovedFromTheMainHeader() throws {
        let file = try DICOMFile.read(path: Self.corpus.appendingPathComponent("pydicom/test_files/JPEG2000.dcm").path)
        let frame = try #require(try file.dataSet.encapsulatedFrames()?.first)
        let comment = Self.segment(0x64, "\0\u{1}Kakadu-2.2")
        #expect(frame.range(of: Data(comment)) != nil, "the corpus file carries an encoder comment")
        let outcome = CompressedTextRemover.cleaned(file.dataSet, transferSyntax: file.transferSyntax)
        #expect(outcome.segmentsRemoved == 1)
        let cleaned = try #require(try outcome.dataSet.encapsulatedFrames()?.first)
        var expected = frame
        expected.removeSubrange(try #require(frame.range(of: Data(comment))))
        #expect(cleaned.prefix(expected.count) == expected)
    }

    /// A comment planted in every tile-part header of a real codestream, each SOT's Psot
    /// grown to match, as an encoder that writes them would.
    static func plantingTileComments(_ codestream: [UInt8], _ text: String) -> (planted: [UInt8], tileParts: Int) {
        let comment = segment(0x64, "\0\u{1}" + text)
        var position = 2
        while !(codestream[position] == 0xFF && codestream[position + 1] == 0x90) {
            position += 2 + (Int(codestream[position + 2]) << 8 | Int(codestream[position + 3]))
        }
        var planted = Array(codestream[..<position]), tileParts = 0
        while codestream[position] == 0xFF && codestream[position + 1] == 0x90 {
            let psot = codestream[(position + 6)..<(position + 10)].reduce(0) { $0 << 8 | Int($1) }
            let grown = psot == 0 ? 0 : psot + comment.count
            planted += codestream[position..<(position + 6)]
            planted += [UInt8(grown >> 24 & 0xFF), UInt8(grown >> 16 & 0xFF), UInt8(grown >> 8 & 0xFF), UInt8(grown & 0xFF)]
            planted += codestream[(position + 10)..<(position + 12)] + comment
            let end = psot == 0 ? codestream.count - 2 : position + psot
            planted += codestream[(position + 12)..<end]
            position = end
            tileParts += 1
        }
        return (planted + codestream[position...], tileParts)
    }

    @Test(arguments: ["pydicom/test_files/JPEG2000.dcm", "pydicom/test_files/GDCMJ2K_TextGBR.dcm", "pydicom-data/US1_J2KR.dcm"])
    func jpeg2000CommentsAreRemovedFromEveryTilePartHeaderAndPsotFollows(file name: String) throws {
        let file = try DICOMFile.read(path: Self.corpus.appendingPathComponent(name).path)
        let frame = try #require(try file.dataSet.encapsulatedFrames()?.first)
        // The source's own main-header comments out first: that frame is what must come back.
        let baseline = try #require(CompressedTextRemover.jpeg2000(frame)).0
        let (planted, tileParts) = Self.plantingTileComments([UInt8](baseline), "Patient Jane Doe 1970-01-01")
        #expect(tileParts >= 1)
        let (cleaned, removed, complete) = try #require(CompressedTextRemover.jpeg2000(Data(planted)))
        #expect(removed == tileParts && complete)
        #expect(cleaned == baseline, "\(name): the codestream differs from the one without the planted comments")
        #expect(cleaned.range(of: Data("Jane".utf8)) == nil)

        // A TLM segment repeats the tile-part lengths the removal changes: it goes too.
        let sot = try #require(Data(planted).range(of: Data([0xFF, 0x90, 0x00, 0x0A]))).lowerBound
        let tlm: [UInt8] = [0xFF, 0x55, 0x00, 0x08, 0x00, 0x50, 0x00, 0x00, 0x00, 0x10]  // Ztlm 0, ST 1, SP 1, one entry
        let withTLM = Array(planted[..<sot]) + tlm + Array(planted[sot...])
        let withoutTLM = try #require(CompressedTextRemover.jpeg2000(Data(withTLM)))
        #expect(withoutTLM.bytes == baseline && withoutTLM.complete)

        // Padding after EOC longer than a fragment's byte: the walk still ends at EOC.
        let padded = try #require(CompressedTextRemover.jpeg2000(Data(planted + Array(repeating: 0, count: 12))))
        #expect(padded.complete && padded.removed == tileParts && padded.bytes.range(of: Data("Jane".utf8)) == nil)

        // A tile-part that cannot be followed (Psot past the end) leaves the frame unchecked,
        // but a comment of the main header still goes.
        var broken = planted
        broken[sot + 6] = 0x7F
        let mainComment = Self.segment(0x64, "\0\u{1}Doe^John")
        broken.insert(contentsOf: mainComment, at: sot)
        let partial = try #require(CompressedTextRemover.jpeg2000(Data(broken)))
        #expect(!partial.complete && partial.removed == 1)
        #expect(partial.bytes.range(of: Data("John".utf8)) == nil)
        // Corrupted headers and lengths: a frame comes back walked or unchecked, never a
        // crash, and never longer than it went in.
        var random = SeededGenerator(seed: name)
        let headerEnd = min(planted.count, 600)
        for _ in 0..<500 {
            var mutated = planted
            for _ in 0..<Int.random(in: 1...4, using: &random) {
                mutated[Int.random(in: 0..<headerEnd, using: &random)] = UInt8.random(in: 0...255, using: &random)
            }
            if let result = CompressedTextRemover.jpeg2000(Data(mutated)) { #expect(result.bytes.count <= mutated.count) }
        }
    }

    /// A JP2 box whose 8-byte length is near Int.max is refused, not added to an offset.
    @Test func aJP2BoxLengthNearIntMaxIsRefused() {
        let signature: [UInt8] = [0, 0, 0, 0x0C, 0x6A, 0x50, 0x20, 0x20, 0x0D, 0x0A, 0x87, 0x0A]
        let huge: [UInt8] = [0, 0, 0, 1] + Array("jp2c".utf8) + [0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF] + [0xFF, 0x4F]
        #expect(CompressedTextRemover.jp2Codestream(Data(signature + huge)) == nil)
        let negative: [UInt8] = [0, 0, 0, 1] + Array("jp2c".utf8) + [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xF0] + [0xFF, 0x4F]
        #expect(CompressedTextRemover.jp2Codestream(Data(signature + negative)) == nil)
    }

    @Test func framesWithoutTextAndOtherCodecsAreLeftAlone() throws {
        let file = try DICOMFile.read(path: Self.corpus.appendingPathComponent("pydicom/test_files/SC_rgb_jpeg_dcmtk.dcm").path)
        #expect(CompressedTextRemover.cleaned(file.dataSet, transferSyntax: file.transferSyntax.asLabelled).segmentsRemoved == 0)
        let rle = try DICOMFile.read(path: Self.corpus.appendingPathComponent("pydicom/test_files/MR_small_RLE.dcm").path)
        #expect(CompressedTextRemover.cleaned(rle.dataSet, transferSyntax: rle.transferSyntax).segmentsRemoved == 0)
    }

    /// Every JPEG, JPEG-LS and JPEG 2000 file of the corpus: the walk follows every frame
    /// (nothing left unchecked), and what goes is only whole segments.
    @Test func everyCompressedCorpusFrameIsWalkedAndOnlyTextSegmentsGo() throws {
        let codecs: Set<TransferSyntax.Codec> = [.jpegBaseline, .jpegExtended, .jpegLossless, .jpegLS, .jpeg2000, .htj2k]
        var files = 0, frames = 0, removed = 0, removedSegments = 0, removedFromJPEG = 0, unchecked: [String] = []
        let enumerator = FileManager.default.enumerator(at: Self.corpus, includingPropertiesForKeys: nil)
        while let url = enumerator?.nextObject() as? URL {
            guard let file = try? DICOMFile.read(path: url.path), case .encapsulated(let codec) = file.transferSyntax.pixelEncoding,
                  codecs.contains(codec), let originals = try? file.dataSet.encapsulatedFrames() else { continue }
            let outcome = CompressedTextRemover.cleaned(file.dataSet, transferSyntax: file.transferSyntax.asLabelled)
            files += 1
            frames += originals.count
            removed += outcome.segmentsRemoved
            if codec != .jpeg2000 && codec != .htj2k { removedFromJPEG += outcome.segmentsRemoved }
            if outcome.framesUnchecked > 0 { unchecked.append(url.lastPathComponent) }
            let cleaned = try #require(try outcome.dataSet.encapsulatedFrames())
            #expect(cleaned.count == originals.count)
            for (before, after) in zip(originals, cleaned) {
                // Shorter by whole segments, never longer (but for even-length padding).
                #expect(after.count <= before.count + 1)
                #expect(before.suffix(16) == after.suffix(16) || after.last == 0, "\(url.lastPathComponent): the coded data's end changed")
                guard codec != .jpeg2000 && codec != .htj2k else { continue }
                // JPEG and JPEG-LS: the segments after are those before without the text
                // ones, byte for byte and in order (entropy-coded data included).
                let jpegLS = codec == .jpegLS
                func walk(_ frame: Data) -> [(marker: UInt8, bytes: [UInt8], payload: ArraySlice<UInt8>)] {
                    let bytes = [UInt8](frame)
                    return bytes.withUnsafeBytes { JPEGMarkerWalker.segments($0, jpegLS: jpegLS).segments }.map {
                        ($0.marker, Array(bytes[$0.range]) + Array(bytes[$0.entropyCoded]), bytes[$0.payload])
                    }
                }
                let segmentsBefore = walk(before), segmentsAfter = walk(after)
                let kept = segmentsBefore.filter { !CompressedTextRemover.isTextSegment(marker: $0.marker, payload: $0.payload) }
                #expect(kept.map(\.marker) == segmentsAfter.map(\.marker), "\(url.lastPathComponent)")
                #expect(zip(kept, segmentsAfter).allSatisfy { $0.bytes == $1.bytes }, "\(url.lastPathComponent): a kept segment changed")
                removedSegments += segmentsBefore.count - kept.count
            }
        }
        print("compressed text: \(files) files, \(frames) frames walked, \(removed) text segments removed, unchecked: \(unchecked)")
        // Every removal the remover counted in a JPEG-family frame is one the segment lists show.
        #expect(removedSegments == removedFromJPEG)
        #expect(files >= 40)
        // The one frame scripts/make-compressed-corpus garbles on purpose cannot be walked.
        #expect(unchecked == ["emri_framing_corrupt_frame4.dcm"], "\(unchecked)")
    }
}
