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
    }

    public init(tag: Tag, vr: VR, value: Value, hadUndefinedLength: Bool = false) {
        self.tag = tag
        self.vr = vr
        self.value = value
        self.hadUndefinedLength = hadUndefinedLength
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
