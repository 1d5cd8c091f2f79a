import DICOM
import Foundation
import Testing
import TestSupport

@Suite struct ReaderTests {
    @Test func implicitVRTakesVRsFromTheDictionaryAndSettlesUSorSSByPixelRepresentation() throws {
        var stream = StreamBuilder.part10(transferSyntax: "1.2.840.10008.1.2")
        stream.explicitVR = false
        stream.text(0x0010, 0x0010, "PN", "Doe^Jane")
        stream.element(0x0028, 0x0103, "US", le16(1))
        stream.element(0x0028, 0x0106, "", le16(0xFFFE))   // Smallest Image Pixel Value: US or SS
        stream.element(0x0029, 0x0010, "", Array("ACME 1.0".utf8))
        stream.element(0x0029, 0x1001, "", [1, 2, 3, 4])
        let file = try DICOMFile(data: stream.data)
        #expect(file.transferSyntax == .implicitVRLittleEndian)
        #expect(file.dataSet[Tag(0x0010, 0x0010)]?.vr == .PN)
        #expect(file.dataSet[Tag(0x0028, 0x0106)]?.vr == .SS)
        #expect(file.dataSet.integer(Tag(0x0028, 0x0106)) == -2)
        #expect(file.dataSet[Tag(0x0029, 0x0010)]?.vr == .LO)
        #expect(file.dataSet[Tag(0x0029, 0x1001)]?.vr == .UN)
    }

    @Test func explicitBigEndianValuesAreReadInTheirByteOrder() throws {
        var stream = StreamBuilder.part10(transferSyntax: "1.2.840.10008.1.2.2")
        stream.byteOrder = .bigEndian
        stream.element(0x0028, 0x0010, "US", [0x02, 0x00])
        stream.element(0x0018, 0x0088, "DS", Array("2.5 ".utf8))
        stream.element(0x0020, 0x5000, "AT", [0x00, 0x10, 0x00, 0x20])
        let file = try DICOMFile(data: stream.data)
        #expect(file.dataSet.integer(.rows) == 512)
        #expect(file.dataSet.doubles(Tag(0x0018, 0x0088)) == [2.5])
        let json = DICOMJSONEncoder().encode(file.dataSet)
        #expect(json.contains(#""00205000":{"vr":"AT","Value":["00100020"]}"#))
    }

    @Test func unOfUndefinedLengthIsReadAsAnImplicitSequence() throws {
        var stream = StreamBuilder.part10(transferSyntax: "1.2.840.10008.1.2.1")
        stream.header(0x0008, 0x1140, "UN", length: 0xFFFF_FFFF)   // Referenced Image Sequence
        var implicit = StreamBuilder(explicitVR: false)
        implicit.item { item in
            item.text(0x0008, 0x1150, "", "1.2.3\0")
        }
        implicit.sequenceDelimiter()
        stream.bytes += implicit.bytes
        stream.text(0x0010, 0x0020, "LO", "ID1 ")
        let file = try DICOMFile(data: stream.data)
        let items = try #require(file.dataSet[Tag(0x0008, 0x1140)]?.items)
        #expect(file.dataSet[Tag(0x0008, 0x1140)]?.vr == .SQ)
        #expect(items.count == 1)
        #expect(items[0].string(Tag(0x0008, 0x1150)) == "1.2.3")
        #expect(items[0][Tag(0x0008, 0x1150)]?.vr == .UI)
        #expect(file.dataSet.string(Tag(0x0010, 0x0020)) == "ID1")
    }

    @Test func oddLengthsAndTrailingZeroPaddingAreTolerated() throws {
        var stream = StreamBuilder.part10(transferSyntax: "1.2.840.10008.1.2.1")
        stream.text(0x0008, 0x0060, "CS", "CT")
        stream.text(0x0010, 0x0010, "PN", "Odd")   // 3 bytes: odd length
        stream.text(0x0010, 0x0020, "LO", "X")
        stream.bytes += [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]
        let file = try DICOMFile(data: stream.data)
        #expect(file.dataSet.string(Tag(0x0010, 0x0010)) == "Odd")
        #expect(file.dataSet.string(Tag(0x0010, 0x0020)) == "X")
        #expect(file.dataSet.count == 3)
    }

