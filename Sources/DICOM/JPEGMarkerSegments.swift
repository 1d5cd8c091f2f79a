import Foundation

/// One marker segment of a JPEG (ITU T.81 B.1) or JPEG-LS (ITU T.87 C.1) stream, as
/// offsets into the stream it was found in.
public struct JPEGMarkerSegment: Sendable, Equatable {
    /// The byte after FF: D8 for SOI, DA for SOS, ...
    public let marker: UInt8
    /// The whole segment: FF, the marker, and for markers with a length that length and
    /// the payload.
    public let range: Range<Int>
    /// What follows the 2-byte length; empty for markers without one (SOI, EOI, RSTn, TEM).
    public let payload: Range<Int>
    /// For an SOS segment, the entropy-coded data after it up to the marker that ends the
    /// scan (restart markers and stuffed bytes inside it included); empty otherwise.
    public let entropyCoded: Range<Int>

    public init(marker: UInt8, range: Range<Int>, payload: Range<Int>, entropyCoded: Range<Int>) {
        self.marker = marker
        self.range = range
        self.payload = payload
        self.entropyCoded = entropyCoded
    }
}

/// The one walk over a JPEG or JPEG-LS stream's marker segments, shared by the decoders
/// and the de-identifier, so that what one of them takes for a segment the other does too.
public enum JPEGMarkerWalker {
    /// The segments of `bytes` from SOI through EOI, or to the end of `bytes` when there is
    /// no EOI. FF fill bytes before a marker (T.81 B.1.1.2) are skipped.
    ///
    /// After SOS the entropy-coded data runs to the first FF followed by a byte that cannot
    /// stand inside a scan: in JPEG anything but 00 (a stuffed FF) and D0-D7 (restart
    /// markers, which belong to the scan); in JPEG-LS (T.87 A.1) a byte of 80 or more other
    /// than D0-D7, since FF followed by a byte below 80 is a stuffed bit.
    ///
    /// - Returns: the segments found, and `complete`: false when the walk could not go on
    ///   to EOI or the end (a length running past the end, a byte other than FF where a
    ///   marker must stand, a stream cut inside a marker). `([], false)` without SOI.
    public static func segments(_ bytes: UnsafeRawBufferPointer, jpegLS: Bool) -> (segments: [JPEGMarkerSegment], complete: Bool) {
        let count = bytes.count
        guard count >= 2, bytes[0] == 0xFF, bytes[1] == 0xD8 else { return ([], false) }
        var segments = [JPEGMarkerSegment(marker: 0xD8, range: 0..<2, payload: 2..<2, entropyCoded: 2..<2)]
        var position = 2
        while position < count {
            guard bytes[position] == 0xFF, position + 1 < count else { return (segments, false) }
            let marker = bytes[position + 1]
            if marker == 0xFF {
                position += 1
                continue
            }
            // T.81 B.1.1.3: SOI, EOI, RSTn and TEM stand alone, without a length.
            if marker == 0xD8 || marker == 0xD9 || marker == 0x01 || (0xD0...0xD7).contains(marker) {
                let end = position + 2
                segments.append(JPEGMarkerSegment(marker: marker, range: position..<end, payload: end..<end, entropyCoded: end..<end))
                position = end
                if marker == 0xD9 { return (segments, true) }
                continue
            }
            guard position + 4 <= count else { return (segments, false) }
            let length = Int(bytes[position + 2]) << 8 | Int(bytes[position + 3])
            guard length >= 2, length <= count - position - 2 else { return (segments, false) }
            let end = position + 2 + length
            var scanEnd = end
            if marker == 0xDA {
                scanEnd = endOfScan(bytes, from: end, jpegLS: jpegLS)
            }
            segments.append(JPEGMarkerSegment(marker: marker, range: position..<end, payload: (position + 4)..<end,
                                              entropyCoded: end..<scanEnd))
            position = scanEnd
        }
        return (segments, true)
    }

    /// Where the entropy-coded data starting at `start` ends: at the FF of the marker that
    /// ends the scan, or at the end of `bytes`.
    static func endOfScan(_ bytes: UnsafeRawBufferPointer, from start: Int, jpegLS: Bool) -> Int {
        let count = bytes.count
        guard let base = bytes.baseAddress else { return count }
        var index = start
        // The last byte cannot begin a marker: a lone FF there is data cut short. FF is rare
        // in entropy-coded data (about one byte in 256, plus its stuffing), so memchr's
        // vector search from one FF to the next replaces a byte-by-byte walk that cost a
        // JPEG Lossless frame three passes over its data (the frame decoder's, the
        // decoder's and the de-identifier's walks).
        while index + 1 < count {
            guard let found = memchr(base + index, 0xFF, count - 1 - index) else { return count }
            index = base.distance(to: UnsafeRawPointer(found))
            let next = bytes[index + 1]
            let insideScan = (0xD0...0xD7).contains(next) || (jpegLS ? next < 0x80 : next == 0x00)
            if !insideScan { return index }
            // A stuffed byte or a restart marker: its second byte is not another FF.
            index += 2
        }
        return count
    }
}
