@testable import Imaging
import Testing

/// What scripts/fuzz-jpeg's campaign found about dicomdrop's own JPEG decoder
/// (docs/FUZZING.md), held with frames built byte by byte.
@Suite struct SwiftJPEGDecoderTests {
    /// A marker segment: FF, the marker, the 2-byte length and the payload.
    static func segment(_ marker: UInt8, _ payload: [UInt8]) -> [UInt8] {
        [0xFF, marker, UInt8((payload.count + 2) >> 8), UInt8((payload.count + 2) & 0xFF)] + payload
    }

    /// A baseline frame whose components 1, 2, ... have the sampling factors `sampling`
    /// (H << 4 | V each). Its DC and AC Huffman tables have one 1-bit code, for DC size 0
    /// and for end of block, so a block of zero bits costs exactly 2 and decodes to 128.
    /// Each scan codes one component with `dataBytes` zero bytes.
    static func frame(width: Int, height: Int, sampling: [UInt8], scans: [(component: UInt8, dataBytes: Int)]) -> [UInt8] {
        let oneCode: [UInt8] = [1] + [UInt8](repeating: 0, count: 15) + [0]
        var bytes: [UInt8] = [0xFF, 0xD8]
        bytes += segment(0xDB, [0] + [UInt8](repeating: 1, count: 64))
        bytes += segment(0xC4, [0x00] + oneCode + [0x10] + oneCode)
        var header: [UInt8] = [8, UInt8(height >> 8), UInt8(height & 0xFF), UInt8(width >> 8), UInt8(width & 0xFF), UInt8(sampling.count)]
        for (index, factors) in sampling.enumerated() { header += [UInt8(index + 1), factors, 0] }
        bytes += segment(0xC0, header)
        for scan in scans {
            bytes += segment(0xDA, [1, scan.component, 0x00, 0, 63, 0])
            bytes += [UInt8](repeating: 0, count: scan.dataBytes)
        }
        return bytes + [0xFF, 0xD9]
    }

    static func decode(_ bytes: [UInt8]) throws -> JPEGDecodedImage {
        try bytes.withUnsafeBytes { raw in try SwiftJPEGDecoder.decode(raw) }
    }

    /// 65,681 bytes declaring a 16384x16384 frame of three full-resolution components and a
    /// 1x1-sampled fourth, whose one scan codes only the fourth: its data hold that scan,
    /// but not the other three components. Before the fix the first scan allocated all four
    /// planes (1.6 GB, 7 s under AddressSanitizer) and only then found them never coded.
    @Test func aSmallStreamDeclaringAHugeFrameIsRefusedBeforeItsSamplesAreAllocated() {
        let bytes = Self.frame(width: 16384, height: 16384, sampling: [0x44, 0x44, 0x44, 0x11],
                               scans: [(component: 4, dataBytes: 512 * 512 * 2 / 8)])
        #expect(bytes.count == 65681)
        #expect(throws: JPEGDecodingError.truncated(at: 65681)) { try Self.decode(bytes) }
    }

    /// The same layout at 32x32, with exactly 2 bits a block in every scan: the check of the
    /// whole frame counts no more than the scans need, so it still decodes.
    @Test func aFrameWhoseScansHoldTwoBitsPerBlockStillDecodes() throws {
        let bytes = Self.frame(width: 32, height: 32, sampling: [0x44, 0x44, 0x44, 0x11],
                               scans: [(4, 1), (1, 4), (2, 4), (3, 4)])
        let image = try Self.decode(bytes)
        #expect(image.width == 32 && image.height == 32 && image.components == 4 && image.precision == 8)
        #expect(image.samples == [UInt8](repeating: 128, count: 32 * 32 * 4))
    }
}
