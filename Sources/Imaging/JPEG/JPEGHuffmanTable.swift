/// A Huffman table from a DHT segment (T.81 B.2.4.2), in the form the decoders read: a
/// lookup of the next `fastBits` bits for the short codes, which are nearly all of them,
/// then the code-by-length search of T.81 F.2.2.3 for the rest.
///
/// A class over raw memory rather than a struct of arrays: the table is built once and read
/// for every sample, and the hot loops must read it without bounds checks or reference
/// counting (they read a `Lookup`, plain pointers, while the table is kept alive). It is
/// never mutated after `init`.
final class JPEGHuffmanTable {
    /// Computed, not stored: a stored static would be read through a lazy initializer check.
    static var fastBits: Int { 9 }
    /// How many bits `differences` looks up: a lossless code and its extra bits together
    /// (T.81 H.1.2.2) are 6 to 12 bits for nearly every sample of a CT or MR frame.
    static var differenceBits: Int { 12 }

    /// The table's memory as the decoding loops read it; valid while the table lives.
    struct Lookup {
        let fast: UnsafePointer<UInt16>
        let maxCode: UnsafePointer<Int32>
        let symbolOffset: UnsafePointer<Int32>
        let symbols: UnsafePointer<UInt8>
        let differences: UnsafePointer<Int32>
    }

    var lookup: Lookup {
        Lookup(fast: fast, maxCode: maxCode, symbolOffset: symbolOffset, symbols: symbols, differences: differences)
    }

    /// For each value of the next `fastBits` bits: the length of the code they begin with
    /// (high byte) and its symbol (low byte); 0 when the code is longer, or matches nothing.
    let fast: UnsafeMutablePointer<UInt16>
    /// For each length 0...16: the largest code of that length, -1 when there is none.
    let maxCode: UnsafeMutablePointer<Int32>
    /// For each length: what to add to a code of that length to get its index in `symbols`.
    let symbolOffset: UnsafeMutablePointer<Int32>
    let symbols: UnsafeMutablePointer<UInt8>
    /// For each value of the next `differenceBits` bits that holds a whole lossless code and
    /// the extra bits of its difference: the difference (T.81 F.2.2.1's EXTEND applied)
    /// times 256 plus the number of bits they take; 0 when the bits hold less (a longer
    /// code, or more extra bits), which the decoder then reads code and bits apart. One
    /// lookup instead of a lookup, a shift and a sign fix per sample.
    let differences: UnsafeMutablePointer<Int32>

    /// Builds the table from the 16 code-length counts and the symbols of a DHT entry
    /// (T.81 C.2: codes assigned in order of length). Nil when the counts assign more codes
    /// of some length than that length has.
    init?(counts: [Int], symbols values: [UInt8]) {
        guard counts.count == 16, counts.reduce(0, +) == values.count, values.count <= 256 else { return nil }
        fast = .allocate(capacity: 1 << Self.fastBits)
        fast.initialize(repeating: 0, count: 1 << Self.fastBits)
        maxCode = .allocate(capacity: 17)
        maxCode.initialize(repeating: -1, count: 17)
        symbolOffset = .allocate(capacity: 17)
        symbolOffset.initialize(repeating: 0, count: 17)
        symbols = .allocate(capacity: 256)
        symbols.initialize(repeating: 0, count: 256)
        for (index, value) in values.enumerated() { symbols[index] = value }
        differences = .allocate(capacity: 1 << Self.differenceBits)
        differences.initialize(repeating: 0, count: 1 << Self.differenceBits)

        var code = 0, index = 0
        for length in 1...16 {
            let count = counts[length - 1]
            // Codes of this length must fit in `length` bits: more is an over-full table.
            guard code + count <= 1 << length else { return nil }
            if count > 0 {
                symbolOffset[length] = Int32(index - code)
                for _ in 0..<count {
                    if length <= Self.fastBits {
                        let shift = Self.fastBits - length
                        let entry = UInt16(length << 8) | UInt16(values[index])
                        for low in 0..<(1 << shift) { fast[code << shift | low] = entry }
                    }
                    fillDifferences(code: code, length: length, size: Int(values[index]))
                    code += 1
                    index += 1
                }
                maxCode[length] = Int32(code - 1)
            }
            code <<= 1
        }
    }

    /// The `differences` entries of the code `code` of `length` bits for the category
    /// `size`: one per value of its extra bits, when code and bits fit in `differenceBits`.
    /// Category 16 is the difference 32768 without extra bits (H.1.2.2); larger ones are
    /// no lossless category and are left to the decoder's error.
    private func fillDifferences(code: Int, length: Int, size: Int) {
        guard size <= 16 else { return }
        let extraBits = size == 16 ? 0 : size
        let used = length + extraBits
        guard used <= Self.differenceBits else { return }
        let spare = Self.differenceBits - used
        for extra in 0..<(1 << extraBits) {
            let difference: Int
            if size == 16 {
                difference = 32768
            } else if size == 0 {
                difference = 0
            } else {
                difference = extra < 1 << (size - 1) ? extra - (1 << size) + 1 : extra
            }
            let entry = Int32(difference * 256 + used)
            let prefix = (code << extraBits | extra) << spare
            for low in 0..<(1 << spare) { differences[prefix | low] = entry }
        }
    }

    deinit {
        differences.deallocate()
        fast.deallocate()
        maxCode.deallocate()
        symbolOffset.deallocate()
        symbols.deallocate()
    }
}
