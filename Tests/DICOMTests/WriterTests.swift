import DICOM
import Foundation
import Testing

@Suite struct WriterTests {
    /// Read, write as Explicit VR Little Endian (or the source's encapsulated syntax), read
    /// again: the dataset's DICOM JSON, pixel data included, must not change.
    @Test func everyReadableCorpusFileSurvivesAWriteReadRoundTrip() throws {
        let encoder = DICOMJSONEncoder(includePixelData: true)
        var roundTrips = 0
        for entry in try Corpus.oracle() {
            guard let original = try? DICOMFile.read(path: entry.url.path) else { continue }
            guard original.dataSet[.sopClassUID] != nil || original.fileMeta[.mediaStorageSOPClassUID] != nil,
                  original.dataSet[.sopInstanceUID] != nil || original.fileMeta[.mediaStorageSOPInstanceUID] != nil else {
                // DICOMDIRs and fragments without SOP identity cannot be Part 10 image files.
                #expect(throws: DICOMWriter.WriteError.self) {
                    try DICOMWriter.part10(original.dataSet, transferSyntax: Self.targetSyntax(of: original),
                                           sourceFileMeta: original.fileMeta)
                }
                continue
            }
            let written = try DICOMWriter.part10(original.dataSet, transferSyntax: Self.targetSyntax(of: original),
                                                 sourceFileMeta: original.fileMeta)
            let reread = try DICOMFile(data: written)
            #expect(reread.transferSyntax.isExplicitVR && reread.transferSyntax.byteOrder == .littleEndian, "\(entry.path)")
            #expect(reread.preamble?.count == 128)
            let differing = Self.differingTags(reread.dataSet, Self.paddedToEvenLength(original.dataSet), encoder: encoder)
            #expect(differing.isEmpty, "\(entry.path): \(differing) changed in the round trip")
            #expect(reread.dataSet.elements.allSatisfy { !$0.tag.isGroupLength })
            roundTrips += 1
        }
        print("writer: \(roundTrips) corpus files written and read back unchanged")
        #expect(roundTrips >= 200)
    }

    static func targetSyntax(of file: DICOMFile) -> TransferSyntax {
        file.transferSyntax.isEncapsulated ? file.transferSyntax.asLabelled : .explicitVRLittleEndian
    }

    /// The dataset with odd-length values padded as PS3.5 7.1.1 requires a writer to do:
    /// a binary value gains a NUL, which its JSON shows (text padding is stripped on reading).
    static func paddedToEvenLength(_ dataSet: DataSet) -> DataSet {
        var copy = dataSet
        for element in dataSet.elements {
            var padded = element
            switch element.value {
            case .bytes(let bytes) where bytes.count % 2 == 1:
                padded.value = .bytes(bytes + [element.vr.paddingByte])
            case .sequence(let items):
                padded.value = .sequence(items.map(paddedToEvenLength))
            default:
                continue
            }
            copy.set(padded)
        }
        return copy
    }

    /// The tags whose DICOM JSON differs between two datasets (not the JSON itself: a
    /// failure message with megabytes of base64 helps no one).
    static func differingTags(_ a: DataSet, _ b: DataSet, encoder: DICOMJSONEncoder) -> [String] {
        // Group lengths are dropped on writing: retired (PS3.5 7.2), and wrong after any edit.
        let tags = Set(a.elements.map(\.tag)).union(b.elements.map(\.tag)).filter { !$0.isGroupLength }.sorted()
        return tags.compactMap { tag in
            let one = a[tag].map { encoder.encode(DataSet(elements: [$0], byteOrder: a.byteOrder, characterSet: a.characterSet)) }
            let other = b[tag].map { encoder.encode(DataSet(elements: [$0], byteOrder: b.byteOrder, characterSet: b.characterSet)) }
            return one == other ? nil : tag.description
        }
    }

    @Test func fileMetaInformationIsRebuiltWithGroupLengthAndIdentity() throws {
        var stream = StreamBuilder.part10(transferSyntax: "1.2.840.10008.1.2")
        stream.explicitVR = false
        stream.text(0x0008, 0x0016, "", "1.2.840.10008.5.1.4.1.1.7\0")
        stream.text(0x0008, 0x0018, "", "1.2.3.4 ")
        stream.text(0x0010, 0x0010, "", "Odd")
        let original = try DICOMFile(data: stream.data)
        let written = try DICOMWriter.part10(original.dataSet)
        let reread = try DICOMFile(data: written)
        #expect(reread.fileMeta.string(.transferSyntaxUID) == "1.2.840.10008.1.2.1")
        #expect(reread.fileMeta.string(.mediaStorageSOPClassUID) == "1.2.840.10008.5.1.4.1.1.7")
        #expect(reread.fileMeta.string(.mediaStorageSOPInstanceUID) == "1.2.3.4")
        #expect(reread.fileMeta.string(Tag(0x0002, 0x0012)) == DICOMWriter.implementationClassUID)
        let groupLength = try #require(reread.fileMeta.integer(.fileMetaInformationGroupLength))
        // The group length counts the meta elements after it: the dataset starts right there.
        #expect(written[132 + 12 + groupLength] == 0x08 && written[132 + 12 + groupLength + 1] == 0x00)
        // The odd-length PN was padded with a space, which reading strips again.
        #expect(reread.dataSet[Tag(0x0010, 0x0010)]?.bytes == Data("Odd ".utf8))
        #expect(reread.dataSet.string(Tag(0x0010, 0x0010)) == "Odd")
    }

    @Test func encapsulatedPixelDataUnderANativeSyntaxIsRefused() throws {
        let path = Corpus.files.appendingPathComponent("pydicom/test_files/MR_small_RLE.dcm").path
        let file = try DICOMFile.read(path: path)
        #expect(throws: DICOMWriter.WriteError.encapsulatedPixelDataUnderNativeSyntax) {
            try DICOMWriter.part10(file.dataSet, transferSyntax: .explicitVRLittleEndian)
        }
        #expect(throws: DICOMWriter.WriteError.unsupportedTransferSyntax("1.2.840.10008.1.2.2")) {
            try DICOMWriter.part10(file.dataSet, transferSyntax: .explicitVRBigEndian)
        }
    }
}
