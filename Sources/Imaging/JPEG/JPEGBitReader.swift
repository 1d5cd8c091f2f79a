/// Reads the entropy-coded data of one scan (T.81 F.2.2.5) most significant bit first,
/// 64 bits at a time, removing the 00 stuffed after each FF data byte.
///
/// It never reads past the scan's bytes nor over a marker: there it appends zero bits
/// instead, as many as the decoder asks for, and `ranOut` tells the decoder that it used
/// some, i.e. that the scan or restart interval ended before its samples did.
struct JPEGBitReader {
    private let bytes: UnsafeRawPointer
    /// The next byte to load into `buffer`; at a restart marker once the interval's data
    /// is all loaded.
    private(set) var position: Int
    private let end: Int
    /// The loaded bits, the next one in the most significant bit.
    private var buffer: UInt64 = 0
    /// How many bits of `buffer` are loaded, zero bits appended past the data included.
    private var count = 0
    /// How many of the bits loaded since the last restart were appended zeros.
    private var padding = 0

    /// Reads `range` of `stream`, which must not be empty (the decoder has the walker's
    /// segments of it, so it is not).
    init(_ stream: UnsafeRawBufferPointer, range: Range<Int>) {
        bytes = stream.baseAddress!
        position = range.lowerBound
        end = range.upperBound
    }

    /// Whether the decoder has used bits past the end of the data (or past a restart
    /// marker): the data were cut short, or a corrupt code made the decoder lose its way.
    var ranOut: Bool { count < padding }

    /// Decodes one Huffman-coded symbol (T.81 F.2.2.3); -1 when the bits match no code.
    /// Leaves at least 16 bits loaded for a following `receiveExtend`.
    @inline(__always)
    mutating func decode(_ table: JPEGHuffmanTable.Lookup) -> Int {
        if count < 32 { refill() }
        let entry = Int(table.fast[Int(truncatingIfNeeded: buffer &>> UInt64(64 - JPEGHuffmanTable.fastBits))])
        if entry != 0 {
            let length = entry >> 8
            buffer &<<= UInt64(truncatingIfNeeded: length)
            count &-= length
            return entry & 0xFF
        }
        let (symbol, length) = Self.decodeLong(buffer, table)
        buffer &<<= UInt64(truncatingIfNeeded: length)
        count &-= length
        return symbol
    }

    /// Decodes one lossless difference: a Huffman-coded category and its extra bits (T.81
    /// H.1.2.2; category 16 is 32768 alone). Nil when the bits match no code or the
    /// category is no lossless one. Most samples take one lookup of `differences`.
    @inline(__always)
    mutating func decodeDifference(_ table: JPEGHuffmanTable.Lookup) -> Int? {
        if count < 32 { refill() }
        let entry = table.differences[Int(truncatingIfNeeded: buffer &>> UInt64(64 - JPEGHuffmanTable.differenceBits))]
        if entry != 0 {
            let used = Int(truncatingIfNeeded: entry & 0xFF)
            buffer &<<= UInt64(truncatingIfNeeded: used)
            count &-= used
            return Int(entry >> 8)
        }
        let size = decode(table)
        guard size >= 0 && size <= 16 else { return nil }
        return size == 16 ? 32768 : receiveExtend(size)
    }

    /// Codes longer than the fast lookup, found by length as in T.81 F.2.2.3: the symbol
    /// and the code's length, or (-1, 0). Static and by value, like `refillByBytes`: a
    /// mutating call out of line would make the reader live in memory instead of registers.
    @inline(never)
    private static func decodeLong(_ buffer: UInt64, _ table: JPEGHuffmanTable.Lookup) -> (symbol: Int, length: Int) {
        for length in (JPEGHuffmanTable.fastBits + 1)...16 {
            let code = Int32(truncatingIfNeeded: buffer &>> UInt64(64 - length))
            if code <= table.maxCode[length] {
                // Always within the table; the mask keeps a table bug from reading outside it.
                return (Int(table.symbols[Int(code &+ table.symbolOffset[length]) & 0xFF]), length)
            }
        }
        return (-1, 0)
    }

    /// The next `size` bits (0...16) as a signed difference (T.81 F.2.2.1 EXTEND: a value
    /// whose first bit is 0 stands for a negative one). Call right after `decode`.
    @inline(__always)
    mutating func receiveExtend(_ size: Int) -> Int {
        // Shifting by 1 then by 63 - size gives 0 for size 0 without a branch.
        let value = Int(truncatingIfNeeded: (buffer &>> 1) &>> UInt64(truncatingIfNeeded: 63 - size))
        buffer &<<= UInt64(truncatingIfNeeded: size)
        count &-= size
        return value < (1 << (size - 1)) ? value - (1 << size) + 1 : value
    }

    /// Drops the bits of the interval that ended and steps over the restart marker that
    /// must follow it (T.81 E.2.4; its number is not checked, a decoder need not). False
    /// when no restart marker stands at the end of the interval's data.
    @inline(__always)
    mutating func restart() -> Bool {
        buffer = 0
        count = 0
        padding = 0
        guard position + 1 < end, bytes.load(fromByteOffset: position, as: UInt8.self) == 0xFF,
              (0xD0...0xD7).contains(bytes.load(fromByteOffset: position + 1, as: UInt8.self)) else { return false }
        position += 2
        return true
    }

    /// Loads bytes until more than 56 bits are loaded.
    @inline(__always)
    private mutating func refill() {
        // Eight bytes at once when none of them is FF, which is nearly always.
        if position + 8 <= end {
            let chunk = UInt64(bigEndian: bytes.loadUnaligned(fromByteOffset: position, as: UInt64.self))
            let inverted = ~chunk
            let hasFF = (inverted &- 0x0101_0101_0101_0101) & ~inverted & 0x8080_8080_8080_8080
            if hasFF == 0 {
                let taken = (64 - count) >> 3
                buffer |= (chunk &>> UInt64(64 - 8 * taken)) &<< UInt64(64 - 8 * taken - count)
                position &+= taken
                count &+= 8 &* taken
                return
            }
        }
        (buffer, count, position, padding) = Self.refillByBytes(bytes, end: end, buffer: buffer, count: count,
                                                                position: position, padding: padding)
    }

    /// Byte by byte near an FF or the end of the data. Out of line and by value, so that
    /// the reader's fields stay in registers in the decoding loops (a mutating call out of
    /// line needs the reader's address, and kept it in memory: a store and a reload in
    /// every sample's chain of dependent steps).
    @inline(never)
    private static func refillByBytes(_ bytes: UnsafeRawPointer, end: Int, buffer: UInt64, count: Int, position: Int,
                                      padding: Int) -> (UInt64, Int, Int, Int) {
        var (buffer, count, position, padding) = (buffer, count, position, padding)
        while count <= 56 {
            var byte: UInt64 = 0
            if position < end {
                let value = bytes.load(fromByteOffset: position, as: UInt8.self)
                if value != 0xFF {
                    byte = UInt64(value)
                    position += 1
                } else if position + 1 < end && bytes.load(fromByteOffset: position + 1, as: UInt8.self) == 0 {
                    byte = 0xFF
                    position += 2
                } else {
                    // A marker (or a lone FF at the end): the data stop here.
                    padding += 8
                }
            } else {
                padding += 8
            }
            buffer |= byte &<< UInt64(56 - count)
            count += 8
        }
        return (buffer, count, position, padding)
    }
}
