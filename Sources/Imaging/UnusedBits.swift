import DICOM
import Foundation

/// PS3.5 8.1.1: the bits of a native pixel cell outside Bits Stored may hold anything, and
/// old files kept overlays there (retired Overlay Bits Position): a name drawn on the
/// image. De-identified copies clear them; the PNG never shows them (the renderer masks).
public enum UnusedBits {
    /// `dataSet` with the bits of each native 8- or 16-bit Pixel Data cell outside Bits
    /// Stored and High Bit set to zero; unchanged when there are none, or the pixel data is
    /// encapsulated.
    public static func cleared(_ dataSet: DataSet) -> DataSet {
        guard let element = dataSet[.pixelData], case .bytes(let bytes) = element.value, let mask = Mask(of: dataSet) else {
            return dataSet
        }
        var cleared = Data(bytes)
        cleared.withUnsafeMutableBytes { mask.apply(to: $0, byteOrder: dataSet.byteOrder) }
        var result = dataSet
        result.set(DataElement(tag: element.tag, vr: element.vr, value: .bytes(cleared)))
        return result
    }

    /// The bits of a dataset's native 8- or 16-bit cells to keep; nil when every bit is
    /// stored. Applied to whole Pixel Data or to any run of it that starts at a cell (an
    /// even offset): a file too large to hold is cleared a chunk at a time.
    public struct Mask: Sendable {
        let allocated: Int
        let bits: Int

        public init?(of dataSet: DataSet) {
            guard let allocated = dataSet.integer(.bitsAllocated), allocated == 8 || allocated == 16 else { return nil }
            let stored = dataSet.integer(Tag(0x0028, 0x0101)) ?? allocated
            let highBit = dataSet.integer(Tag(0x0028, 0x0102)) ?? stored - 1
            guard stored < allocated, stored >= 1, highBit < allocated, highBit + 1 >= stored else { return nil }
            self.allocated = allocated
            bits = ((1 << stored) - 1) << (highBit + 1 - stored)
        }

        public func apply(to raw: UnsafeMutableRawBufferPointer, byteOrder: ByteOrder) {
            if allocated == 8 {
                for index in 0..<raw.count { raw[index] &= UInt8(bits) }
            } else {
                // The mask is symmetric in byte order only if applied per byte of the word.
                let little = byteOrder == .littleEndian
                let low = UInt8(bits & 0xFF), high = UInt8(bits >> 8)
                for index in stride(from: 0, to: raw.count - 1, by: 2) {
                    raw[index] &= little ? low : high
                    raw[index + 1] &= little ? high : low
                }
            }
        }
    }
}
