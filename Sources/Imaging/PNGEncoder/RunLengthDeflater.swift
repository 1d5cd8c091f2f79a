/// Deflate (RFC 1951) built for filtered PNG rows: literals, and runs of one byte value coded
/// as matches at distance 1 (what zlib's `Z_RLE` strategy finds, and nearly all that level 1
/// finds in Up-filtered medical images), with no hash table and no match search.
///
/// One pass over the bytes per block, with tables built from a sample. For each block
/// (`bytesPerBlock` bytes and the rest of the token that crosses its end) the tokens of a
/// quarter of its bytes (`sampleLength` bytes every `sampleStride`, spread over the whole
/// block) are counted, every symbol given at least a count of one so that each has a code,
/// and the Huffman tables built from those counts; then one scan turns the bytes into tokens
/// and writes their codes as it goes. A block that the sample says will not be smaller coded
/// than stored (noise) is stored; one that turns out larger coded is rewritten stored. (The
/// first version counted every token and stored them all before writing: the same scan twice
/// over, a token array in memory and four counters per six literals; its files were 0.5%
/// smaller on the CT/MR renders, docs/PERFORMANCE.md.)
enum RunLengthDeflater {
    /// Bytes per block, at least: each block gets tables fitted to its own bytes, as zlib's
    /// do; a block ends at the first token boundary at or past this many bytes. Fewer,
    /// larger blocks build fewer tables: 256 KiB against 128 KiB, 0.935x the encoder's time
    /// for 0.1% more bytes on the CT/MR renders (0.5% on the corpus's large images); 512 KiB
    /// gained 2.5% more for 0.2% more (docs/PERFORMANCE.md).
    static let bytesPerBlock = 1 << 18
    /// The sample a block's tables are built from: long enough pieces that a run is seen
    /// whole as often as in the full count (512-byte pieces made files 1.3% larger), spread
    /// so that a block's background and its anatomy are both in it.
    static let sampleLength = 2048
    static let sampleStride = 8192

    /// The raw deflate stream of `input`, its last block final.
    static func deflate(_ input: UnsafeBufferPointer<UInt8>) -> [UInt8] {
        guard let source = input.baseAddress, !input.isEmpty else {
            // One empty final fixed-Huffman block: the end-of-block code alone.
            return [0x03, 0x00]
        }
        let count = input.count
        // The bit writer checks no capacity, so the output is sized for the worst case: a
        // coded block is compared with its stored form only once written, at most 15 bits a
        // byte (a literal's longest code; a run's token codes three or more bytes in at most
        // 21 bits) after a header of at most 513 bytes; a stored block 5 bytes per 65,535
        // and the byte boundary; the writer's 8-byte stores; an empty final block.
        let blocks = count / bytesPerBlock + 2
        let capacity = 2 * count + 640 * blocks + 64
        return DeflateTables.lengthSymbol.withUnsafeBufferPointer { lengthSymbol in
            [UInt8](unsafeUninitializedCapacity: capacity) { buffer, initialized in
                let counts = UnsafeMutablePointer<UInt32>.allocate(capacity: CountingSink.tableCount * 286)
                defer { counts.deallocate() }
                var writer = BitWriter(base: buffer.baseAddress!)
                var position = 0
                var wroteFinal = false
                while position < count {
                    let nominalEnd = min(count, position + bytesPerBlock)
                    let final = nominalEnd == count
                    let sample = sampleCounts(source, from: position, to: nominalEnd, into: counts, lengthSymbol: lengthSymbol.baseAddress!)
                    let header = DynamicHeader(symbolCounts: sample.counts)
                    // The sample's bits scaled to the block, against the block stored.
                    let sampleBits = header.literalCode.cost(of: sample.counts) + DeflateTables.extraBits(of: sample.counts) + sample.matches
                    let estimatedBytes = header.bits / 8 + sampleBits * (nominalEnd - position) / max(1, sample.bytes) / 8
                    if estimatedBytes >= storedSize(nominalEnd - position) {
                        writeStored(final: final, source: source, bytes: position..<nominalEnd, into: &writer)
                        wroteFinal = final
                        position = nominalEnd
                        continue
                    }
                    let mark = writer
                    writer.write(final ? 1 : 0, count: 1)
                    writer.write(2, count: 2)
                    header.write(into: &writer)
                    let entries = header.tokenEntries()
                    let start = position
                    position = entries.withUnsafeBufferPointer { entries in
                        var emitter = EmittingSink(writer: writer, entries: entries.baseAddress!)
                        let end = scan(source, count: count, from: start, until: nominalEnd, into: &emitter)
                        writer = emitter.writer
                        return end
                    }
                    let endOfBlock = header.literalCode
                    writer.write(UInt64(endOfBlock.codes[256]), count: Int(endOfBlock.lengths[256]))
                    if writer.position - mark.position > storedSize(position - start) {
                        writer = mark
                        writeStored(final: final, source: source, bytes: start..<position, into: &writer)
                    }
                    // A run may carry a block that was not the last to the end.
                    wroteFinal = final
                }
                if !wroteFinal {
                    // An empty final fixed-Huffman block: BFINAL, type 01, end of block (7 zero bits).
                    writer.write(1, count: 1)
                    writer.write(1, count: 2)
                    writer.write(0, count: 7)
                }
                writer.flushToByte()
                initialized = writer.position
            }
        }
    }

