import DICOM
import Foundation

/// Builds encoded DICOM byte streams element by element, for tests of encodings the corpus
/// lacks (odd lengths, UN sequences, extended offset tables, broken files).
struct StreamBuilder {
    var bytes: [UInt8] = []
    var byteOrder: ByteOrder = .littleEndian
    var explicitVR = true

    static func part10(transferSyntax: String, meta extra: (inout StreamBuilder) -> Void = { _ in }) -> StreamBuilder {
        var meta = StreamBuilder()
        meta.element(0x0002, 0x0001, "OB", [0, 1])
        meta.element(0x0002, 0x0010, "UI", Array(transferSyntax.utf8) + (transferSyntax.utf8.count % 2 == 1 ? [0] : []))
        extra(&meta)
        var file = StreamBuilder()
        file.bytes = [UInt8](repeating: 0, count: 128) + Array("DICM".utf8)
        file.element(0x0002, 0x0000, "UL", le32(UInt32(meta.bytes.count)))
        file.bytes += meta.bytes
        return file
    }

    mutating func u16(_ value: UInt16) { bytes += byteOrder == .littleEndian ? le16(value) : le16(value).reversed() }
    mutating func u32(_ value: UInt32) { bytes += byteOrder == .littleEndian ? le32(value) : le32(value).reversed() }

    mutating func header(_ group: UInt16, _ element: UInt16, _ vr: String, length: UInt32) {
        u16(group)
        u16(element)
        if explicitVR && group != 0xFFFE {
            bytes += Array(vr.utf8)
            if ["OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV"].contains(vr) {
                bytes += [0, 0]
                u32(length)
            } else {
                u16(UInt16(length))
            }
        } else {
            u32(length)
        }
    }

    mutating func element(_ group: UInt16, _ element: UInt16, _ vr: String, _ value: [UInt8]) {
        header(group, element, vr, length: UInt32(value.count))
        bytes += value
    }

    mutating func text(_ group: UInt16, _ element: UInt16, _ vr: String, _ value: String) {
        self.element(group, element, vr, Array(value.utf8))
    }

    mutating func item(_ body: (inout StreamBuilder) -> Void, undefinedLength: Bool = true) {
        var inner = StreamBuilder(byteOrder: byteOrder, explicitVR: explicitVR)
        body(&inner)
        u16(0xFFFE)
        u16(0xE000)
        u32(undefinedLength ? 0xFFFF_FFFF : UInt32(inner.bytes.count))
        bytes += inner.bytes
        if undefinedLength {
            u16(0xFFFE)
            u16(0xE00D)
            u32(0)
        }
    }

    mutating func sequenceDelimiter() {
        u16(0xFFFE)
        u16(0xE0DD)
        u32(0)
    }

    var data: Data { Data(bytes) }
}

func le16(_ value: UInt16) -> [UInt8] { [UInt8(value & 0xFF), UInt8(value >> 8)] }
func le32(_ value: UInt32) -> [UInt8] { (0..<4).map { UInt8((value >> (8 * $0)) & 0xFF) } }
