/// Bounds-checked reads of little- and big-endian integers from a byte buffer.
struct ByteReader {
    let bytes: UnsafeRawBufferPointer
    let byteOrder: ByteOrder

    var count: Int { bytes.count }

    func uint16(at offset: Int) -> UInt16 {
        let raw = bytes.loadUnaligned(fromByteOffset: offset, as: UInt16.self)
        return byteOrder == .littleEndian ? UInt16(littleEndian: raw) : UInt16(bigEndian: raw)
    }

    func uint32(at offset: Int) -> UInt32 {
        let raw = bytes.loadUnaligned(fromByteOffset: offset, as: UInt32.self)
        return byteOrder == .littleEndian ? UInt32(littleEndian: raw) : UInt32(bigEndian: raw)
    }

    func tag(at offset: Int) -> Tag {
        Tag(uint16(at: offset), uint16(at: offset + 2))
    }

    func has(_ length: Int, at offset: Int) -> Bool {
        offset >= 0 && length >= 0 && offset <= bytes.count - length
    }
}
