/// Deflate (RFC 1951) built for filtered PNG rows: literals, and runs of one byte value coded
/// as matches at distance 1 (what zlib's `Z_RLE` strategy finds, and nearly all that level 1
/// finds in Up-filtered medical images), with no hash table and no match search.
///
/// Two passes. The first turns the input into tokens (a byte, or a run's length) and counts
/// them per block; the second builds each block's Huffman tables from its own counts and
/// writes it, or writes the block stored when that is smaller (noise). The exact size of
/// every block is known before a bit is written, so the output is allocated once.
enum RunLengthDeflater {
    /// Tokens per block: each block gets tables fitted to its own bytes, as zlib's do (zlib
    /// level 1 ends a block every 16,384 symbols); fewer, larger blocks cost less table
    /// building. Measured on the corpus renders: see docs/PERFORMANCE.md.
    static let tokensPerBlock = 1 << 15

    /// The raw deflate stream of `input`, its last block final.
    static func deflate(_ input: UnsafeBufferPointer<UInt8>) -> [UInt8] {
        guard let source = input.baseAddress, !input.isEmpty else {
            // One empty final fixed-Huffman block: the end-of-block code alone.
            return [0x03, 0x00]
        }
        // Room for the two tokens beyond the input that a batch of six literals writes.
        let tokens = UnsafeMutablePointer<UInt16>.allocate(capacity: input.count + 8)
        defer { tokens.deallocate() }
        let blocks = tokenize(source, count: input.count, into: tokens)
        let plans = blocks.map { BlockPlan(block: $0) }
        let capacity = plans.reduce(0) { $0 + $1.byteBound } + 16
        return [UInt8](unsafeUninitializedCapacity: capacity) { buffer, initialized in
            var writer = BitWriter(base: buffer.baseAddress!)
            for (index, plan) in plans.enumerated() {
                plan.write(final: index == plans.count - 1, tokens: tokens, source: source, into: &writer)
            }
            writer.flushToByte()
            initialized = writer.position
        }
    }

    /// A stretch of tokens and the bytes they stand for, with their counts.
    struct Block {
        var tokenRange: Range<Int>
        var byteRange: Range<Int>
        /// Literal/length symbol counts (0...285); the end-of-block symbol is counted.
        var symbolCounts: [UInt32]
        var matches: Int
    }