    /// Bytes of `count` bytes written as stored blocks: 5 bytes of header per 65,535 and at
    /// most one to reach a byte boundary.
    private static func storedSize(_ count: Int) -> Int {
        count + 5 * max(1, (count + 65534) / 65535) + 1
    }

    /// The symbol counts of the sample of `start..<end` (the end-of-block symbol and every
    /// symbol the sample missed counted once), its matches, and how many bytes it covered.
    private static func sampleCounts(_ source: UnsafePointer<UInt8>, from start: Int, to end: Int,
                                     into counts: UnsafeMutablePointer<UInt32>, lengthSymbol: UnsafePointer<UInt16>)
        -> (counts: [UInt32], matches: Int, bytes: Int) {
        counts.initialize(repeating: 0, count: CountingSink.tableCount * 286)
        var counter = CountingSink(counts: counts, lengthSymbol: lengthSymbol)
        var piece = start, bytes = 0
        while piece < end {
            // Each piece scanned as if the input ended with it: its last run is cut there.
            let pieceEnd = min(end, piece + sampleLength)
            bytes += scan(source, count: pieceEnd, from: piece, until: pieceEnd, into: &counter) - piece
            piece = (piece - piece % sampleStride) + sampleStride
        }
        var symbolCounts = Array(UnsafeBufferPointer(start: counts, count: 286))
        for table in 1..<CountingSink.tableCount {
            for symbol in 0..<256 { symbolCounts[symbol] &+= counts[table * 286 + symbol] }
        }
        for symbol in 0..<286 where symbolCounts[symbol] == 0 { symbolCounts[symbol] = 1 }
        symbolCounts[256] = 1
        return (symbolCounts, counter.matches, bytes)
    }

    /// What the scan hands its tokens to.
    private protocol TokenSink {
        /// Six literals, the low six bytes of `word` in order.
        mutating func sixLiterals(_ word: UInt64)
        mutating func literal(_ byte: UInt8)
        /// A match at distance 1 of `length` (3...258).
        mutating func run(_ length: Int)
    }

