import DICOM
import Foundation

/// Text that compressed frames carry beside their pixels: JPEG comments (COM) and
/// application segments (EXIF and XMP in APP1, maker notes, ...), JPEG 2000 comments (COM).
/// A camera or a secondary-capture device can put a name or a date there, and a DICOM copy
/// that keeps the fragments "unchanged" would carry it out. The pixels are not touched: the
/// text segments of every JPEG scan header and of the JPEG 2000 main and tile-part headers
/// are dropped, and the frames re-encapsulated one fragment each with a Basic Offset Table.
public enum CompressedTextRemover {
    /// What was removed from a dataset's compressed frames.
    public struct Outcome: Sendable {
        public let dataSet: DataSet
        public let segmentsRemoved: Int
        /// Frames whose layout could not be followed: copied as they are, so unchecked.
        public var framesUnchecked = 0
    }

    public static func cleaned(_ dataSet: DataSet, transferSyntax: TransferSyntax) -> Outcome {
        guard case .encapsulated(let codec) = transferSyntax.pixelEncoding,
              let frames = try? dataSet.encapsulatedFrames() else {
            return Outcome(dataSet: dataSet, segmentsRemoved: 0)
        }
        var removed = 0, unchecked = 0
        let cleanedFrames = frames.map { frame -> Data in
            let result = cleanedFrame(frame, codec: codec)
            if !result.checked { unchecked += 1 }
            removed += result.removed
            return result.bytes
        }
        // A fragment's length is 32 bits: a frame that no longer fits one stays as it was.
        guard removed > 0, cleanedFrames.allSatisfy(fitsOneFragment) else {
            return Outcome(dataSet: dataSet, segmentsRemoved: 0, framesUnchecked: unchecked)
        }
        var result = dataSet
        result.set(DataElement(tag: .pixelData, vr: .OB, value: .encapsulated(EncapsulatedPixelData(frames: cleanedFrames))))
        // The offsets of an Extended Offset Table would point into the old fragments.
        _ = result.remove(.extendedOffsetTable)
        _ = result.remove(.extendedOffsetTableLengths)
        return Outcome(dataSet: result, segmentsRemoved: removed, framesUnchecked: unchecked)
    }

    /// A frame of less than 4 GiB fits one fragment (a 32-bit length).
    public static func fitsOneFragment(_ frame: Data) -> Bool { frame.count < Int(UInt32.max) - 8 }

    /// One compressed frame without its text segments: the bytes, how many segments went,
    /// and whether its layout could be followed to the end (when not, what could not be
    /// followed is kept, unchecked). Frames of other codecs come back as they are, checked.
    public static func cleanedFrame(_ frame: Data, codec: TransferSyntax.Codec) -> (bytes: Data, removed: Int, checked: Bool) {
        let result: (bytes: Data, removed: Int, complete: Bool)?
        switch codec {
        case .jpegBaseline, .jpegExtended, .jpegLossless: result = jpeg(frame, jpegLS: false).map { ($0, $1, true) }
        case .jpegLS: result = jpeg(frame, jpegLS: true).map { ($0, $1, true) }
        case .jpeg2000, .htj2k: result = jpeg2000(frame)
        default: return (frame, 0, true)
        }
        guard let result else { return (frame, 0, false) }
        return (result.bytes, result.removed, result.complete)
    }

    /// A JPEG or JPEG-LS frame without its COM and APPn segments, found by the one walk the
    /// decoders use too (JPEGMarkerWalker); APP0 (JFIF, without a thumbnail) and APP14
    /// (Adobe: how to read the colour components) stay, decoders need them. Every scan is
    /// walked: COM and APPn may also stand between the scans of a progressive or
    /// non-interleaved image. Nil when the frame is not laid out that way: it is then left
    /// as it is. (frame, 0) when nothing goes.
    static func jpeg(_ frame: Data, jpegLS: Bool) -> (Data, Int)? {
        let bytes = [UInt8](frame)
        let walk = bytes.withUnsafeBytes { JPEGMarkerWalker.segments($0, jpegLS: jpegLS) }
        guard walk.complete, !walk.segments.isEmpty else { return nil }
        let removed = walk.segments.filter { isTextSegment(marker: $0.marker, payload: bytes[$0.payload]) }
        guard !removed.isEmpty else { return (frame, 0) }
        var output: [UInt8] = []
        output.reserveCapacity(bytes.count)
        var copied = 0
        for segment in removed {
            output += bytes[copied..<segment.range.lowerBound]
            copied = segment.range.upperBound
        }
        output += bytes[copied...]
        return (Data(output), removed.count)
    }

