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

    /// A 16-bit lossless frame (SOF3) of one component, encoded here from differences
    /// drawn in every category 0...16, with codes 3 to 14 bits long: a code and its extra
    /// bits take from 3 to 27 bits, so samples go through the decoder's one-lookup path (at
    /// most 12 bits), its code-then-bits path, its long-code search (over 9 bits) and
    /// category 16 (32768, no extra bits). Every predictor, with and without restart
    /// intervals; the decoded samples must be the encoded ones exactly.
    @Test(arguments: 1...7)
    func losslessDifferencesOfEveryCategoryDecodeExactly(predictor: Int) throws {
        let width = 37, height = 11
        // Code lengths: categories 0-5 three bits, then 4, 5, ... 14 bits for 6-16.
        let lengths = [3, 3, 3, 3, 3, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14]
        var counts = [Int](repeating: 0, count: 16)
        for length in lengths { counts[length - 1] += 1 }
        // T.81 C.2: canonical codes, in order of length, symbols in order within a length.
        var codes = [Int](repeating: 0, count: 17)
        var code = 0
        for length in 1...16 {
            for symbol in 0...16 where lengths[symbol] == length { codes[symbol] = code; code += 1 }
            code <<= 1
        }
        for rowsPerInterval in [0, 3] {
            var generator = SplitMix(seed: UInt64(predictor * 100 + rowsPerInterval))
            var samples = [Int](repeating: 0, count: width * height)
            var writer = LosslessBitWriter()
            for row in 0..<height {
                let firstLine = row == 0 || (rowsPerInterval > 0 && row % rowsPerInterval == 0)
                if rowsPerInterval > 0 && row > 0 && row % rowsPerInterval == 0 {
                    writer.restart(UInt8(0xD0 + (row / rowsPerInterval - 1) % 8))
                }
                for column in 0..<width {
                    let index = row * width + column
                    let prediction: Int
                    if column == 0 {
                        prediction = firstLine ? 32768 : samples[index - width]
                    } else if firstLine {
                        prediction = samples[index - 1]
                    } else {
                        let a = samples[index - 1], b = samples[index - width], c = samples[index - width - 1]
                        switch predictor {
                        case 1: prediction = a
                        case 2: prediction = b
                        case 3: prediction = c
                        case 4: prediction = a + b - c
                        case 5: prediction = a + ((b - c) >> 1)
                        case 6: prediction = b + ((a - c) >> 1)
                        default: prediction = (a + b) >> 1
                        }
                    }
                    let category = Int(generator.next() % 17)
                    let difference: Int
                    if category == 0 {
                        difference = 0
                    } else if category == 16 {
                        difference = 32768
                    } else {
                        let magnitude = (1 << (category - 1)) + Int(generator.next() % UInt64(1 << (category - 1)))
                        difference = generator.next() % 2 == 0 ? magnitude : -magnitude
                    }
                    samples[index] = (prediction + difference) & 0xFFFF
                    writer.write(codes[category], bits: lengths[category])
                    if category > 0 && category < 16 {
                        // F.1.2.1.1: a negative difference is sent as its value minus one.
                        let extra = difference > 0 ? difference : difference - 1
                        writer.write(extra & ((1 << category) - 1), bits: category)
                    }
                }
            }
            var bytes: [UInt8] = [0xFF, 0xD8]
            bytes += Self.segment(0xC4, [0x00] + counts.map(UInt8.init) + (0...16).sorted { lengths[$0] < lengths[$1] }.map(UInt8.init))
            if rowsPerInterval > 0 {
                let interval = rowsPerInterval * width
                bytes += Self.segment(0xDD, [UInt8(interval >> 8), UInt8(interval & 0xFF)])
            }
            bytes += Self.segment(0xC3, [16, 0, UInt8(height), 0, UInt8(width), 1, 1, 0x11, 0])
            bytes += Self.segment(0xDA, [1, 1, 0x00, UInt8(predictor), 0, 0])
            bytes += writer.finished() + [0xFF, 0xD9]

            let image = try Self.decode(bytes)
            #expect(image.width == width && image.height == height && image.precision == 16)
            let decoded = stride(from: 0, to: image.samples.count, by: 2).map { Int(image.samples[$0]) | Int(image.samples[$0 + 1]) << 8 }
            let firstDifference = samples.indices.first { $0 >= decoded.count || decoded[$0] != samples[$0] }
            #expect(decoded.count == samples.count && firstDifference == nil,
                    "predictor \(predictor), \(rowsPerInterval) rows a restart interval: sample \(firstDifference ?? -1) differs")
        }
    }
}

/// Bits most significant first, an FF data byte followed by a stuffed 00 (T.81 F.1.2.3),
/// each restart interval and the scan padded with 1 bits.
private struct LosslessBitWriter {
    private var bytes: [UInt8] = []
    private var pending = 0
    private var pendingCount = 0

    mutating func write(_ value: Int, bits: Int) {
        for bit in stride(from: bits - 1, through: 0, by: -1) {
            pending = pending << 1 | (value >> bit) & 1
            pendingCount += 1
            if pendingCount == 8 { flushByte() }
        }
    }

    private mutating func flushByte() {
        bytes.append(UInt8(pending))
        if pending == 0xFF { bytes.append(0) }
        pending = 0
        pendingCount = 0
    }

    private mutating func pad() {
        while pendingCount != 0 { write(1, bits: 1) }
    }

    mutating func restart(_ marker: UInt8) {
        pad()
        bytes += [0xFF, marker]
    }

    mutating func finished() -> [UInt8] {
        pad()
        return bytes
    }
}

/// A small seeded generator (SplitMix64), so that a failure can be replayed.
private struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