    /// A token is a byte, or a run of the byte before it (a match at distance 1).
    ///
    /// Most of a filtered image is literals, so they go six at a time: two 8-byte loads, one
    /// shifted by a byte, tell exactly where a byte repeats the one before it, and a run can
    /// start only where three repeats follow each other. Scans from `start` until a token
    /// ends at or past `stop`; returns where it stopped. No byte at or past `count` is read.
    @inline(__always)
    private static func scan<Sink: TokenSink>(_ source: UnsafePointer<UInt8>, count: Int, from start: Int, until stop: Int,
                                              into sink: inout Sink) -> Int {
        let raw = UnsafeRawPointer(source)
        var position = start
        if position == 0 && stop > 0 {
            // The first byte has nothing before it to repeat: a literal.
            sink.literal(source[0])
            position = 1
        }
        while position < stop {
            if position &+ 8 <= count {
                let word = UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: position, as: UInt64.self))
                let before = UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: position &- 1, as: UInt64.self))
                let repeats = zeroBytes(word ^ before)
                // Bytes 0...5 where a run starts: this byte and the next two all repeat.
                let starts = repeats & (repeats &>> 8) & (repeats &>> 16) & 0x0000_8080_8080_8080
                if starts == 0 {
                    sink.sixLiterals(word)
                    position &+= 6
                    continue
                }
                let literals = starts.trailingZeroBitCount &>> 3
                for offset in 0..<literals { sink.literal(source[position &+ offset]) }
                position &+= literals
            } else {
                let byte = source[position]
                let runAhead = byte == source[position &- 1] && position &+ 2 < count
                    && source[position &+ 1] == byte && source[position &+ 2] == byte
                if !runAhead {
                    sink.literal(byte)
                    position &+= 1
                    continue
                }
            }
            // A run: the byte at `position` and the two after it repeat the one before.
            let byte = source[position]
            let end = runEnd(of: byte, in: source, from: position &+ 3, count: count)
            var run = end &- position
            while run >= 3 {
                // A run of 259 or 260 ends as 256 + 3 or 257 + 3 rather than 258 and
                // one or two literals.
                let length = run > 258 && run < 261 ? run &- 3 : min(run, 258)
                sink.run(length)
                run &-= length
            }
            for _ in 0..<run { sink.literal(byte) }
            position = end
        }
        return position
    }

    /// Counts tokens in four literal tables in turn: filtered bytes crowd around 0, and one
    /// table would make each count wait for the previous store to the same counter.
    private struct CountingSink: TokenSink {
        static let tableCount = 4
        let counts: UnsafeMutablePointer<UInt32>
        let lengthSymbol: UnsafePointer<UInt16>
        private(set) var matches = 0

        init(counts: UnsafeMutablePointer<UInt32>, lengthSymbol: UnsafePointer<UInt16>) {
            self.counts = counts
            self.lengthSymbol = lengthSymbol
        }

        @inline(__always)
        mutating func sixLiterals(_ word: UInt64) {
            counts[Int(word & 0xFF)] &+= 1
            counts[286 &+ Int((word &>> 8) & 0xFF)] &+= 1
            counts[572 &+ Int((word &>> 16) & 0xFF)] &+= 1
            counts[858 &+ Int((word &>> 24) & 0xFF)] &+= 1
            counts[Int((word &>> 32) & 0xFF)] &+= 1
            counts[286 &+ Int((word &>> 40) & 0xFF)] &+= 1
        }

        @inline(__always)
        mutating func literal(_ byte: UInt8) { counts[Int(byte)] &+= 1 }

        @inline(__always)
        mutating func run(_ length: Int) {
            counts[Int(lengthSymbol[length])] &+= 1
            matches &+= 1
        }
    }

    /// Writes each token's code through the block's table.
    private struct EmittingSink: TokenSink {
        var writer: BitWriter
        /// Per token value (a byte, or 256 + a run length): its bits, their count in the top byte.
        let entries: UnsafePointer<UInt64>

        @inline(__always)
        private func three(_ word: UInt64) -> (bits: UInt64, count: Int) {
            let first = entries[Int(word & 0xFF)], second = entries[Int((word &>> 8) & 0xFF)]
            let third = entries[Int((word &>> 16) & 0xFF)]
            let firstCount = first &>> 56, secondCount = second &>> 56
            let bits = (first & 0x00FF_FFFF_FFFF_FFFF) | (second & 0x00FF_FFFF_FFFF_FFFF) &<< firstCount
                | (third & 0x00FF_FFFF_FFFF_FFFF) &<< (firstCount &+ secondCount)
            return (bits, Int(truncatingIfNeeded: firstCount &+ secondCount &+ (third &>> 56)))
        }

        @inline(__always)
        mutating func sixLiterals(_ word: UInt64) {
            // Literal codes are at most 15 bits: three always fit one write, and six do when
            // their codes total at most 56 bits (most of an image: its filtered bytes crowd
            // around 0, with short codes). One write instead of two: 0.94x the encoder's time.
            let low = three(word), high = three(word &>> 24)
            if low.count &+ high.count <= 56 {
                writer.write(low.bits | high.bits &<< UInt64(low.count), count: low.count &+ high.count)
            } else {
                writer.write(low.bits, count: low.count)
                writer.write(high.bits, count: high.count)
            }
        }

        @inline(__always)
        mutating func literal(_ byte: UInt8) {
            let entry = entries[Int(byte)]
            writer.write(entry & 0x00FF_FFFF_FFFF_FFFF, count: Int(truncatingIfNeeded: entry &>> 56))
        }

        @inline(__always)
        mutating func run(_ length: Int) {
            let entry = entries[256 &+ length]
            writer.write(entry & 0x00FF_FFFF_FFFF_FFFF, count: Int(truncatingIfNeeded: entry &>> 56))
        }
    }

    /// The high bit of each byte of `word` that is zero, and only of those.
    @inline(__always)
    private static func zeroBytes(_ word: UInt64) -> UInt64 {
        let nonZero = ((word & 0x7F7F_7F7F_7F7F_7F7F) &+ 0x7F7F_7F7F_7F7F_7F7F) | word
        return ~nonZero & 0x8080_8080_8080_8080
    }

    /// Where the run of `byte` starting before `start` ends: eight bytes compared at a time.
    @inline(__always)
    private static func runEnd(of byte: UInt8, in source: UnsafePointer<UInt8>, from start: Int, count: Int) -> Int {
        var end = start
        let pattern = UInt64(byte) &* 0x0101_0101_0101_0101
        let raw = UnsafeRawPointer(source)
        while end + 8 <= count {
            let difference = UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: end, as: UInt64.self)) ^ pattern
            if difference != 0 { return end + difference.trailingZeroBitCount >> 3 }
            end += 8
        }
        while end < count && source[end] == byte { end += 1 }
        return end
    }

    /// `bytes` as stored blocks (at most 65,535 bytes each), the last one final if `final`.
    private static func writeStored(final: Bool, source: UnsafePointer<UInt8>, bytes: Range<Int>, into writer: inout BitWriter) {
        var start = bytes.lowerBound
        repeat {
            let length = min(65535, bytes.upperBound - start)
            let last = start + length == bytes.upperBound
            writer.write(final && last ? 1 : 0, count: 1)
            writer.write(0, count: 2)
            writer.flushToByte()
            writer.write(UInt64(length) | UInt64(~UInt16(length)) << 16, count: 32)
            writer.copy(UnsafeBufferPointer(start: source + start, count: length))
            start += length
        } while start < bytes.upperBound
    }
}

