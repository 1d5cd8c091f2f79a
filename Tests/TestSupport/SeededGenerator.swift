/// SplitMix64: a seeded random number generator for the mutation smoke tests, so that a
/// failure names a mutation that can be replayed.
public struct SeededGenerator: RandomNumberGenerator {
    public var state: UInt64

    public init(state: UInt64) { self.state = state }

    /// Seeded from a corpus path, so each file gets its own reproducible sequence.
    public init(seed text: String) {
        state = UInt64(text.utf8.reduce(0) { $0 &* 31 &+ Int($1) }.magnitude)
    }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
