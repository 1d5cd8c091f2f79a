import DICOM

/// The tables in force when a scan starts. DHT, DQT and DRI segments can stand before any
/// scan and replace what an earlier one defined (T.81 B.2.4), so the decoder reads them in
/// stream order and hands each scan the set as it is then.
struct JPEGTables {
    /// Huffman tables by class (0: DC and lossless, 1: AC) and identifier 0...3.
    private(set) var huffman: [[JPEGHuffmanTable?]] = [[nil, nil, nil, nil], [nil, nil, nil, nil]]
    /// Quantization tables by identifier, in zig-zag order as coded.
    private(set) var quantization: [[UInt16]?] = [nil, nil, nil, nil]
    /// MCUs per restart interval; 0 when there are no restart markers.
    private(set) var restartInterval = 0

    /// Reads a DHT segment (T.81 B.2.4.2), which can define several tables.
    mutating func readHuffman(_ bytes: UnsafeRawBufferPointer, segment: JPEGMarkerSegment) throws(JPEGDecodingError) {
        func bad(_ reason: String) -> JPEGDecodingError { .badSegment(marker: 0xC4, offset: segment.range.lowerBound, reason: reason) }
        var position = segment.payload.lowerBound
        let end = segment.payload.upperBound
        while position < end {
            guard end - position >= 17 else { throw bad("a table header cut short after \(end - position) bytes") }
            let kind = Int(bytes[position] >> 4), id = Int(bytes[position] & 0x0F)
            guard kind <= 1, id <= 3 else { throw bad("table class \(kind) and identifier \(id), T.81 allows 0-1 and 0-3") }
            let counts = (0..<16).map { Int(bytes[position + 1 + $0]) }
            let total = counts.reduce(0, +)
            position += 17
            guard total <= end - position else { throw bad("table \(kind)/\(id) lists \(total) symbols, \(end - position) bytes remain") }
            let symbols = (0..<total).map { bytes[position + $0] }
            guard let table = JPEGHuffmanTable(counts: counts, symbols: symbols) else {
                throw bad("table \(kind)/\(id) has more codes of some length than that length can hold")
            }
            huffman[kind][id] = table
            position += total
        }
    }

    /// Reads a DQT segment (T.81 B.2.4.1): tables of 64 8-bit or 16-bit values.
    mutating func readQuantization(_ bytes: UnsafeRawBufferPointer, segment: JPEGMarkerSegment) throws(JPEGDecodingError) {
        func bad(_ reason: String) -> JPEGDecodingError { .badSegment(marker: 0xDB, offset: segment.range.lowerBound, reason: reason) }
        var position = segment.payload.lowerBound
        let end = segment.payload.upperBound
        while position < end {
            let wide = bytes[position] >> 4, id = Int(bytes[position] & 0x0F)
            guard wide <= 1, id <= 3 else { throw bad("precision \(wide) and identifier \(id), T.81 allows 0-1 and 0-3") }
            let size = wide == 1 ? 128 : 64
            position += 1
            guard end - position >= size else { throw bad("table \(id) needs \(size) bytes, \(end - position) remain") }
            quantization[id] = (0..<64).map { index in
                wide == 1 ? UInt16(bytes[position + 2 * index]) << 8 | UInt16(bytes[position + 2 * index + 1])
                          : UInt16(bytes[position + index])
            }
            position += size
        }
    }

    /// Reads a DRI segment (T.81 B.2.4.4).
    mutating func readRestartInterval(_ bytes: UnsafeRawBufferPointer, segment: JPEGMarkerSegment) throws(JPEGDecodingError) {
        guard segment.payload.count == 2 else {
            throw .badSegment(marker: 0xDD, offset: segment.range.lowerBound, reason: "\(segment.payload.count) bytes, a restart interval has 2")
        }
        restartInterval = Int(bytes[segment.payload.lowerBound]) << 8 | Int(bytes[segment.payload.lowerBound + 1])
    }
}
