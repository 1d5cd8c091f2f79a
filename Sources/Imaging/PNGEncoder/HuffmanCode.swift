/// A canonical Huffman code (RFC 1951 3.2.2) for symbol frequencies, no code longer than a
/// limit, with each code stored bit-reversed: deflate writes bits least significant first.
struct HuffmanCode {
    /// Bits per symbol; 0 for a symbol that never occurs.
    private(set) var lengths: [UInt8]
    /// Each symbol's code, reversed, ready to be or-ed into a least-significant-first bit buffer.
    private(set) var codes: [UInt16]

    /// A code for `frequencies` with at most `limit` bits per symbol. At least two symbols
    /// must occur: deflate decoders (zlib's among them) want complete codes, and a single
    /// symbol gives none; callers add a second one.
    init(frequencies: [UInt32], limit: Int) {
        lengths = HuffmanCode.lengths(of: frequencies, limit: limit)
        codes = HuffmanCode.canonicalCodes(lengths: lengths, limit: limit)
    }

    /// Bits of `frequencies` coded with this code (extra bits not included).
    func cost(of frequencies: [UInt32]) -> Int {
        var bits = 0
        for symbol in frequencies.indices { bits &+= Int(frequencies[symbol]) &* Int(lengths[symbol]) }
        return bits
    }

    /// Lengths from a Huffman tree built by the two-queue method over the symbols sorted by
    /// frequency, leaves deeper than `limit` brought up to it and the code repaired.
    ///
    /// The working arrays (sort keys, node weights, parents, depths, counts per length) live
    /// in one temporary allocation, on the stack where it fits: an image's blocks each build
    /// two codes, and as arrays they were seven heap allocations a code (a tenth of a CT/MR
    /// run's mallocs).
    private static func lengths(of frequencies: [UInt32], limit: Int) -> [UInt8] {
        var lengths = [UInt8](repeating: 0, count: frequencies.count)
        let symbols = frequencies.count, nodes = 2 * symbols
        // Words: keys (symbols), weights (nodes), parents (nodes), depths (nodes), counts per
        // length (limit + 1).
        withUnsafeTemporaryAllocation(of: UInt64.self, capacity: symbols + 3 * nodes + limit + 1) { scratch in
            let keys = scratch.baseAddress!
            let weight = keys + symbols, parent = weight + nodes, depth = parent + nodes, lengthCounts = depth + nodes
            // Ascending frequency, ties by symbol: the tree is the same for the same input.
            // Sorted as one packed key per symbol (frequency above, symbol below): a plain
            // integer sort, where a closure comparing tuples cost 0.7% of a CT/MR run.
            var count = 0
            for symbol in 0..<symbols where frequencies[symbol] > 0 {
                keys[count] = UInt64(frequencies[symbol]) << 32 | UInt64(symbol)
                count += 1
            }
            var sorted = UnsafeMutableBufferPointer(start: keys, count: count)
            sorted.sort()
            @inline(__always) func used(_ leaf: Int) -> Int { Int(truncatingIfNeeded: keys[leaf] & 0xFFFF_FFFF) }
            precondition(count <= 1 << limit, "\(count) symbols cannot have codes of \(limit) bits")
            guard count >= 2 else {
                if count == 1 { lengths[used(0)] = 1 }
                return
            }
            // Nodes 0..<count are the leaves in key order; count..<2*count-1 the internal
            // nodes, made in non-decreasing weight order, so each queue stays sorted.
            for leaf in 0..<count { weight[leaf] = keys[leaf] >> 32 }
            var nextLeaf = 0, nextInternal = count, made = count
            func takeSmallest() -> Int {
                if nextLeaf < count && (nextInternal >= made || weight[nextLeaf] <= weight[nextInternal]) {
                    nextLeaf += 1
                    return nextLeaf - 1
                }
                nextInternal += 1
                return nextInternal - 1
            }
            while made < 2 * count - 1 {
                let first = takeSmallest(), second = takeSmallest()
                weight[made] = weight[first] + weight[second]
                parent[first] = UInt64(made)
                parent[second] = UInt64(made)
                made += 1
            }
            // Depths from the root down: a node's parent always has a higher index.
            depth[2 * count - 2] = 0
            for node in stride(from: 2 * count - 3, through: 0, by: -1) { depth[node] = depth[Int(parent[node])] + 1 }
            for bits in 0...limit { lengthCounts[bits] = 0 }
            for leaf in 0..<count { lengthCounts[min(Int(depth[leaf]), limit)] += 1 }
            // Leaves clamped to the limit over-fill the code space (Kraft sum above 1, counted
            // in units of 2^-limit). Each step takes away one longest code and splits a shorter
            // one in two: the same number of codes, one unit less, until the sum is exactly 1
            // (miniz's repair).
            var kraft = 0
            for bits in 1...limit { kraft += Int(lengthCounts[bits]) << (limit - bits) }
            while kraft > 1 << limit {
                lengthCounts[limit] -= 1
                for bits in stride(from: limit - 1, through: 1, by: -1) where lengthCounts[bits] > 0 {
                    lengthCounts[bits] -= 1
                    lengthCounts[bits + 1] += 2
                    break
                }
                kraft -= 1
            }
            // The rarest symbols take the longest codes.
            var leaf = 0
            for bits in stride(from: limit, through: 1, by: -1) {
                for _ in 0..<Int(lengthCounts[bits]) {
                    lengths[used(leaf)] = UInt8(bits)
                    leaf += 1
                }
            }
        }
        return lengths
    }

    private static func canonicalCodes(lengths: [UInt8], limit: Int) -> [UInt16] {
        var codes = [UInt16](repeating: 0, count: lengths.count)
        // Counts per length, then the next code of each length: 16 words each at most.
        withUnsafeTemporaryAllocation(of: Int.self, capacity: 2 * (limit + 1)) { scratch in
            let lengthCounts = scratch.baseAddress!, nextCode = lengthCounts + (limit + 1)
            for bits in 0...limit { lengthCounts[bits] = 0 }
            for length in lengths where length > 0 { lengthCounts[Int(length)] += 1 }
            var code = 0
            nextCode[0] = 0
            for bits in 1...limit {
                code = (code + lengthCounts[bits - 1]) << 1
                nextCode[bits] = code
            }
            for symbol in lengths.indices where lengths[symbol] > 0 {
                let length = Int(lengths[symbol])
                codes[symbol] = reversed(UInt16(nextCode[length]), bits: length)
                nextCode[length] += 1
            }
        }
        return codes
    }

    static func reversed(_ code: UInt16, bits: Int) -> UInt16 {
        code.bitReversed >> (16 - bits)
    }
}

private extension UInt16 {
    var bitReversed: UInt16 {
        var value = self
        value = (value & 0x5555) << 1 | (value >> 1) & 0x5555
        value = (value & 0x3333) << 2 | (value >> 2) & 0x3333
        value = (value & 0x0F0F) << 4 | (value >> 4) & 0x0F0F
        return value << 8 | value >> 8
    }
}
