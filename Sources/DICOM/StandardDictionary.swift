/// The VR a dictionary gives an attribute: one VR, or one of the ambiguous choices of PS3.6
/// that only the rest of the dataset resolves.
public enum DictionaryVR: Sendable, Equatable {
    case single(VR)
    /// "US or SS": resolved by Pixel Representation.
    case usOrSS
    /// "OB or OW": resolved by the transfer syntax and Bits Allocated.
    case obOrOW
    /// "US or OW": LUT Data, resolved by the transfer syntax.
    case usOrOW
    /// "US or SS or OW": Red/Green/Blue Palette Color LUT Data (retired).
    case usOrSSOrOW
    /// Items, delimiters and entries whose VR PS3.6 leaves to a note.
    case none

    init(_ text: Substring) {
        switch text {
        case "US/SS": self = .usOrSS
        case "OB/OW": self = .obOrOW
        case "US/OW": self = .usOrOW
        case "US/SS/OW": self = .usOrSSOrOW
        default:
            if let vr = VR(rawValue: String(text)) { self = .single(vr) } else { self = .none }
        }
    }
}

/// One attribute of the PS3.6 data dictionary.
public struct DictionaryEntry: Sendable {
    public let tag: Tag
    public let vr: DictionaryVR
    public let multiplicity: String
    public let keyword: String
    public let name: String
    public let isRetired: Bool
}

/// The PS3.6 data dictionary, generated into `Generated/StandardDictionaryTable.swift`.
public enum StandardDictionary {
    /// The entry for a tag, matching repeating-group entries such as (60xx,3000) too.
    public static func entry(for tag: Tag) -> DictionaryEntry? {
        if let exact = index.exact[tag.rawValue] { return exact }
        for pattern in index.patterns where tag.rawValue & pattern.mask == pattern.value {
            return pattern.entry
        }
        return nil
    }

    /// The tag's VR in the dictionary (repeating groups too), without copying its entry
    /// out: the parser asks for every implicit-VR element, the de-identifier whether an
    /// element outside its table is a standard one, and an entry's copy retains and
    /// releases its three strings (0.7% of a CT/MR run's samples went to such copies).
    public static func vr(for tag: Tag) -> DictionaryVR? {
        if let exact = index.exactVRs[tag.rawValue] { return exact }
        for pattern in index.patterns where tag.rawValue & pattern.mask == pattern.value {
            return pattern.entry.vr
        }
        return nil
    }

    /// Whether the dictionary has the tag (repeating groups too); see `vr(for:)`.
    public static func contains(_ tag: Tag) -> Bool { vr(for: tag) != nil }

    /// The entry with this keyword (`PatientName`), for code and tests that name attributes.
    public static func entry(forKeyword keyword: String) -> DictionaryEntry? {
        index.byKeyword[keyword]
    }

    /// The entry whose keyword this name spells in another case or with separators
    /// (`view_position`, `viewposition` for ViewPosition): what a person may have meant.
    public static func entry(forLooseKeyword name: String) -> DictionaryEntry? {
        looseKeywords[name.lowercased().filter { $0.isLetter || $0.isNumber }]
    }

    private static let looseKeywords: [String: DictionaryEntry] = Dictionary(
        index.byKeyword.values.map { ($0.keyword.lowercased(), $0) }, uniquingKeysWith: { first, _ in first })

    private struct Pattern: Sendable {
        let mask: UInt32
        let value: UInt32
        let entry: DictionaryEntry
    }

    private struct Index: Sendable {
        var exact: [UInt32: DictionaryEntry] = [:]
        /// `exact`'s VRs alone: a value with no references to count.
        var exactVRs: [UInt32: DictionaryVR] = [:]
        var patterns: [Pattern] = []
        var byKeyword: [String: DictionaryEntry] = [:]
    }

    /// Built once from the generated table, scanning its UTF-8 bytes directly: splitting
    /// the 400 kB string by Character took 22 ms, a byte scan takes about 2.
    private static let index: Index = {
        var index = Index()
        index.exact.reserveCapacity(5200)
        index.exactVRs.reserveCapacity(5200)
        var source = StandardDictionary.table
        source.withUTF8 { bytes in
            var fields: [Range<Int>] = []
            fields.reserveCapacity(6)
            var fieldStart = 0
            for position in 0...bytes.count {
                let byte = position < bytes.count ? bytes[position] : UInt8(ascii: "\n")
                if byte == UInt8(ascii: "|") || byte == UInt8(ascii: "\n") {
                    fields.append(fieldStart..<position)
                    fieldStart = position + 1
                }
                guard byte == UInt8(ascii: "\n") else { continue }
                defer { fields.removeAll(keepingCapacity: true) }
                guard fields.count == 6 else { continue }
                func text(_ field: Int) -> String { String(decoding: bytes[fields[field]], as: UTF8.self) }
                var mask: UInt32 = 0
                var value: UInt32 = 0
                for character in bytes[fields[0]] {
                    mask <<= 4
                    value <<= 4
                    if character != UInt8(ascii: "X") {
                        mask |= 0xF
                        value |= UInt32(hexDigitValue(character))
                    }
                }
                let entry = DictionaryEntry(
                    tag: Tag(rawValue: value), vr: DictionaryVR(Substring(text(1))),
                    multiplicity: text(2), keyword: text(3), name: text(4),
                    isRetired: bytes[fields[5].lowerBound] == UInt8(ascii: "1"))
                if mask == 0xFFFF_FFFF {
                    index.exact[value] = entry
                    index.exactVRs[value] = entry.vr
                } else {
                    index.patterns.append(Pattern(mask: mask, value: value, entry: entry))
                }
                if !entry.keyword.isEmpty { index.byKeyword[entry.keyword] = entry }
            }
        }
        return index
    }()
}

private func hexDigitValue(_ character: UInt8) -> UInt8 {
    switch character {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): character - UInt8(ascii: "0")
    case UInt8(ascii: "A")...UInt8(ascii: "F"): character - UInt8(ascii: "A") + 10
    default: 0
    }
}