    /// A JPEG 2000 codestream (ITU T.800 A.4: SOC, SIZ and the other main-header marker
    /// segments, then tile-parts) without its COM segments, in the main header and in every
    /// tile-part header. Nil when the main header is not laid out so; `complete` false when
    /// the tile-parts cannot be followed (what the main header lost stays lost).
    /// A frame in the JP2 file format (boxes; PS3.5 A.4.4 wants the bare codestream) is
    /// reduced to its contiguous codestream box: the other boxes (XML, UUID, ...) carry
    /// only metadata, which can name anyone. That counts as one removal.
    static func jpeg2000(_ frame: Data) -> (bytes: Data, removed: Int, complete: Bool)? {
        var codestream = frame, unwrapped = 0
        if let contents = jp2Codestream(frame) {
            codestream = contents
            unwrapped = 1
        }
        guard let (mainCleaned, mainRemoved) = withoutSegments(codestream, start: 0x4F, stops: [0x90, 0x93],
                                                               where: { marker, _ in marker == 0x64 })
        else { return nil }
        guard let (cleaned, tileRemoved) = withoutTilePartComments(mainCleaned) else {
            return (mainCleaned, mainRemoved + unwrapped, false)
        }
        return (cleaned, mainRemoved + tileRemoved + unwrapped, true)
    }

    /// The codestream without the COM segments of its tile-part headers (T.800 A.4.2: SOT,
    /// whose Psot is the tile-part's length from SOT to the end of its data, 0 for the last
    /// tile-part, which runs to EOC; marker segments; SOD; the coded data). Psot shrinks by
    /// what goes, so decoders still find every tile-part, and a TLM segment (A.7.1, optional;
    /// it repeats the tile-part lengths) goes too; the coded data is copied as it is.
    /// Nil when the tile-parts cannot be followed; (codestream, 0) when nothing goes.
    static func withoutTilePartComments(_ codestream: Data) -> (Data, Int)? {
        let bytes = [UInt8](codestream)
        func word(_ at: Int) -> Int { Int(bytes[at]) << 8 | Int(bytes[at + 1]) }
        // The main header's segments, up to the first SOT.
        var position = 2
        var tileLengthSegments: [Range<Int>] = []
        while true {
            guard position + 4 <= bytes.count, bytes[position] == 0xFF else { return nil }
            if bytes[position + 1] == 0x90 { break }
            let length = word(position + 2)
            guard length >= 2, length <= bytes.count - position - 2 else { return nil }
            if bytes[position + 1] == 0x55 { tileLengthSegments.append(position..<(position + 2 + length)) }
            position += 2 + length
        }
        let mainHeaderEnd = position
        var tileParts: [UInt8] = []
        var removed = 0
        while position < bytes.count {
            if bytes[position] == 0xFF && position + 1 < bytes.count && bytes[position + 1] == 0xD9 { break }  // EOC
            guard position + 12 <= bytes.count, bytes[position] == 0xFF, bytes[position + 1] == 0x90, word(position + 2) == 10 else {
                return nil
            }
            let psot = bytes[(position + 6)..<(position + 10)].reduce(0) { $0 << 8 | Int($1) }
            // Psot = 0: the last tile-part; its data, EOC and any fragment padding are copied.
            let end = psot == 0 ? bytes.count : position + psot
            guard end > position + 12, end <= bytes.count else { return nil }
            var header: [UInt8] = [], dropped = 0, cursor = position + 12
            while true {
                guard cursor + 2 <= end, bytes[cursor] == 0xFF else { return nil }
                if bytes[cursor + 1] == 0x93 { break }  // SOD: the coded data follows
                guard cursor + 4 <= end else { return nil }
                let length = word(cursor + 2)
                guard length >= 2, cursor + 2 + length <= end else { return nil }
                if bytes[cursor + 1] == 0x64 {
                    dropped += 2 + length
                    removed += 1
                } else {
                    header += bytes[cursor..<(cursor + 2 + length)]
                }
                cursor += 2 + length
            }
            let newPsot = psot == 0 ? 0 : psot - dropped
            tileParts += bytes[position..<(position + 6)]
            tileParts += [UInt8(newPsot >> 24 & 0xFF), UInt8(newPsot >> 16 & 0xFF), UInt8(newPsot >> 8 & 0xFF), UInt8(newPsot & 0xFF)]
            tileParts += bytes[(position + 10)..<(position + 12)]
            tileParts += header
            tileParts += bytes[cursor..<end]
            position = end
        }
        guard removed > 0 else { return (codestream, 0) }
        var output: [UInt8] = []
        var copied = 0
        for segment in tileLengthSegments {
            output += bytes[copied..<segment.lowerBound]
            copied = segment.upperBound
        }
        output += bytes[copied..<mainHeaderEnd]
        output += tileParts
        output += bytes[position...]
        return (Data(output), removed)
    }

