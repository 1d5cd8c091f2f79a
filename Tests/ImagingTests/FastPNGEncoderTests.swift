import CZlib
import DICOM
import Foundation
@testable import Imaging
import Testing
import TestSupport

/// The fast PNG encoder writes files that decode, with libpng and with Pillow, to exactly the
/// pixels it was given: seeded images of every width from 1 to 300, every frame the corpus
/// renders, and mutated rasters.
@Suite struct FastPNGEncoderTests {
    static let corpus = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("corpus/files")

    enum Texture: CaseIterable {
        /// One value: a few long runs.
        case flat
        /// Every sample random: incompressible, written as stored blocks.
        case noisy
        /// A smooth gradient with flat patches and sparse noise, like a scan's background and body.
        case mixed
    }

    static func image(width: Int, height: Int, channels: Int, bitDepth: Int, texture: Texture,
                      using generator: inout SeededGenerator) -> Raster {
        let samples = width * height * channels
        var pixels = [UInt8](repeating: 0, count: samples * bitDepth / 8)
        let flatValue = UInt16(truncatingIfNeeded: generator.next())
        for index in 0..<samples {
            let x = (index / channels) % width, y = index / channels / width
            let value: UInt16
            switch texture {
            case .flat: value = flatValue
            case .noisy: value = UInt16(truncatingIfNeeded: generator.next())
            case .mixed:
                let patch = (x / 7 + y / 5) % 3 == 0
                let noise = UInt16.random(in: 0..<16, using: &generator) == 0 ? UInt16.random(in: 0...2000, using: &generator) : 0
                value = patch ? flatValue : UInt16(truncatingIfNeeded: x * 211 + y * 97 + index % channels * 3000) &+ noise
            }
            if bitDepth == 8 {
                pixels[index] = UInt8(truncatingIfNeeded: value >> 8)
            } else {
                pixels[index * 2] = UInt8(truncatingIfNeeded: value)
                pixels[index * 2 + 1] = UInt8(truncatingIfNeeded: value >> 8)
            }
        }
        return Raster(width: width, height: height, channels: channels, bitDepth: bitDepth, pixels: pixels)
    }

    /// Every width 1...300, its height cycling through 1...40, for every depth, colour and
    /// texture: 3,600 images.
    static func seededImages() -> [(name: String, raster: Raster)] {
        var generator = SeededGenerator(state: 16)
        var images: [(String, Raster)] = []
        for bitDepth in [8, 16] {
            for channels in [1, 3] {
                for texture in Texture.allCases {
                    for width in 1...300 {
                        let height = 1 + (width * 7 + channels + bitDepth) % 40
                        images.append(("\(width)x\(height)x\(channels)-\(bitDepth)bit-\(texture)",
                                       image(width: width, height: height, channels: channels, bitDepth: bitDepth, texture: texture, using: &generator)))
                    }
                }
            }
        }
        return images
    }

    @Test func seededImagesOfEveryWidthDecodeWithLibPNGToTheirPixels() throws {
        var mismatches: [String] = []
        var storedAndCompressed = (stored: 0, smaller: 0)
        for (name, raster) in Self.seededImages() {
            let png = try FastPNGEncoder.encode(raster)
            if try PNGCodec.decode(png) != raster { mismatches.append(name) }
            if png.count < raster.pixels.count { storedAndCompressed.smaller += 1 } else { storedAndCompressed.stored += 1 }
        }
        #expect(mismatches == [])
        // Both kinds of block were written: noise is stored, the rest is coded.
        #expect(storedAndCompressed.stored > 1000)
        #expect(storedAndCompressed.smaller > 2000)
    }

