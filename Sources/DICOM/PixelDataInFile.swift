@preconcurrency import Glibc
import Foundation

/// Pixel Data left in the file it was read from. A file too large to hold in memory (a
/// 2 GB cine run) is read up to Pixel Data; its value stays where it is, described by
/// offsets, and each frame is read with `pread` when it is needed, so that memory stays at
/// about one frame whatever the file's size. Plain `pread`, never `mmap`, as everywhere
/// (a mapped file truncated on a network mount raises SIGBUS).
public struct PixelDataInFile: Sendable {
    public let path: String
    /// The file's size when read: a file that shrank since is refused, not misread.
    public let fileSize: Int
    /// File offset of the value, just after the element header.
    public let valueOffset: Int
    /// Native: the value's length. Encapsulated: the bytes of every item, headers included,
    /// the sequence delimiter excluded.
    public let length: Int
    /// Encapsulated Pixel Data: its items; nil for native.
    public let items: Items?

    /// A byte range of the file.
    public struct Span: Sendable, Equatable {
        public let offset: Int
        public let length: Int

        public init(offset: Int, length: Int) {
            self.offset = offset
            self.length = length
        }
    }

    /// The items of encapsulated Pixel Data (PS3.5 A.4), as `EncapsulatedPixelData` holds
    /// them in memory, with file spans in place of fragment bytes.
    public struct Items: Sendable {
        public let basicOffsetTable: [UInt32]
        /// Each fragment's value.
        public let fragments: [Span]
        /// Offset of each fragment's item tag from the first fragment's item tag.
        public let fragmentOffsets: [UInt64]
    }

    /// Reads one span of the file.
    public func read(_ span: Span) throws(DICOMFileError) -> Data {
        guard span.offset >= 0, span.length >= 0, span.offset + span.length <= fileSize else {
            throw DICOMFileError(path: path, reason: .dicom(.truncated(offset: span.offset, tag: .pixelData, needed: span.length,
                                                                      available: max(0, fileSize - span.offset))))
        }
        let file = try FileBytes(path: path)
        let data = try file.range(span.offset, count: span.length)
        guard data.count == span.length else {
            throw DICOMFileError(path: path, reason: .unreadable("the file shrank to \(span.offset + data.count) bytes while its Pixel Data was read"))
        }
        return data
    }

    /// The spans of each frame's fragments, chosen by the same rules as `EncapsulatedPixelData.frameFragments`
    /// (Extended Offset Table, then Basic Offset Table, then one fragment per frame or JPEG /
    /// JPEG 2000 start markers); nil for native Pixel Data.
    public func frameSpans(count numberOfFrames: Int, extendedOffsets: [UInt64]? = nil,
                           extendedLengths: [UInt64]? = nil) throws(EncapsulatedPixelData.FrameError) -> [[Span]]? {
        guard let items else { return nil }
        let picks = try EncapsulatedPixelData.pickFragments(
            frames: numberOfFrames, basicOffsetTable: items.basicOffsetTable, fragmentOffsets: items.fragmentOffsets,
            extendedOffsets: extendedOffsets, extendedLengths: extendedLengths,
            startsFrame: { index in
                // Read only when neither table says where frames start: four bytes a fragment.
                let fragment = items.fragments[index]
                guard let head = try? read(Span(offset: fragment.offset, length: min(4, fragment.length))) else { return false }
                return EncapsulatedPixelData.startsFrame(head)
            })
        return picks.map { frame in
            frame.map { pick in
                let fragment = items.fragments[pick.index]
                return Span(offset: fragment.offset, length: min(fragment.length, pick.length ?? fragment.length))
            }
        }
    }

