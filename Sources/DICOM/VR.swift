/// Value Representations of PS3.5 Table 6.2-1.
public enum VR: String, Sendable, CaseIterable {
    case AE, AS, AT, CS, DA, DS, DT, FD, FL, IS, LO, LT, OB, OD, OF, OL, OV, OW
    case PN, SH, SL, SQ, SS, ST, SV, TM, UC, UI, UL, UN, UR, US, UT, UV

    /// VRs whose explicit-VR header has two reserved bytes and a 32-bit length (PS3.5 7.1.2).
    public var hasLongExplicitHeader: Bool {
        switch self {
        case .OB, .OD, .OF, .OL, .OV, .OW, .SQ, .SV, .UC, .UN, .UR, .UT, .UV: true
        default: false
        }
    }

    /// The size of one binary number for the VRs stored as fixed-size numbers.
    public var numberSize: Int? {
        switch self {
        case .SS, .US: 2
        case .SL, .UL, .FL, .AT: 4
        case .FD, .SV, .UV: 8
        default: nil
        }
    }

    /// Bulk binary VRs: octet or word streams carried as InlineBinary in DICOM JSON.
    public var isBulkBinary: Bool {
        switch self {
        case .OB, .OD, .OF, .OL, .OV, .OW, .UN: true
        default: false
        }
    }

    /// The size of one word, for byte-swapping the "other" VRs between byte orders.
    public var wordSize: Int {
        switch self {
        case .OW, .AT: 2
        case .OF, .OL: 4
        case .OD, .OV: 8
        default: numberSize ?? 1
        }
    }

    /// VRs whose bytes are text in the Specific Character Set (PS3.5 6.1.2.3).
    public var usesSpecificCharacterSet: Bool {
        switch self {
        case .SH, .LO, .ST, .LT, .UC, .UT, .PN: true
        default: false
        }
    }

    /// Text VRs that hold one value: a backslash in them is text, not a separator.
    public var isSingleValuedText: Bool {
        switch self {
        case .ST, .LT, .UT, .UR: true
        default: false
        }
    }

    public var isText: Bool {
        switch self {
        case .AE, .AS, .CS, .DA, .DS, .DT, .IS, .LO, .LT, .PN, .SH, .ST, .TM, .UC, .UI, .UR, .UT: true
        default: false
        }
    }

    /// The byte that pads a value to even length: NUL for UI and OB, space for text.
    public var paddingByte: UInt8 { (self == .UI || self == .OB || !isText) ? 0x00 : 0x20 }

    /// Reads a VR from two bytes, as found in an explicit-VR element header. A table
    /// lookup: going through `init(rawValue:)` built a String per element, a fifth of the
    /// reader's time.
    init?(byte0: UInt8, byte1: UInt8) {
        guard byte0 >= 0x41, byte0 <= 0x5A, byte1 >= 0x41, byte1 <= 0x5A else { return nil }
        guard let vr = VR.byLetters[Int(byte0 - 0x41) * 26 + Int(byte1 - 0x41)] else { return nil }
        self = vr
    }

    private static let byLetters: [VR?] = {
        var table = [VR?](repeating: nil, count: 26 * 26)
        for vr in VR.allCases {
            let letters = Array(vr.rawValue.utf8)
            table[Int(letters[0] - 0x41) * 26 + Int(letters[1] - 0x41)] = vr
        }
        return table
    }()
}
