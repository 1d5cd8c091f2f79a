import CZlib
@testable import Imaging
import Testing
import TestSupport

/// The deflater's blocks, read back by zlib's own inflate: tables built from a sample that
/// misses part of the block, runs that carry a block past its end or to the end of the
/// input, noise stored, and sizes around every block and sample boundary.
@Suite struct RunLengthDeflaterTests {
    /// zlib's inflate of a raw deflate stream (no zlib header), expecting `count` bytes and
    /// the end of the stream: nil when zlib refuses it.
    static func inflated(_ stream: [UInt8], count: Int) -> [UInt8]? {
        var output = [UInt8](repeating: 0, count: count + 1)
        var inflater = z_stream()
        guard inflateInit2_(&inflater, -15, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else { return nil }
        defer { inflateEnd(&inflater) }
        var input = stream
        let (status, produced) = input.withUnsafeMutableBufferPointer { input in
            output.withUnsafeMutableBufferPointer { output in
                inflater.next_in = input.baseAddress
                inflater.avail_in = uInt(input.count)
                inflater.next_out = output.baseAddress
                inflater.avail_out = uInt(output.count)
                return (CZlib.inflate(&inflater, Z_FINISH), Int(inflater.total_out))
            }
        }
        guard status == Z_STREAM_END, inflater.avail_in == 0 else { return nil }
        return Array(output.prefix(produced))
    }

    static func deflated(_ bytes: [UInt8]) -> [UInt8] {
        bytes.withUnsafeBufferPointer { RunLengthDeflater.deflate($0) }
    }

    static func noise(_ count: Int, using generator: inout SeededGenerator) -> [UInt8] {
        (0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) }
    }

    /// The stored size of `count` bytes: 5 bytes of header per 65,535, and the last byte of
    /// the block before.
    static func storedSize(_ count: Int) -> Int { count + 5 * max(1, (count + 65534) / 65535) + 1 }

    @Test func aRunThatCarriesABlockToTheEndIsFollowedByAnEmptyFinalBlock() {
        var generator = SeededGenerator(state: 1)
        // The first block's nominal end falls inside the zeros, which run to the end of the
        // input: the block that holds them was not known to be the last when it began.
        let input = Self.noise(RunLengthDeflater.bytesPerBlock - 5000, using: &generator)
            + [UInt8](repeating: 0, count: RunLengthDeflater.bytesPerBlock)
        let stream = Self.deflated(input)
        #expect(Self.inflated(stream, count: input.count) == input)
    }

    @Test func aBlockWhoseSampleMissesItsNoiseIsRewrittenStored() {
        var generator = SeededGenerator(state: 2)
        // Every sampled piece is the bytes 0...3 over and over (short codes for them: a small
        // estimate), every byte between them noise: coded with the sample's tables, where the
        // other 252 byte values have the longest codes, the block would be far larger than
        // stored.
        let count = 3 * RunLengthDeflater.bytesPerBlock
        var input = Self.noise(count, using: &generator)
        for index in 0..<count where index % RunLengthDeflater.sampleStride < RunLengthDeflater.sampleLength {
            input[index] = UInt8(index % 4)
        }
        let stream = Self.deflated(input)
        #expect(Self.inflated(stream, count: input.count) == input)
        #expect(stream.count <= Self.storedSize(count) + 3 * 6, "\(stream.count) bytes for \(count)")
    }

    @Test func noiseIsStoredAndAFlatInputCodedSmall() {
        var generator = SeededGenerator(state: 3)
        let noise = Self.noise(300_000, using: &generator)
        let stream = Self.deflated(noise)
        #expect(Self.inflated(stream, count: noise.count) == noise)
        #expect(stream.count <= Self.storedSize(noise.count) + 3 * 6)
        let flat = [UInt8](repeating: 0x80, count: 1_000_000)
        let flatStream = Self.deflated(flat)
        #expect(Self.inflated(flatStream, count: flat.count) == flat)
        // About two bits per 258-byte run, and a header per block.
        #expect(flatStream.count < 3000, "\(flatStream.count) bytes")
    }

    /// Sizes around the block, the sample's pieces and stride, with the three kinds of
    /// content in turn: noise, runs and a gradient of small differences (filtered rows).
    @Test func sizesAroundTheBlockAndSampleBoundariesRoundTrip() {
        var generator = SeededGenerator(state: 4)
        let block = RunLengthDeflater.bytesPerBlock, piece = RunLengthDeflater.sampleLength, stride = RunLengthDeflater.sampleStride
        let edges = [0, 1, 2, 3, 7, 8, 9, piece - 1, piece, piece + 1, stride - 1, stride, stride + 1,
                     block - 1, block, block + 1, 2 * block - 3, 2 * block, 2 * block + 260]
        var failures: [String] = []
        for count in edges where count > 0 {
            for kind in 0..<3 {
                let input: [UInt8] = (0..<count).map { index in
                    switch kind {
                    case 0: UInt8.random(in: 0...255, using: &generator)
                    case 1: index / 300 % 2 == 0 ? 0 : UInt8(truncatingIfNeeded: index / 300)
                    default: UInt8.random(in: 0...3, using: &generator) == 0 ? UInt8(truncatingIfNeeded: index % 5) : 0
                    }
                }
                if Self.inflated(Self.deflated(input), count: count) != input { failures.append("\(count) bytes, kind \(kind)") }
            }
        }
        #expect(failures == [])
        #expect(Self.inflated(Self.deflated([]), count: 0) == [])
    }
}
