import DICOM
import Foundation

/// Text that compressed frames carry beside their pixels: JPEG comments (COM) and
/// application segments (EXIF and XMP in APP1, maker notes, ...), JPEG 2000 comments (COM).
/// A camera or a secondary-capture device can put a name or a date there, and a DICOM copy
/// that keeps the fragments "unchanged" would carry it out. The pixels are not touched: the
/// segments before the first scan (JPEG) or the first tile (JPEG 2000) are dropped, and the
/// frames re-encapsulated one fragment each with a Basic Offset Table.
public enum CompressedTextRemover {
    /// What was removed from a dataset's compressed frames.
    public struct Outcome: Sendable {
        public let dataSet: DataSet
        public let segmentsRemoved: Int
    }

    public static func cleaned(_ dataSet: DataSet, transferSyntax: TransferSyntax) -> Outcome {
        guard case .encapsulated(let codec) = transferSyntax.pixelEncoding,
              let frames = try? dataSet.encapsulatedFrames() else {
            return Outcome(dataSet: dataSet, segmentsRemoved: 0)
        }
        var removed = 0
        let cleanedFrames = frames.map { frame -> Data in
            let result: (Data, Int)?
            switch codec {
            case .jpegBaseline, .jpegExtended, .jpegLossless, .jpegLS: result = jpeg(frame)
            case .jpeg2000, .htj2k: result = jpeg2000(frame)
            default: result = nil
            }
            guard let (bytes, count) = result else { return frame }
            removed += count
            return bytes
        }
        guard removed > 0 else { return Outcome(dataSet: dataSet, segmentsRemoved: 0) }
        var result = dataSet
        result.set(DataElement(tag: .pixelData, vr: .OB, value: .encapsulated(EncapsulatedPixelData(frames: cleanedFrames))))
        // The offsets of an Extended Offset Table would point into the old fragments.
        _ = result.remove(.extendedOffsetTable)
        _ = result.remove(.extendedOffsetTableLengths)
        return Outcome(dataSet: result, segmentsRemoved: removed)
    }

    /// A JPEG frame (ITU T.81 B.1: SOI, then marker segments with a 2-byte length, then the
    /// first SOS) without COM and APPn segments; APP0 (JFIF, without a thumbnail) and APP14
    /// (Adobe: how to read the colour components) stay, decoders need them. Nil when the
    /// frame is not laid out that way: it is then left as it is.
    static func jpeg(_ frame: Data) -> (Data, Int)? {
        withoutSegments(frame, start: 0xD8, stops: [0xDA], where: isTextSegment)
    }

    /// A JPEG 2000 codestream (ITU T.800 A.4: SOC, SIZ and the other main-header marker
    /// segments, then the first SOT) without its COM segments. Nil when not laid out so.
    static func jpeg2000(_ frame: Data) -> (Data, Int)? {
        withoutSegments(frame, start: 0x4F, stops: [0x90, 0x93]) { marker, _ in marker == 0x64 }
    }

    static func isTextSegment(marker: UInt8, payload: ArraySlice<UInt8>) -> Bool {
        switch marker {
        case 0xFE:
            return true
        case 0xE0:
            // JFIF with a zero-size thumbnail is only resolution data; JFXX (thumbnails) and
            // anything else in APP0 goes.
            let jfif: [UInt8] = [0x4A, 0x46, 0x49, 0x46, 0x00]
            guard payload.count >= 14, Array(payload.prefix(5)) == jfif else { return true }
            let base = payload.startIndex
            return payload[base + 12] != 0 || payload[base + 13] != 0
        case 0xEE:
            return false
        case 0xE1...0xEF:
            return true
        default:
            return false
        }
    }

    /// The frame from its start marker (FF `start`) through marker segments (FF marker, a
    /// 2-byte big-endian length that counts itself, the payload) up to the first of `stops`,
    /// dropping the segments `isRemoved` picks; everything from the stop marker on is kept
    /// as it is. Nil when the bytes are not laid out that way; (frame, 0) when nothing goes.
    static func withoutSegments(_ frame: Data, start: UInt8, stops: Set<UInt8>,
                                where isRemoved: (UInt8, ArraySlice<UInt8>) -> Bool) -> (Data, Int)? {
        let bytes = [UInt8](frame)
        guard bytes.count >= 4, bytes[0] == 0xFF, bytes[1] == start else { return nil }
        var output: [UInt8] = [0xFF, start]
        var position = 2, removed = 0
        while position + 4 <= bytes.count {
            guard bytes[position] == 0xFF else { return nil }
            let marker = bytes[position + 1]
            if marker == 0xFF { position += 1; continue }  // a fill byte (T.81 B.1.1.2)
            if stops.contains(marker) { break }
            let length = Int(bytes[position + 2]) << 8 | Int(bytes[position + 3])
            guard length >= 2, position + 2 + length <= bytes.count else { return nil }
            if isRemoved(marker, bytes[(position + 4)..<(position + 2 + length)]) {
                removed += 1
            } else {
                output += bytes[position..<(position + 2 + length)]
            }
            position += 2 + length
        }
        guard removed > 0 else { return (frame, 0) }
        output += bytes[position...]
        return (Data(output), removed)
    }
}
