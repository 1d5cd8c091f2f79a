import DICOM
@testable import Deidentify
import Testing
import TestSupport

/// The actions resolved once per option set are those of the table's rows looked up one by
/// one.
@Suite struct ActionTableTests {
    /// Every tag of Table E.1-1's own rows, every element 0000-1FFF of the groups that hold
    /// them, the masked rows' ranges (overlays, curves) and seeded random tags, under no
    /// option, each option alone and all options together.
    @Test func theResolvedTableSaysWhatTheRowsSay() {
        var tags = Set(ConfidentialityProfile.rules.map(\.tag))
        for group in Set(ConfidentialityProfile.rules.map(\.tag.group)).union([0x5000, 0x5010, 0x6000, 0x6002, 0x60FE, 0x7FE0]) {
            for element in 0..<0x2000 { tags.insert(DICOM.Tag(group, UInt16(element))) }
            tags.insert(DICOM.Tag(group, 0x3000))
        }
        var generator = SeededGenerator(state: 12)
        for _ in 0..<20_000 { tags.insert(DICOM.Tag(rawValue: UInt32(truncatingIfNeeded: generator.next()))) }
        let optionSets: [Set<ConfidentialityProfile.Option>] = [[]] + ConfidentialityProfile.Option.allCases.map { [$0] }
            + [Set(ConfidentialityProfile.Option.allCases)]
        var listed = 0
        for options in optionSets {
            let table = ConfidentialityProfile.ActionTable(options: options)
            for tag in tags {
                let expected = ConfidentialityProfile.rule(for: tag)?.action(with: options)
                #expect(table.action(for: tag) == expected, "\(tag) with \(options)")
                if expected != nil { listed += 1 }
            }
        }
        #expect(listed > optionSets.count * 500, "the table lists hundreds of tags: \(listed)")
    }
}
