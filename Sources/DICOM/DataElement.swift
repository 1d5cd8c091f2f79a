import Foundation

/// One data element as read: its tag, its resolved VR and its value.
///
/// Byte values are slices of the buffer the dataset was read from, in the dataset's byte
/// order: reading copies nothing, and Pixel Data is referred to by range until used.
public struct DataElement: Sendable {
    public let tag: Tag
    public var vr: VR
    public var value: Value
    /// The element was encoded with undefined length (sequences and encapsulated pixel data).
    public var hadUndefinedLength: Bool
    /// The VR came from the dictionary rather than the bytes, so an ambiguous dictionary VR
    /// ("US or SS", ...) may still need the rest of the dataset to settle it.
    var isVRInferred = false

    public enum Value: Sendable {
        case bytes(Data)
        case sequence([DataSet])
        case encapsulated(EncapsulatedPixelData)
        /// Top-level Pixel Data of a file too large to hold, left in the file (read with
        /// `ReadOptions.pixelDataInFile`).
        case inFile(PixelDataInFile)
    }

    public init(tag: Tag, vr: VR, value: Value, hadUndefinedLength: Bool = false) {
        self.tag = tag
        self.vr = vr
        self.value = value
        self.hadUndefinedLength = hadUndefinedLength
    }

    /// A text element of `values` (joined by backslashes), padded to even length as PS3.5
    /// 6.2 asks: NUL for UI, a space otherwise (a text value keeps its text padding even
    /// under a VR read as UN).
    public init(tag: Tag, vr: VR, strings values: [String]) {
        var bytes = Array(values.joined(separator: "\\").utf8)
        if bytes.count % 2 == 1 { bytes.append(vr == .UI ? 0 : 0x20) }
        self.init(tag: tag, vr: vr, value: .bytes(Data(bytes)))
    }

    /// The raw value bytes, or nil for sequences and encapsulated pixel data.
    public var bytes: Data? {
        if case .bytes(let data) = value { return data }
        return nil
    }

    /// The items of a sequence, or nil for any other element.
    public var items: [DataSet]? {
        if case .sequence(let items) = value { return items }
        return nil
    }
}