    /// Zero-filled elements (tag (0000,0000), no VR, length 0) that are not the end: each
    /// is an element, not trailing padding, since a non-zero element follows. Asking "only
    /// zeros from here?" by scanning to the end at every element made this quadratic: the
    /// 1.6 MB below took about a minute in a debug build; an 11 KB deflated file of such
    /// elements took a second in release (fuzz-pixels). The bound is generous: linear
    /// parsing takes milliseconds.
    @Test func zeroFilledElementsBeforeTheEndAreParsedInLinearTime() throws {
        var stream = StreamBuilder.part10(transferSyntax: "1.2.840.10008.1.2.1")
        stream.text(0x0008, 0x0060, "CS", "CT")
        stream.bytes += [UInt8](repeating: 0, count: 8 * 200_000)
        stream.text(0x0010, 0x0020, "LO", "X")
        stream.bytes += [0, 0, 0, 0, 0, 0, 0, 0]
        let start = ContinuousClock.now
        let file = try DICOMFile(data: stream.data)
        #expect(ContinuousClock.now - start < .seconds(10))
        #expect(file.dataSet.string(Tag(0x0010, 0x0020)) == "X")
        #expect(file.dataSet[Tag(0x0000, 0x0000)] != nil)
        #expect(file.dataSet.count == 3)
    }

