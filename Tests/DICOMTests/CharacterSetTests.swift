import DICOM
import Foundation
import Testing

@Suite struct CharacterSetTests {
    private func decode(_ bytes: [UInt8], terms: [String]) -> String {
        bytes.withUnsafeBytes { SpecificCharacterSet(terms: terms).decode($0) }
    }

    @Test func japaneseISO2022WithKanjiAndHiragana() {
        // PS3.5 H.3.1: ISO 2022 IR 87 with escape sequences per component group.
        let bytes: [UInt8] = Array("Yamada^Tarou=".utf8)
            + [0x1B, 0x24, 0x42, 0x3B, 0x33, 0x45, 0x44, 0x1B, 0x28, 0x42, 0x5E, 0x1B, 0x24, 0x42, 0x42, 0x40, 0x4F, 0x3A, 0x1B, 0x28, 0x42, 0x3D]
            + [0x1B, 0x24, 0x42, 0x24, 0x64, 0x24, 0x5E, 0x24, 0x40, 0x1B, 0x28, 0x42, 0x5E, 0x1B, 0x24, 0x42, 0x24, 0x3F, 0x24, 0x6D, 0x24, 0x26, 0x1B, 0x28, 0x42]
        #expect(decode(bytes, terms: ["", "ISO 2022 IR 87"]) == "Yamada^Tarou=山田^太郎=やまだ^たろう")
    }

    @Test func japaneseHalfWidthKatakanaInG1() {
        // PS3.5 H.3.2: ISO 2022 IR 13 as the first value; ESC ) I designates katakana.
        let bytes: [UInt8] = [0xD4, 0xCF, 0xC0, 0xDE, 0x5E, 0xC0, 0xDB, 0xB3]
        #expect(decode(bytes, terms: ["ISO 2022 IR 13", "ISO 2022 IR 87"]) == "ﾔﾏﾀﾞ^ﾀﾛｳ")
    }

    @Test func koreanISO2022IR149() {
        // PS3.5 I.2: Hangul and Hanja in KS X 1001 designated to G1.
        let bytes: [UInt8] = Array("Hong^Gildong=".utf8)
            + [0x1B, 0x24, 0x29, 0x43, 0xFB, 0xF3, 0x5E, 0x1B, 0x24, 0x29, 0x43, 0xD1, 0xCE, 0xD4, 0xD7, 0x3D]
            + [0x1B, 0x24, 0x29, 0x43, 0xC8, 0xAB, 0x5E, 0x1B, 0x24, 0x29, 0x43, 0xB1, 0xE6, 0xB5, 0xBF]
        #expect(decode(bytes, terms: ["", "ISO 2022 IR 149"]) == "Hong^Gildong=洪^吉洞=홍^길동")
    }

    @Test func singleByteSetsWithoutCodeExtensions() {
        #expect(decode([0x42, 0xFC, 0x63, 0x68, 0x65, 0x72], terms: ["ISO_IR 100"]) == "Bücher")
        #expect(decode([0xBB, 0xEE, 0xDA, 0xDC, 0xD8, 0xDD], terms: ["ISO_IR 144"]) == "Люкмин")
        #expect(decode([0xC4, 0xE9, 0xEF, 0xED], terms: ["ISO_IR 126"]) == "Διον")
        #expect(decode([0xF9, 0xF8, 0xE4], terms: ["ISO_IR 138"]) == "שרה")
    }

    @Test func multiByteSetsWithoutCodeExtensions() {
        #expect(decode(Array("Wang^XiaoDong=王^小東".utf8), terms: ["ISO_IR 192"]) == "Wang^XiaoDong=王^小東")
        #expect(decode([0xCD, 0xF5, 0x5E, 0xD0, 0xA1, 0xB6, 0xAB], terms: ["GB18030"]) == "王^小东")
        #expect(decode([0xCD, 0xF5, 0x5E, 0xD0, 0xA1, 0xB6, 0xAB], terms: ["GBK"]) == "王^小东")
    }

    @Test func anUnknownTermDecodesAsLatin1AndIsReported() throws {
        let set = SpecificCharacterSet(terms: ["ISO_IR 999"])
        #expect(set.unknownTerms == ["ISO_IR 999"])
        #expect([UInt8]([0x4D, 0xFC, 0x6C, 0x6C, 0x65, 0x72]).withUnsafeBytes { set.decode($0) } == "Müller")

        var stream = StreamBuilder.part10(transferSyntax: "1.2.840.10008.1.2.1")
        stream.text(0x0008, 0x0005, "CS", "ISO_IR 999")
        stream.element(0x0010, 0x0010, "PN", [0x4D, 0xFC, 0x6C, 0x6C, 0x65, 0x72])
        let file = try DICOMFile(data: stream.data)
        #expect(file.dataSet.string(Tag(0x0010, 0x0010)) == "Müller")
        #expect(file.warnings == ["unknown Specific Character Set term 'ISO_IR 999': its text is decoded as Latin-1"])
    }

    @Test func sequenceItemsInheritOrOverrideTheCharacterSet() throws {
        var stream = StreamBuilder.part10(transferSyntax: "1.2.840.10008.1.2.1")
        stream.text(0x0008, 0x0005, "CS", "ISO_IR 192")
        stream.header(0x0008, 0x1115, "SQ", length: 0xFFFF_FFFF)
        stream.item { item in item.text(0x0010, 0x0010, "PN", "Ωmega") }
        stream.item { item in
            item.text(0x0008, 0x0005, "CS", "ISO_IR 100")
            item.element(0x0010, 0x0010, "PN", [0xC9, 0x74, 0xE9])
        }
        stream.sequenceDelimiter()
        let file = try DICOMFile(data: stream.data)
        let items = try #require(file.dataSet[Tag(0x0008, 0x1115)]?.items)
        #expect(items[0].string(Tag(0x0010, 0x0010)) == "Ωmega")
        #expect(items[1].string(Tag(0x0010, 0x0010)) == "Été")
    }
}