    /// The payload of the 'jp2c' box of a JP2 file (ISO/IEC 15444-1 I.4: boxes of a 4-byte
    /// length, 0 meaning to the end, 1 meaning an 8-byte length follows, and a 4-byte type).
    static func jp2Codestream(_ frame: Data) -> Data? {
        let bytes = [UInt8](frame)
        let signature: [UInt8] = [0, 0, 0, 0x0C, 0x6A, 0x50, 0x20, 0x20]
        guard bytes.count > 12, Array(bytes.prefix(8)) == signature else { return nil }
        var position = 0
        while position + 8 <= bytes.count {
            var length = bytes[position..<(position + 4)].reduce(0) { $0 << 8 | Int($1) }
            let type = String(decoding: bytes[(position + 4)..<(position + 8)], as: UTF8.self)
            var header = 8
            if length == 1 {
                guard position + 16 <= bytes.count else { return nil }
                length = bytes[(position + 8)..<(position + 16)].reduce(0) { $0 << 8 | Int($1) }
                header = 16
            } else if length == 0 {
                length = bytes.count - position
            }
            // A length near Int.max must not overflow `position + length`.
            guard length >= header, length <= bytes.count - position else { return nil }
            if type == "jp2c" { return Data(bytes[(position + header)..<(position + length)]) }
            position += length
        }
        return nil
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

    /// A JPEG 2000 main header from its start marker (FF `start`) through marker segments
    /// (FF marker, a 2-byte big-endian length that counts itself, the payload) up to the
    /// first of `stops`, dropping the segments `isRemoved` picks; everything from the stop
    /// marker on is kept as it is. Nil when the bytes are not laid out that way; (frame, 0)
    /// when nothing goes. (JPEG and JPEG-LS frames go through JPEGMarkerWalker instead.)
    static func withoutSegments(_ frame: Data, start: UInt8, stops: Set<UInt8>,
                                where isRemoved: (UInt8, ArraySlice<UInt8>) -> Bool) -> (Data, Int)? {
        let bytes = [UInt8](frame)
        guard bytes.count >= 4, bytes[0] == 0xFF, bytes[1] == start else { return nil }
        var output: [UInt8] = [0xFF, start]
        var position = 2, removed = 0
        while position + 2 <= bytes.count {
            guard bytes[position] == 0xFF else { return nil }
            let marker = bytes[position + 1]
            if stops.contains(marker) { break }
            guard position + 4 <= bytes.count else { return nil }
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
