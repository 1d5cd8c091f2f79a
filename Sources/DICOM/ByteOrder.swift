/// Byte order of binary values in an encoded dataset.
public enum ByteOrder: Sendable {
    case littleEndian, bigEndian
}
