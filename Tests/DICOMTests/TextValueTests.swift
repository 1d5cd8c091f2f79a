import Foundation
@testable import DICOM
import Testing
import TestSupport

/// The byte-wise reading of ASCII text values must give what the Character-wise rules give.
@Suite struct TextValueTests {
    /// Every text VR, over seeded random ASCII strings built from the characters the rules
    /// treat specially (backslash, NUL, space and the other whitespace, CR LF, plus signs)
    /// and some that they do not (the 0x1C-0x1F separators are not whitespace to Swift).
    @Test func asciiValuesReadAsTheCharacterRulesReadThem() {
        let alphabet: [String] = ["a", "Z", "1", ".", "+", "-", "^", " ", "\0", "\\", "\t", "\n", "\r", "\r\n",
                                  "\u{0B}", "\u{0C}", "\u{1C}", "\u{1F}", "~"]
        let textVRs: [VR] = [.AE, .AS, .CS, .DA, .DS, .DT, .IS, .LO, .LT, .PN, .SH, .ST, .TM, .UC, .UI, .UR, .UT]
        var generator = SeededGenerator(state: 16)
        var compared = 0
        for vr in textVRs {
            for _ in 0..<3_000 {
                let length = Int(generator.next() % 12)
                let text = (0..<length).map { _ in alphabet[Int(generator.next() % UInt64(alphabet.count))] }.joined()
                let fast = DataSet.asciiTextValues(text, vr: vr)
                #expect(fast == DataSet.characterTextValues(text, vr: vr), "\(vr) \(Array(text.utf8))")
                compared += 1
            }
        }
        #expect(compared == 17 * 3_000)
        // Anything beyond ASCII is left to the Character rules.
        #expect(DataSet.asciiTextValues("Müller\\Ünal", vr: .LO) == nil)
        #expect(DataSet.characterTextValues("Müller\\Ünal ", vr: .LO) == ["Müller", "Ünal"])
    }

    /// A reading through the public API: padding and separators per VR.
    /// Text values read straight from ASCII bytes equal those read through the decoded
    /// String, in every kind of character set: random bytes, ASCII or not, with ESC.
    @Test func valuesFromBytesEqualValuesFromTheDecodedString() {
        let alphabet: [UInt8] = [0x41, 0x7A, 0x31, 0x2E, 0x5E, 0x3D, 0x20, 0x00, 0x5C, 0x09, 0x0A, 0x0D, 0x1B, 0x24, 0x42, 0x28, 0x7E, 0xB1, 0xC4, 0xE9]
        let characterSets: [[String]] = [[], ["ISO_IR 100"], ["ISO_IR 13"], ["", "ISO 2022 IR 87"], ["ISO 2022 IR 13", "ISO 2022 IR 87"], ["ISO_IR 192"]]
        let vrs: [VR] = [.AE, .CS, .DA, .DS, .IS, .LO, .LT, .PN, .SH, .ST, .TM, .UC, .UI, .UR, .UT]
        var generator = SeededGenerator(state: 19)
        var compared = 0
        for terms in characterSets {
            let characterSet = SpecificCharacterSet(terms: terms)
            for vr in vrs {
                for _ in 0..<300 {
                    // Mostly ASCII, as real values are; now and then a byte above 0x7F or ESC.
                    let length = Int(generator.next() % 14)
                    let bytes = (0..<length).map { _ in
                        let pick = Int(generator.next() % UInt64(alphabet.count))
                        return generator.next() % 4 == 0 ? alphabet[pick] : alphabet[pick % 12]
                    }
                    let element = DataElement(tag: Tag(0x0010, 0x0010), vr: vr, value: .bytes(Data(bytes)))
                    let dataSet = DataSet(elements: [element], characterSet: characterSet)
                    let expected: [String] = bytes.isEmpty ? [] : bytes.withUnsafeBytes { raw in
                        let decoded = vr.usesSpecificCharacterSet ? characterSet.decode(raw) : Repertoire.latin1.decode(raw)
                        return DataSet.asciiTextValues(decoded, vr: vr) ?? DataSet.characterTextValues(decoded, vr: vr)
                    }
                    #expect(dataSet.textValues(of: element) == expected, "\(terms) \(vr) \(bytes)")
                    compared += 1
                }
            }
        }
        #expect(compared == 6 * 15 * 300)
    }

