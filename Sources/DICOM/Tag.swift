/// A data element tag: group and element number packed as `group << 16 | element`.
public struct Tag: Hashable, Comparable, Sendable, CustomStringConvertible {
    public let rawValue: UInt32

    public init(rawValue: UInt32) { self.rawValue = rawValue }
    public init(_ group: UInt16, _ element: UInt16) {
        rawValue = UInt32(group) << 16 | UInt32(element)
    }

    public var group: UInt16 { UInt16(truncatingIfNeeded: rawValue >> 16) }
    public var element: UInt16 { UInt16(truncatingIfNeeded: rawValue) }

    /// Odd groups above 0008 are private (PS3.5 7.8); 0001-0007 and FFFF are not usable.
    public var isPrivate: Bool { group & 1 == 1 && group > 0x0008 && group != 0xFFFF }
    /// Elements xx10-xxFF of a private group reserve a block for a private creator.
    public var isPrivateCreator: Bool { isPrivate && element >= 0x0010 && element <= 0x00FF }
    /// The private creator element that reserves this private element's block.
    public var privateCreatorTag: Tag? {
        guard isPrivate, element >= 0x1000 else { return nil }
        return Tag(group, element >> 8)
    }
    public var isGroupLength: Bool { element == 0x0000 }

    /// `(0010,0010)`, as dcmtk and the standard print tags.
    public var description: String {
        let key = jsonKey
        return "(\(key.prefix(4)),\(key.suffix(4)))"
    }
    /// `00100010`, the attribute key of the DICOM JSON model (PS3.18 F.2.1.1.2).
    public var jsonKey: String {
        String(unsafeUninitializedCapacity: 8) { buffer in
            writeHexDigits(into: UnsafeMutableRawBufferPointer(buffer))
            return 8
        }
    }

    /// The eight uppercase hex digits of `jsonKey` written to `buffer[0..<8]`: the JSON
    /// sidecar writes one per element, and building each through a String and two arrays
    /// was 1.5% of a CT/MR run.
    @inline(__always)
    public func writeHexDigits(into buffer: UnsafeMutableRawBufferPointer) {
        var value = rawValue
        for index in stride(from: 7, through: 0, by: -1) {
            let digit = UInt8(truncatingIfNeeded: value & 0xF)
            buffer[index] = digit < 10 ? UInt8(ascii: "0") &+ digit : UInt8(ascii: "A") &+ (digit &- 10)
            value >>= 4
        }
    }

    public static func < (lhs: Tag, rhs: Tag) -> Bool { lhs.rawValue < rhs.rawValue }
}

extension Tag {
    public static let fileMetaInformationGroupLength = Tag(0x0002, 0x0000)
    public static let mediaStorageSOPClassUID = Tag(0x0002, 0x0002)
    public static let mediaStorageSOPInstanceUID = Tag(0x0002, 0x0003)
    public static let transferSyntaxUID = Tag(0x0002, 0x0010)
    public static let specificCharacterSet = Tag(0x0008, 0x0005)
    public static let sopClassUID = Tag(0x0008, 0x0016)
    public static let sopInstanceUID = Tag(0x0008, 0x0018)
    public static let modality = Tag(0x0008, 0x0060)
    public static let samplesPerPixel = Tag(0x0028, 0x0002)
    public static let numberOfFrames = Tag(0x0028, 0x0008)
    public static let rows = Tag(0x0028, 0x0010)
    public static let columns = Tag(0x0028, 0x0011)
    public static let bitsAllocated = Tag(0x0028, 0x0100)
    public static let pixelRepresentation = Tag(0x0028, 0x0103)
    public static let lutDescriptor = Tag(0x0028, 0x3002)
    public static let lutData = Tag(0x0028, 0x3006)
    public static let waveformBitsAllocated = Tag(0x5400, 0x1004)
    public static let extendedOffsetTable = Tag(0x7FE0, 0x0001)
    public static let extendedOffsetTableLengths = Tag(0x7FE0, 0x0002)
    public static let floatPixelData = Tag(0x7FE0, 0x0008)
    public static let doubleFloatPixelData = Tag(0x7FE0, 0x0009)
    public static let pixelData = Tag(0x7FE0, 0x0010)
    public static let item = Tag(0xFFFE, 0xE000)
    public static let itemDelimitationItem = Tag(0xFFFE, 0xE00D)
    public static let sequenceDelimitationItem = Tag(0xFFFE, 0xE0DD)

    /// The three Pixel Data attributes of PS3.3 C.7.6.3; a reader can stop before any of them.
    public var isPixelData: Bool {
        self == .pixelData || self == .floatPixelData || self == .doubleFloatPixelData
    }
}