/// A dynamic block's literal/length code and the header that describes it (RFC 1951 3.2.7).
/// The distance code is fixed: distance 1 is the only one used, coded as symbol 0 of a
/// complete two-symbol code (one bit), since zlib's decoder wants complete codes.
private struct DynamicHeader {
    let literalCode: HuffmanCode
    private let literalCount: Int
    /// The code lengths, run-length coded: symbol (0...18) and its extra bits.
    private let lengthSymbols: [(symbol: UInt8, extra: UInt8)]
    private let lengthCode: HuffmanCode
    private let lengthCodeCount: Int
    /// Bits of the header from HLIT on.
    let bits: Int

    private static let lengthCodeOrder = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15]

    init(symbolCounts: [UInt32]) {
        literalCode = HuffmanCode(frequencies: symbolCounts, limit: 15)
        let lengths = literalCode.lengths
        literalCount = max(257, (lengths.lastIndex { $0 != 0 } ?? 0) + 1)
        let sequence = Array(lengths[0..<literalCount]) + [1, 1]
        lengthSymbols = DynamicHeader.runLengthCoded(sequence)
        var frequencies = [UInt32](repeating: 0, count: 19)
        for item in lengthSymbols { frequencies[Int(item.symbol)] += 1 }
        // A code needs two symbols to be complete.
        if frequencies.count(where: { $0 > 0 }) < 2 { frequencies[frequencies[0] == 0 ? 0 : 1] += 1 }
        lengthCode = HuffmanCode(frequencies: frequencies, limit: 7)
        var count = 19
        while count > 4 && lengthCode.lengths[DynamicHeader.lengthCodeOrder[count - 1]] == 0 { count -= 1 }
        lengthCodeCount = count
        var bits = 5 + 5 + 4 + 3 * count
        for item in lengthSymbols {
            bits += Int(lengthCode.lengths[Int(item.symbol)]) + DynamicHeader.extraBits(ofLengthSymbol: item.symbol)
        }
        self.bits = bits
    }

    func write(into writer: inout BitWriter) {
        writer.write(UInt64(literalCount - 257), count: 5)
        writer.write(1, count: 5)  // two distance codes
        writer.write(UInt64(lengthCodeCount - 4), count: 4)
        for index in 0..<lengthCodeCount {
            writer.write(UInt64(lengthCode.lengths[DynamicHeader.lengthCodeOrder[index]]), count: 3)
        }
        for item in lengthSymbols {
            let symbol = Int(item.symbol)
            writer.write(UInt64(lengthCode.codes[symbol]), count: Int(lengthCode.lengths[symbol]))
            let extra = DynamicHeader.extraBits(ofLengthSymbol: item.symbol)
            if extra > 0 { writer.write(UInt64(item.extra), count: extra) }
        }
    }

    /// Per token value (a byte, or 256 + a run length), its bits and their count.
    func tokenEntries() -> [UInt64] {
        var entries = [UInt64](repeating: 0, count: 256 + 259)
        for byte in 0..<256 {
            entries[byte] = UInt64(literalCode.codes[byte]) | UInt64(literalCode.lengths[byte]) << 56
        }
        for length in 3...258 {
            let symbol = Int(DeflateTables.lengthSymbol[length])
            let codeBits = Int(literalCode.lengths[symbol])
            guard codeBits > 0 else { continue }
            let extraBits = DeflateTables.lengthExtraBits[symbol - 257]
            let extra = UInt64(length - DeflateTables.lengthBase[symbol - 257])
            // Distance code: symbol 0 of the two one-bit codes, a 0 bit.
            let total = codeBits + extraBits + 1
            entries[256 + length] = UInt64(literalCode.codes[symbol]) | extra << UInt64(codeBits) | UInt64(total) << 56
        }
        return entries
    }

    private static func extraBits(ofLengthSymbol symbol: UInt8) -> Int {
        switch symbol {
        case 16: 2
        case 17: 3
        case 18: 7
        default: 0
        }
    }

    /// Code lengths as symbols 0...15, 16 (repeat the previous 3-6 times), 17 (3-10 zeros),
    /// 18 (11-138 zeros).
    private static func runLengthCoded(_ lengths: [UInt8]) -> [(symbol: UInt8, extra: UInt8)] {
        var symbols: [(symbol: UInt8, extra: UInt8)] = []
        var index = 0
        while index < lengths.count {
            let length = lengths[index]
            var run = 1
            while index + run < lengths.count && lengths[index + run] == length { run += 1 }
            index += run
            if length == 0 {
                while run >= 11 {
                    let taken = min(run, 138)
                    symbols.append((18, UInt8(taken - 11)))
                    run -= taken
                }
                if run >= 3 {
                    symbols.append((17, UInt8(run - 3)))
                    run = 0
                }
            } else {
                symbols.append((length, 0))
                run -= 1
                while run >= 3 {
                    let taken = min(run, 6)
                    symbols.append((16, UInt8(taken - 3)))
                    run -= taken
                }
            }
            for _ in 0..<run { symbols.append((length, 0)) }
        }
        return symbols
    }
}

/// RFC 1951 3.2.5: length symbols 257...285.
enum DeflateTables {
    static let lengthBase = [3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258]
    static let lengthExtraBits = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0]

    /// The symbol of each length 3...258 (indexes 0...2 unused).
    static let lengthSymbol: [UInt16] = {
        var symbols = [UInt16](repeating: 0, count: 259)
        for length in 3...258 {
            // 258 has its own symbol (285), though 284's extra bits could reach it.
            let index = length == 258 ? 28 : lengthBase.lastIndex { $0 <= length }!
            symbols[length] = UInt16(257 + index)
        }
        return symbols
    }()

    /// Extra bits the length symbols counted in `symbolCounts` carry.
    static func extraBits(of symbolCounts: [UInt32]) -> Int {
        var bits = 0
        for index in 0..<29 { bits += Int(symbolCounts[257 + index]) * lengthExtraBits[index] }
        return bits
    }
}