    /// Locates the value of the Pixel Data element whose header starts at `headerOffset`:
    /// reads its header, and for encapsulated data walks the item headers (eight bytes each)
    /// up to the sequence delimiter. Returns the value and the offset just past it.
    static func locate(path: String, headerOffset: Int, syntax: TransferSyntax) throws(DICOMFileError) -> (PixelDataInFile, end: Int) {
        let file = try FileBytes(path: path)
        let size = file.size
        func failure(_ error: DICOMError) -> DICOMFileError { DICOMFileError(path: path, reason: .dicom(error)) }
        func words(at offset: Int, count: Int) throws(DICOMFileError) -> Data {
            let data = try file.range(offset, count: count)
            guard data.count == count else {
                throw failure(.truncated(offset: offset, tag: .pixelData, needed: count, available: data.count))
            }
            return data
        }
        let order = syntax.byteOrder
        func uint16(_ data: Data, _ at: Int) -> UInt16 {
            let value = UInt16(data[data.startIndex + at]) | UInt16(data[data.startIndex + at + 1]) << 8
            return order == .littleEndian ? value : value.byteSwapped
        }
        func uint32(_ data: Data, _ at: Int, _ order: ByteOrder) -> UInt32 {
            var value: UInt32 = 0
            for byte in 0..<4 { value |= UInt32(data[data.startIndex + at + byte]) << (8 * byte) }
            return order == .littleEndian ? value : value.byteSwapped
        }
        // Explicit VR: tag, VR, two reserved bytes, 32-bit length (OB, OW, OF, OD, UN all
        // have the long header); implicit VR: tag, 32-bit length.
        let header = try words(at: headerOffset, count: syntax.isExplicitVR ? 12 : 8)
        let length = uint32(header, syntax.isExplicitVR ? 8 : 4, order)
        let valueOffset = headerOffset + header.count
        guard length == 0xFFFF_FFFF else {
            let count = Int(length)
            guard valueOffset + count <= size else {
                throw failure(.truncated(offset: valueOffset, tag: .pixelData, needed: count, available: max(0, size - valueOffset)))
            }
            return (PixelDataInFile(path: path, fileSize: size, valueOffset: valueOffset, length: count, items: nil), valueOffset + count)
        }
        var offset = valueOffset
        var table: [UInt32]?
        var fragments: [Span] = [], fragmentOffsets: [UInt64] = []
        var firstFragment: Int?
        while true {
            let item = try words(at: offset, count: 8)
            let tag = Tag(uint16(item, 0), uint16(item, 2))
            let itemLength = uint32(item, 4, order)
            if tag == .sequenceDelimitationItem {
                let items = Items(basicOffsetTable: table ?? [], fragments: fragments, fragmentOffsets: fragmentOffsets)
                return (PixelDataInFile(path: path, fileSize: size, valueOffset: valueOffset, length: offset - valueOffset, items: items),
                        offset + 8)
            }
            guard tag == .item else {
                throw failure(.malformed(offset: offset, tag: .pixelData, reason: "expected a fragment item (FFFE,E000), found \(tag)"))
            }
            guard itemLength != 0xFFFF_FFFF else {
                throw failure(.malformed(offset: offset, tag: .pixelData, reason: "a fragment item of undefined length"))
            }
            let start = offset + 8, count = Int(itemLength)
            guard count <= size - start else {
                throw failure(.truncated(offset: start, tag: .pixelData, needed: count, available: max(0, size - start)))
            }
            if table == nil {
                let bytes = try words(at: start, count: count)
                table = stride(from: 0, to: count / 4 * 4, by: 4).map { uint32(bytes, $0, .littleEndian) }
            } else {
                let first = firstFragment ?? offset
                firstFragment = first
                fragments.append(Span(offset: start, length: count))
                fragmentOffsets.append(UInt64(offset - first))
            }
            offset = start + count
        }
    }
}

extension DataSet {
    /// The spans of each frame of Pixel Data left in its file (encapsulated), using Number
    /// of Frames and the Extended Offset Table as `encapsulatedFrameFragments` does.
    public func frameSpansInFile() throws(EncapsulatedPixelData.FrameError) -> [[PixelDataInFile.Span]]? {
        guard case .inFile(let pixelData)? = self[.pixelData]?.value else { return nil }
        let (offsets, lengths) = extendedOffsetTable()
        return try pixelData.frameSpans(count: integer(.numberOfFrames) ?? 1, extendedOffsets: offsets, extendedLengths: lengths)
    }
}