    /// A token is a byte (0...255) or 256 + the length of a run (3...258).
    ///
    /// Most of a filtered image is literals, so they go six at a time: two 8-byte loads, one
    /// shifted by a byte, tell exactly where a byte repeats the one before it, and a run can
    /// start only where three repeats follow each other. Literals are counted in four tables
    /// in turn: filtered bytes crowd around 0, and one table would make each count wait for
    /// the previous store to the same counter.
    private static func tokenize(_ source: UnsafePointer<UInt8>, count: Int, into tokens: UnsafeMutablePointer<UInt16>) -> [Block] {
        let tables = 4, tableSize = 286
        let counts = UnsafeMutablePointer<UInt32>.allocate(capacity: tables * tableSize)
        counts.initialize(repeating: 0, count: tables * tableSize)
        defer { counts.deallocate() }
        let counts1 = counts + tableSize, counts2 = counts + 2 * tableSize, counts3 = counts + 3 * tableSize
        return DeflateTables.lengthSymbol.withUnsafeBufferPointer { lengthSymbol in
            var blocks: [Block] = []
            let raw = UnsafeRawPointer(source)
            var matches = 0, tokenStart = 0, byteStart = 0
            // The first byte has nothing before it to repeat.
            tokens[0] = UInt16(source[0])
            counts[Int(source[0])] = 1
            var produced = 1, position = 1
            var blockEnd = tokensPerBlock
            while position < count {
                if produced >= blockEnd {
                    blocks.append(closedBlock(counts: counts, tables: tables, tokens: tokenStart..<produced, bytes: byteStart..<position, matches: matches))
                    matches = 0
                    tokenStart = produced
                    byteStart = position
                    blockEnd = produced + tokensPerBlock
                }
                var runAhead = false
                if position &+ 8 <= count {
                    let word = UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: position, as: UInt64.self))
                    let before = UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: position &- 1, as: UInt64.self))
                    let repeats = zeroBytes(word ^ before)
                    // Bytes 0...5 where a run starts: this byte and the next two all repeat.
                    let starts = repeats & (repeats &>> 8) & (repeats &>> 16) & 0x0000_8080_8080_8080
                    if starts == 0 {
                        // Eight tokens written (the tokens buffer has room), six kept.
                        let target = UnsafeMutableRawPointer(tokens + produced)
                        target.storeBytes(of: widened(word & 0xFFFF_FFFF).littleEndian, as: UInt64.self)
                        target.storeBytes(of: widened(word &>> 32).littleEndian, toByteOffset: 8, as: UInt64.self)
                        counts[Int(word & 0xFF)] &+= 1
                        counts1[Int((word &>> 8) & 0xFF)] &+= 1
                        counts2[Int((word &>> 16) & 0xFF)] &+= 1
                        counts3[Int((word &>> 24) & 0xFF)] &+= 1
                        counts[Int((word &>> 32) & 0xFF)] &+= 1
                        counts1[Int((word &>> 40) & 0xFF)] &+= 1
                        produced &+= 6
                        position &+= 6
                        continue
                    }
                    let literals = starts.trailingZeroBitCount &>> 3
                    for offset in 0..<literals {
                        let byte = source[position &+ offset]
                        tokens[produced &+ offset] = UInt16(byte)
                        counts[Int(byte)] &+= 1
                    }
                    produced &+= literals
                    position &+= literals
                    runAhead = true
                } else {
                    let byte = source[position]
                    runAhead = byte == source[position &- 1] && position &+ 2 < count
                        && source[position &+ 1] == byte && source[position &+ 2] == byte
                    if !runAhead {
                        tokens[produced] = UInt16(byte)
                        counts[Int(byte)] &+= 1
                        produced &+= 1
                        position &+= 1
                        continue
                    }
                }
                // A run: the byte at `position` and the two after it repeat the one before.
                let byte = source[position]
                let end = runEnd(of: byte, in: source, from: position + 3, count: count)
                var run = end - position
                while run >= 3 {
                    // A run of 259 or 260 ends as 256 + 3 or 257 + 3 rather than 258 and
                    // one or two literals.
                    let length = run > 258 && run < 261 ? run - 3 : min(run, 258)
                    tokens[produced] = UInt16(256 + length)
                    counts[Int(lengthSymbol[length])] &+= 1
                    matches &+= 1
                    produced &+= 1
                    run -= length
                }
                for _ in 0..<run {
                    tokens[produced] = UInt16(byte)
                    counts[Int(byte)] &+= 1
                    produced &+= 1
                }
                position = end
            }
            blocks.append(closedBlock(counts: counts, tables: tables, tokens: tokenStart..<produced, bytes: byteStart..<position, matches: matches))
            return blocks
        }
    }

    /// The high bit of each byte of `word` that is zero, and only of those.
    @inline(__always)
    private static func zeroBytes(_ word: UInt64) -> UInt64 {
        let nonZero = ((word & 0x7F7F_7F7F_7F7F_7F7F) &+ 0x7F7F_7F7F_7F7F_7F7F) | word
        return ~nonZero & 0x8080_8080_8080_8080
    }

    /// Four bytes as four 16-bit lanes, in order.
    @inline(__always)
    private static func widened(_ bytes: UInt64) -> UInt64 {
        var value = (bytes | bytes &<< 16) & 0x0000_FFFF_0000_FFFF
        value = (value | value &<< 8) & 0x00FF_00FF_00FF_00FF
        return value
    }

    /// The block of the counts so far (the tables summed), the counts zeroed for the next.
    private static func closedBlock(counts: UnsafeMutablePointer<UInt32>, tables: Int, tokens: Range<Int>, bytes: Range<Int>, matches: Int) -> Block {
        var symbolCounts = Array(UnsafeBufferPointer(start: counts, count: 286))
        for table in 1..<tables {
            for symbol in 0..<256 { symbolCounts[symbol] += counts[table * 286 + symbol] }
        }
        symbolCounts[256] = 1
        counts.update(repeating: 0, count: tables * 286)
        return Block(tokenRange: tokens, byteRange: bytes, symbolCounts: symbolCounts, matches: matches)
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

    /// How one block will be written: its tables and header, or stored.
    private struct BlockPlan {
        let block: Block
        let header: DynamicHeader?
        /// Bytes the block takes at most (rounded up, plus the byte-alignment of a stored block).
        let byteBound: Int

        init(block: Block) {
            self.block = block
            let header = DynamicHeader(symbolCounts: block.symbolCounts)
            let dynamicBits = 3 + header.bits + header.literalCode.cost(of: block.symbolCounts)
                + DeflateTables.extraBits(of: block.symbolCounts) + block.matches
            let storedBytes = block.byteRange.count + 5 * max(1, (block.byteRange.count + 65534) / 65535) + 1
            if (dynamicBits + 7) / 8 < storedBytes {
                self.header = header
                byteBound = (dynamicBits + 7) / 8
            } else {
                self.header = nil
                byteBound = storedBytes
            }
        }

        func write(final: Bool, tokens: UnsafeMutablePointer<UInt16>, source: UnsafePointer<UInt8>, into writer: inout BitWriter) {
            guard let header else {
                writeStored(final: final, source: source, into: &writer)
                return
            }
            writer.write(final ? 1 : 0, count: 1)
            writer.write(2, count: 2)
            header.write(into: &writer)
            // One table entry per token: the code (and for a run its extra bits and the one-bit
            // distance code) in the low bits, the bit count in the top byte.
            let entries = header.tokenEntries()
            entries.withUnsafeBufferPointer { entries in
                var index = block.tokenRange.lowerBound
                let end = block.tokenRange.upperBound
                // Two tokens (at most 21 bits each) per flush of the writer.
                while index &+ 1 < end {
                    let first = entries[Int(tokens[index])], second = entries[Int(tokens[index &+ 1])]
                    writer.writeTwo(first & 0x00FF_FFFF_FFFF_FFFF, count: Int(truncatingIfNeeded: first >> 56),
                                    second & 0x00FF_FFFF_FFFF_FFFF, count: Int(truncatingIfNeeded: second >> 56))
                    index &+= 2
                }
                if index < end {
                    let entry = entries[Int(tokens[index])]
                    writer.write(entry & 0x00FF_FFFF_FFFF_FFFF, count: Int(truncatingIfNeeded: entry >> 56))
                }
            }
            let endOfBlock = header.literalCode
            writer.write(UInt64(endOfBlock.codes[256]), count: Int(endOfBlock.lengths[256]))
        }

        private func writeStored(final: Bool, source: UnsafePointer<UInt8>, into writer: inout BitWriter) {
            var start = block.byteRange.lowerBound
            repeat {
                let length = min(65535, block.byteRange.upperBound - start)
                let last = start + length == block.byteRange.upperBound
                writer.write(final && last ? 1 : 0, count: 1)
                writer.write(0, count: 2)
                writer.flushToByte()
                writer.write(UInt64(length) | UInt64(~UInt16(length)) << 16, count: 32)
                writer.copy(UnsafeBufferPointer(start: source + start, count: length))
                start += length
            } while start < block.byteRange.upperBound
        }
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