    @Test func aTruncatedElementNamesTheOffsetAndTheElement() throws {
        var stream = StreamBuilder.part10(transferSyntax: "1.2.840.10008.1.2.1")
        stream.text(0x0008, 0x0060, "CS", "MR")
        let elementOffset = stream.bytes.count
        stream.header(0x0010, 0x0010, "PN", length: 20)
        stream.bytes += Array("Doe^".utf8)
        #expect(throws: DICOMError.truncated(offset: elementOffset + 8, tag: Tag(0x0010, 0x0010), needed: 20, available: 4)) {
            try DICOMFile(data: stream.data)
        }
        let error = DICOMError.truncated(offset: elementOffset + 8, tag: Tag(0x0010, 0x0010), needed: 20, available: 4)
        #expect(error.description == "truncated at offset \(elementOffset + 8) while reading element (0010,0010) PatientName: needed 20 bytes, 4 left")
    }

    @Test func aHeaderCutShortAtTheEndIsTruncationNotPadding() throws {
        var stream = StreamBuilder.part10(transferSyntax: "1.2.840.10008.1.2.1")
        stream.text(0x0008, 0x0060, "CS", "CT")
        let cut = stream.bytes.count
        stream.bytes += [0x10, 0x00, 0x10, 0x00, 0x50]
        #expect(throws: DICOMError.truncated(offset: cut, tag: Tag(0x0010, 0x0010), needed: 8, available: 5)) {
            try DICOMFile(data: stream.data)
        }
    }

    @Test func bytesThatAreNotDICOMAreRejectedWithAReason() throws {
        let text = Data("This is a README, not an image.\n".utf8)
        #expect(throws: DICOMError.self) { try DICOMFile(data: text) }
        do {
            _ = try DICOMFile(data: text)
        } catch {
            #expect(error.description.hasPrefix("not a DICOM file: "))
        }
        #expect(throws: DICOMError.notDICOM(reason: "3 bytes: too short for a preamble or a data element")) {
            try DICOMFile(data: Data([1, 2, 3]))
        }
    }

    @Test func aFileWithoutPreambleOrMetaIsDetectedFromItsFirstElement() throws {
        var stream = StreamBuilder()
        stream.text(0x0008, 0x0060, "CS", "CT")
        stream.text(0x0010, 0x0010, "PN", "A^B ")
        let file = try DICOMFile(data: stream.data)
        #expect(file.preamble == nil)
        #expect(file.fileMeta.isEmpty)
        #expect(file.transferSyntax == .explicitVRLittleEndian)
        #expect(file.dataSet.string(.modality) == "CT")
    }

    @Test func aMislabelledImplicitDatasetIsReadAsWhatItIs() throws {
        var stream = StreamBuilder.part10(transferSyntax: "1.2.840.10008.1.2.1")
        stream.explicitVR = false
        stream.text(0x0008, 0x0060, "", "CT")
        let file = try DICOMFile(data: stream.data)
        #expect(file.dataSet.string(.modality) == "CT")
        #expect(file.transferSyntax.isExplicitVR == false)
        #expect(file.warnings.count == 1)
    }

    @Test func stoppingBeforePixelDataLeavesItUnreadAndRecordsWhereItStarts() throws {
        var stream = StreamBuilder.part10(transferSyntax: "1.2.840.10008.1.2.1")
        stream.element(0x0028, 0x0010, "US", le16(2))
        let pixelOffset = stream.bytes.count
        stream.element(0x7FE0, 0x0010, "OW", [1, 2, 3, 4, 5, 6, 7, 8])
        let file = try DICOMFile(data: stream.data, options: ReadOptions(stopBeforePixelData: true))
        #expect(file.dataSet[.pixelData] == nil)
        #expect(file.pixelDataOffset == pixelOffset)
        let full = try DICOMFile(data: stream.data)
        #expect(full.dataSet[.pixelData]?.bytes == Data([1, 2, 3, 4, 5, 6, 7, 8]))
    }

    /// Every item and sequence closed, so that only the depth guard can refuse the stream
    /// (an unclosed one is refused as truncated, guard or not); 60 levels still parse.
    @Test func deeplyNestedSequencesAreRefusedNotOverflowed() throws {
        func nested(_ depth: Int) -> Data {
            var stream = StreamBuilder.part10(transferSyntax: "1.2.840.10008.1.2.1")
            for _ in 0..<depth {
                stream.header(0x0040, 0xA730, "SQ", length: 0xFFFF_FFFF)
                stream.header(0xFFFE, 0xE000, "", length: 0xFFFF_FFFF)
            }
            for _ in 0..<depth {
                stream.header(0xFFFE, 0xE00D, "", length: 0)
                stream.header(0xFFFE, 0xE0DD, "", length: 0)
            }
            return stream.data
        }
        var depth = 0
        var item = try DICOMFile(data: nested(60)).dataSet
        while case .sequence(let items)? = item[Tag(0x0040, 0xA730)]?.value, let first = items.first {
            depth += 1
            item = first
        }
        #expect(depth == 60)
        do {
            _ = try DICOMFile(data: nested(10_000))
            Issue.record("10,000 nested sequences were read")
        } catch {
            guard case .malformed(_, _, let reason) = error else {
                Issue.record("refused for another reason: \(error)")
                return
            }
            #expect(reason == "sequences nested more than 64 deep")
        }
    }

    @Test func dictionaryCoversRepeatingGroupsAndRetiredEntries() {
        #expect(StandardDictionary.entry(for: Tag(0x0010, 0x0010))?.keyword == "PatientName")
        #expect(StandardDictionary.entry(for: Tag(0x6002, 0x3000))?.keyword == "OverlayData")
        #expect(StandardDictionary.entry(for: Tag(0x6002, 0x3000))?.vr == .obOrOW)
        #expect(StandardDictionary.entry(for: Tag(0x5010, 0x3000))?.keyword == "CurveData")
        #expect(StandardDictionary.entry(for: Tag(0x0008, 0x0001))?.isRetired == true)
        #expect(StandardDictionary.entry(for: Tag(0x0028, 0x0106))?.vr == .usOrSS)
        #expect(StandardDictionary.entry(forKeyword: "SOPInstanceUID")?.tag == Tag(0x0008, 0x0018))
        #expect(StandardDictionary.entry(for: Tag(0x0009, 0x1001)) == nil)
    }

    /// `vr(for:)` and `contains` (no entry copied out) say what `entry(for:)` says, for every
    /// tag of the standard groups' elements 0000-1FFF, repeating groups and private tags
    /// included, and for seeded random tags.
    @Test func theDictionarysVRAndMembershipAgreeWithItsEntries() {
        var tags: [DICOM.Tag] = []
        for group in [0x0002, 0x0008, 0x0009, 0x0010, 0x0018, 0x0020, 0x0028, 0x0040, 0x5000, 0x5010, 0x6000, 0x6002, 0x60FF, 0x7FE0] {
            for element in 0..<0x2000 { tags.append(Tag(UInt16(group), UInt16(element))) }
            tags.append(Tag(UInt16(group), 0x3000))
        }
        var generator = SeededGenerator(state: 77)
        for _ in 0..<20_000 { tags.append(Tag(rawValue: UInt32(truncatingIfNeeded: generator.next()))) }
        var known = 0
        for tag in tags {
            let entry = StandardDictionary.entry(for: tag)
            #expect(StandardDictionary.vr(for: tag) == entry?.vr, "\(tag)")
            #expect(StandardDictionary.contains(tag) == (entry != nil), "\(tag)")
            if entry != nil { known += 1 }
        }
        #expect(known > 1_000, "the standard groups hold over a thousand entries: \(known)")
    }
}

