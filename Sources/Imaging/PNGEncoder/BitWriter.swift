/// Writes bits least significant first (RFC 1951 3.1.1) into memory its owner sized exactly.
/// Branch-free: after every write the whole 64-bit accumulator is stored and the position
/// moves by the bytes completed, so at most 7 bits stay pending and no write checks capacity.
/// (A branch on "is a word full" is taken at random on compressed data and costs more than
/// the store.)
struct BitWriter {
    private let base: UnsafeMutablePointer<UInt8>
    private(set) var position = 0
    private var accumulator: UInt64 = 0
    private var pending = 0

    /// `base` must hold every byte to be written plus 8.
    init(base: UnsafeMutablePointer<UInt8>) {
        self.base = base
    }

    /// Up to 56 bits.
    @inline(__always)
    mutating func write(_ bits: UInt64, count: Int) {
        accumulator |= bits &<< UInt64(pending)
        pending &+= count
        storeCompletedBytes()
    }

    /// Two codes of up to 28 bits each, one store.
    @inline(__always)
    mutating func writeTwo(_ first: UInt64, count firstCount: Int, _ second: UInt64, count secondCount: Int) {
        accumulator |= first &<< UInt64(pending)
        pending &+= firstCount
        accumulator |= second &<< UInt64(pending)
        pending &+= secondCount
        storeCompletedBytes()
    }

    @inline(__always)
    private mutating func storeCompletedBytes() {
        UnsafeMutableRawPointer(base + position).storeBytes(of: accumulator.littleEndian, as: UInt64.self)
        let completed = pending &>> 3
        position &+= completed
        // At most 7 + 56 bits are pending, so fewer than 8 bytes complete: the shift is < 64.
        accumulator &>>= UInt64(completed &<< 3)
        pending &= 7
    }

    /// Pads with zero bits to a byte boundary (the pending bits are already in memory).
    mutating func flushToByte() {
        if pending > 0 { position += 1 }
        pending = 0
        accumulator = 0
    }

    /// Bytes copied as they are; the writer must be at a byte boundary.
    mutating func copy(_ bytes: UnsafeBufferPointer<UInt8>) {
        guard let source = bytes.baseAddress, !bytes.isEmpty else { return }
        (base + position).update(from: source, count: bytes.count)
        position += bytes.count
    }
}