    @Test func paddingAndSeparatorsPerVR() {
        #expect(DataSet.asciiTextValues(" 1.5 \\+2 \\ ", vr: .DS) == ["1.5", "+2", ""])
        #expect(DataSet.asciiTextValues("1.2.3\0", vr: .UI) == ["1.2.3"])
        #expect(DataSet.asciiTextValues(" A B \\C ", vr: .AE) == ["A B", "C"])
        #expect(DataSet.asciiTextValues("text \\ kept  ", vr: .LT) == ["text \\ kept"])
        #expect(DataSet.asciiTextValues("  ", vr: .SH) == [])
    }
}

/// The JSON key written digit by digit must be the plain formatting of the tag.
@Suite struct TagKeyTests {
    @Test func jsonKeysAreTheTagsEightUppercaseHexDigits() {
        var generator = SeededGenerator(state: 8)
        var tags = [Tag(0, 0), Tag(0xFFFF, 0xFFFF), Tag(0x0010, 0x0010), Tag(0x7FE0, 0x0010), Tag(0xABCD, 0xEF09)]
        for _ in 0..<20_000 { tags.append(Tag(rawValue: UInt32(truncatingIfNeeded: generator.next()))) }
        for tag in tags {
            let plain = String(tag.rawValue, radix: 16, uppercase: true)
            let expected = String(repeating: "0", count: 8 - plain.count) + plain
            #expect(tag.jsonKey == expected)
            #expect(tag.description == "(\(expected.prefix(4)),\(expected.suffix(4)))")
        }
        // In a document, the key is the same digits in quotes.
        let dataSet = DataSet(elements: [DataElement(tag: Tag(0x0010, 0x0010), vr: .PN, value: .bytes(Data("A^B".utf8)))])
        #expect(DICOMJSONEncoder().encode(dataSet) == #"{"00100010":{"vr":"PN","Value":[{"Alphabetic":"A^B"}]}}"#)
    }
}

/// Decimal strings in DICOM JSON: the file's digits where they are a JSON number, a Double's
/// shortest form where they are not, null where no finite number is, text where a value is
/// no number at all.
@Suite struct DecimalStringJSONTests {
    private func json(_ value: String) -> String {
        let dataSet = DataSet(elements: [DataElement(tag: Tag(0x0018, 0x0050), vr: .DS, value: .bytes(Data(value.utf8)))])
        return DICOMJSONEncoder().encode(dataSet)
    }

    private func document(_ values: String) -> String { #"{"00180050":{"vr":"DS","Value":["# + values + "]}}" }

    @Test func plainNumbersKeepTheirDigits() {
        #expect(json("1.5\\-0\\0.1234567890123456789 \\ 12") == document("1.5,-0,0.1234567890123456789,12"))
    }

    @Test func numbersThatAreNotPlainGoThroughADouble() {
        // An exponent is kept as written; other forms a Double reads are written as Python
        // prints it; 1e999 and an empty value are no finite number.
        #expect(json("1e3\\.5\\+1\\01\\1e999\\") == document("1e3,0.5,1.0,1.0,null,null"))
        // Three hundred digits are at most 10^300: kept. Four hundred overflow a Double.
        let long = "1" + String(repeating: "0", count: 299), longer = "1" + String(repeating: "0", count: 399)
        #expect(json(long) == document(long))
        #expect(json(longer) == document("null"))
    }

    @Test func aValueThatIsNoNumberKeepsTheElementAsText() {
        #expect(json("abc\\1") == document(#""abc","1""#))
    }
}