@Suite struct MetadataOnlyReadTests {
    /// Reading a prefix and stopping before Pixel Data gives exactly the elements a full
    /// read finds before Pixel Data, for every corpus file, large ones included.
    @Test func prefixReadsAgreeWithFullReadsOverTheCorpus() throws {
        let encoder = DICOMJSONEncoder()
        var compared = 0
        for entry in try Corpus.oracle() {
            let stop = ReadOptions(stopBeforePixelData: true)
            guard let full = try? DICOMFile.read(path: entry.url.path) else {
                // A file broken only inside its Pixel Data still yields its metadata.
                if let partial = try? DICOMFile.read(path: entry.url.path, options: stop) {
                    #expect(partial.pixelDataOffset != nil, "\(entry.path)")
                }
                continue
            }
            let metadata = try DICOMFile.read(path: entry.url.path, options: stop)
            let firstPixelData = full.dataSet.elements.first { $0.tag.isPixelData }?.tag ?? Tag(rawValue: .max)
            var expected = full.dataSet
            expected.removeAll { $0.tag >= firstPixelData }
            #expect(encoder.encode(metadata.dataSet) == encoder.encode(expected), "\(entry.path)")
            compared += 1
        }
        #expect(compared >= 250)
    }
}

@Suite struct DataSetOrderTests {
    /// Elements set in tag order (appended), out of it (inserted) or again (replaced) leave
    /// the dataset sorted, one element per tag, the last value set kept.
    @Test func setKeepsTheElementsInTagOrderWhateverOrderTheyCome() {
        var generator = SeededGenerator(state: 5)
        var dataSet = DataSet()
        var expected: [DICOM.Tag: UInt8] = [:]
        for round in 0..<2_000 {
            // Runs of rising tags, as a copy is built, broken by jumps back.
            let tag = round % 7 == 0 ? Tag(rawValue: UInt32(generator.next() % 300))
                : Tag(rawValue: (dataSet.elements.last?.tag.rawValue ?? 0) + UInt32(generator.next() % 3))
            let value = UInt8(truncatingIfNeeded: round)
            dataSet.set(DataElement(tag: tag, vr: .OB, value: .bytes(Data([value]))))
            expected[tag] = value
        }
        #expect(dataSet.elements.map(\.tag) == expected.keys.sorted())
        #expect(dataSet.elements.allSatisfy { $0.bytes == Data([expected[$0.tag]!]) })
    }
}