    /// Pillow (zlib's inflate behind it) decodes every seeded image to the same samples.
    @Test func seededImagesDecodeWithPillowToTheirPixels() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("fast-png-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        var listing = ""
        for (index, (name, raster)) in Self.seededImages().enumerated() where index % 3 == 0 {
            try FastPNGEncoder.encode(raster).write(to: folder.appendingPathComponent("\(index).png"))
            // Pillow gives samples in host order too: compare against the raster's own bytes.
            try Data(raster.pixels).write(to: folder.appendingPathComponent("\(index).raw"))
            listing += "\(index) \(name) \(raster.channels) \(raster.bitDepth)\n"
        }
        try listing.write(to: folder.appendingPathComponent("list.txt"), atomically: true, encoding: .utf8)
        let script = """
        import sys, numpy
        from PIL import Image
        folder = sys.argv[1]
        bad, checked = [], 0
        for line in open(folder + "/list.txt"):
            index, name, channels, depth = line.split()
            image = Image.open(f"{folder}/{index}.png")
            image.load()
            if depth == "16" and channels == "1":
                pixels = numpy.asarray(image, dtype=numpy.uint16)  # mode I;16
            elif depth == "16":
                # Pillow reduces 16-bit RGB to 8 bits: compare the high bytes.
                pixels = numpy.asarray(image, dtype=numpy.uint8)
            else:
                pixels = numpy.asarray(image, dtype=numpy.uint8)
            raw = numpy.fromfile(f"{folder}/{index}.raw", dtype=numpy.uint16 if depth == "16" else numpy.uint8)
            if depth == "16" and channels == "3":
                raw = (raw >> 8).astype(numpy.uint8)
            checked += 1
            if not numpy.array_equal(pixels.reshape(-1), raw):
                bad.append(name)
        print(checked, len(bad), " ".join(bad[:10]))
        """
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", script, folder.path]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        #expect(text.trimmingCharacters(in: .whitespacesAndNewlines) == "1200 0")
    }

    /// Every frame of every corpus image dicomdrop renders, at 8 and 16 bits.
    @Test func everyRenderedCorpusFrameDecodesToItsPixels() throws {
        let files = FileManager.default.enumerator(atPath: Self.corpus.path)!.compactMap { $0 as? String }.filter { $0.hasSuffix(".dcm") }.sorted()
        var frames = 0
        var mismatches: [String] = []
        for path in files {
            guard let file = try? DICOMFile.read(path: Self.corpus.appendingPathComponent(path).path),
                  let renderer = try? ImageRenderer(dataSet: file.dataSet, transferSyntax: file.transferSyntax) else { continue }
            for frame in 0..<min(renderer.frameCount, 40) {
                for bitDepth in [8, 16] {
                    guard let raster = try? renderer.render(frame: frame, bitDepth: bitDepth) else { continue }
                    frames += 1
                    if try PNGCodec.decode(try FastPNGEncoder.encode(raster)) != raster { mismatches.append("\(path) frame \(frame + 1) at \(bitDepth) bits") }
                }
            }
        }
        #expect(mismatches == [])
        #expect(frames > 500)
    }

    /// A corpus render with bytes overwritten, runs planted, rows dropped and values flipped:
    /// 1,500 mutations, each written and read back exactly.
    @Test func mutatedRastersDecodeToTheirPixels() throws {
        let file = try DICOMFile.read(path: Self.corpus.appendingPathComponent("pydicom/test_files/CT_small.dcm").path)
        let original = try ImageRenderer(dataSet: file.dataSet, transferSyntax: file.transferSyntax).render(frame: 0)
        var generator = SeededGenerator(seed: "fast png mutations")
        var mismatches: [Int] = []
        for round in 0..<1500 {
            var raster = original
            switch Int.random(in: 0..<5, using: &generator) {
            case 0:  // random bytes overwritten
                for _ in 0..<Int.random(in: 1...2000, using: &generator) {
                    raster.pixels[Int.random(in: 0..<raster.pixels.count, using: &generator)] = UInt8.random(in: 0...255, using: &generator)
                }
            case 1:  // a run of one value, of any length, anywhere
                let start = Int.random(in: 0..<raster.pixels.count, using: &generator)
                let end = min(raster.pixels.count, start + Int.random(in: 1...3000, using: &generator))
                let value = UInt8.random(in: 0...255, using: &generator)
                for index in start..<end { raster.pixels[index] = value }
            case 2:  // fewer rows
                raster.height = Int.random(in: 1...raster.height, using: &generator)
                raster.pixels = Array(raster.pixels.prefix(raster.width * raster.height))
            case 3:  // the same bytes seen as another width
                let width = Int.random(in: 1...raster.width * 2, using: &generator)
                raster.width = width
                raster.height = raster.pixels.count / width
                raster.pixels = Array(raster.pixels.prefix(width * raster.height))
            default:  // every byte xor-ed with a value, or alternating runs of 2 and 3
                let key = UInt8.random(in: 0...255, using: &generator)
                for index in raster.pixels.indices { raster.pixels[index] = index % 5 < 2 ? key : raster.pixels[index] ^ key }
            }
            if try PNGCodec.decode(try FastPNGEncoder.encode(raster)) != raster { mismatches.append(round) }
        }
        #expect(mismatches == [])
    }

