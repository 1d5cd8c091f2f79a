/// Adler-32 (RFC 1950 8.2), sixteen bytes at a time in SIMD lanes: several times zlib 1.2.13's
/// scalar `adler32` on this machine (docs/PERFORMANCE.md).
enum Adler32 {
    /// Over a block of n bytes from (a, b): a += Σx, b += n·a + Σ (n - i)·x[i]. Split into
    /// 16-byte chunks c: Σ (n - i)·x[i] = 16·Σ_c (the sum of the chunks before c) + Σ_c Σ_j
    /// (16 - j)·x[c, j]. 4096-byte blocks keep every lane and lane sum below 2^32.
    static let blockSize = 4096

    static func checksum(_ bytes: UnsafePointer<UInt8>, count: Int) -> UInt32 {
        var a: UInt64 = 1, b: UInt64 = 0
        let raw = UnsafeRawPointer(bytes)
        let weights = SIMD16<UInt32>(16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1)
        var offset = 0
        while offset + 16 <= count {
            let length = min(blockSize, (count - offset) & ~15)
            var sums = SIMD16<UInt32>(), before = SIMD16<UInt32>(), weighted = SIMD16<UInt32>()
            var chunk = offset
            while chunk < offset + length {
                let values = SIMD16<UInt32>(truncatingIfNeeded: raw.loadUnaligned(fromByteOffset: chunk, as: SIMD16<UInt8>.self))
                before &+= sums
                sums &+= values
                weighted &+= values &* weights
                chunk += 16
            }
            b = (b + UInt64(length) * a + 16 * UInt64(before.wrappedSum()) + UInt64(weighted.wrappedSum())) % 65521
            a = (a + UInt64(sums.wrappedSum())) % 65521
            offset += length
        }
        while offset < count {
            a = (a + UInt64(bytes[offset])) % 65521
            b = (b + a) % 65521
            offset += 1
        }
        return UInt32(b << 16 | a)
    }
}