    /// Runs of every length that matters to the length codes (2 to 1,040 bytes, 258 being the
    /// longest match) between literals.
    @Test func runsOfEveryLengthAroundTheMatchLimitsRoundTrip() throws {
        for length in Array(1...300) + [514, 515, 516, 517, 518, 774, 1032, 1040] {
            var pixels: [UInt8] = [7, 9]
            pixels += [UInt8](repeating: 200, count: length)
            pixels += [3, 1, 4]
            let raster = Raster(width: pixels.count, height: 1, channels: 1, bitDepth: 8, pixels: pixels)
            #expect(try PNGCodec.decode(try FastPNGEncoder.encode(raster)) == raster, "run of \(length)")
        }
    }

    /// Code lengths never exceed their limit and always make a complete code (Kraft sum 1),
    /// also for counts that grow like Fibonacci numbers, whose Huffman tree is as deep as
    /// there are symbols.
    @Test func huffmanCodesAreCompleteAndWithinTheirLimit() {
        var generator = SeededGenerator(seed: "huffman")
        var cases: [[UInt32]] = [[1, 1], [5, 0, 0, 1], Array(repeating: 1, count: 286)]
        var fibonacci: [UInt32] = [1, 1]
        while fibonacci.count < 40 { fibonacci.append(fibonacci[fibonacci.count - 1] + fibonacci[fibonacci.count - 2]) }
        cases.append(fibonacci)
        cases.append(fibonacci + Array(repeating: 0, count: 246))
        for _ in 0..<200 {
            let count = Int.random(in: 2...286, using: &generator)
            cases.append((0..<count).map { _ in
                Bool.random(using: &generator) ? 0 : UInt32(1) << UInt32.random(in: 0...24, using: &generator)
            } + [1, 1])
        }
        // The code-length code: 19 symbols, at most 7 bits.
        for _ in 0..<200 {
            cases.append((0..<19).map { _ in Bool.random(using: &generator) ? 0 : UInt32.random(in: 1...100_000, using: &generator) } + [1])
        }
        cases.append(Array(fibonacci.prefix(19)))
        for (index, frequencies) in cases.enumerated() {
            for limit in [7, 15] where frequencies.count <= 20 || limit == 15 {
                let code = HuffmanCode(frequencies: frequencies, limit: limit)
                let used = frequencies.indices.filter { frequencies[$0] > 0 }
                #expect(used.allSatisfy { code.lengths[$0] >= 1 && code.lengths[$0] <= limit }, "case \(index), limit \(limit)")
                #expect(frequencies.indices.filter { frequencies[$0] == 0 }.allSatisfy { code.lengths[$0] == 0 })
                let kraft = used.reduce(0.0) { $0 + pow(2.0, -Double(code.lengths[$1])) }
                #expect(kraft == 1.0, "case \(index), limit \(limit): Kraft sum \(kraft)")
            }
        }
    }

    /// The SIMD Adler-32 equals zlib's on every length around its 16-byte chunks and
    /// 4,096-byte blocks, on random bytes and on all 0xFF (the largest lane sums).
    @Test func adler32EqualsZlibs() {
        var generator = SeededGenerator(seed: "adler")
        let lengths = Array(0...70) + [4095, 4096, 4097, 4111, 4112, 4113, 8192, 65_537, 1_000_003]
        for length in lengths {
            for bytes in [(0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }, [UInt8](repeating: 0xFF, count: length)] {
                let ours = bytes.withUnsafeBufferPointer { Adler32.checksum($0.baseAddress ?? UnsafePointer(bitPattern: 1)!, count: length) }
                let zlibs = bytes.withUnsafeBufferPointer { UInt32(adler32_z(1, $0.baseAddress, z_size_t(length))) }
                #expect(ours == zlibs, "\(length) bytes")
            }
        }
    }

    @Test func impossibleRastersAreRefusedWithTheirShape() {
        #expect(throws: PNGCodec.Failure.self) {
            try FastPNGEncoder.encode(Raster(width: 3, height: 2, channels: 1, bitDepth: 8, pixels: [1, 2, 3]))
        }
        #expect(throws: PNGCodec.Failure.self) {
            try FastPNGEncoder.encode(Raster(width: 0, height: 2, channels: 1, bitDepth: 8, pixels: []))
        }
        #expect(throws: PNGCodec.Failure.self) {
            try FastPNGEncoder.encode(Raster(width: 1 << 40, height: 1 << 40, channels: 3, bitDepth: 16, pixels: [1]))
        }
    }
}
