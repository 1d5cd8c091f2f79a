import DICOM
import Foundation
import Imaging
import Testing
import TestSupport

/// Damaged compressed frames from every compressed image of the corpus, through the real
/// decoders (libjpeg-turbo, dicomdrop's JPEG decoder, CharLS, OpenJPEG, zlib): truncated,
/// bit-flipped, and with chunks shuffled. Each must come back decoded or as a RenderError
/// that says why, never a crash, an abort or a hang. Seeded: a failure names its case.
@Suite struct CompressedDamageTests {
    static let corpus = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("corpus/files")
    /// 600 per decoder in `make test` (about a minute in a debug build); the long run sets
    /// DICOMDROP_DAMAGE_CASES (docs/FUZZING.md has its figures).
    static let casesPerDecoder = ProcessInfo.processInfo.environment["DICOMDROP_DAMAGE_CASES"].flatMap(Int.init) ?? 600

    /// Which decoder a compressed image's frames go to, by transfer syntax and, for JPEG, by process.
    static func decoderName(_ file: DICOMFile) -> String? {
        guard case .encapsulated(let codec) = file.transferSyntax.pixelEncoding else { return nil }
        switch codec {
        case .jpegBaseline: return "libjpeg-turbo"
        case .jpegExtended: return file.dataSet.integer(DICOM.Tag(0x0028, 0x0101)).map { $0 > 8 } == true ? "swift-jpeg-dct" : "libjpeg-turbo"
        case .jpegLossless: return "swift-jpeg-lossless"
        case .jpegLS: return "charls"
        case .jpeg2000, .htj2k: return "openjpeg"
        case .deflatedImageFrame: return "zlib"
        default: return nil
        }
    }

    /// Every compressed image of the corpus (generated files included), by decoder.
    static func imagesByDecoder() throws -> [String: [(path: String, file: DICOMFile)]] {
        var result: [String: [(String, DICOMFile)]] = [:]
        let paths = FileManager.default.enumerator(atPath: corpus.path)?.compactMap { $0 as? String } ?? []
        for path in paths.sorted() {
            guard let file = try? DICOMFile.read(path: corpus.appendingPathComponent(path).path),
                  let name = decoderName(file), (try? file.dataSet.encapsulatedFrames()) != nil else { continue }
            result[name, default: []].append((path, file))
        }
        return result
    }

    static func damaged(_ frame: Data, using generator: inout SeededGenerator) -> (Data, String) {
        var bytes = [UInt8](frame)
        guard bytes.count > 4 else { return (frame, "as is") }
        switch Int.random(in: 0..<3, using: &generator) {
        case 0:
            let keep = Int.random(in: 0..<bytes.count, using: &generator)
            return (Data(bytes.prefix(keep)), "truncated to \(keep)")
        case 1:
            let flips = Int.random(in: 1...16, using: &generator)
            for _ in 0..<flips {
                let index = Int.random(in: 0..<bytes.count, using: &generator)
                bytes[index] ^= UInt8(1) << UInt8.random(in: 0...7, using: &generator)
            }
            return (Data(bytes), "\(flips) bits flipped")
        default:
            // Four chunks, in another order: fragments stitched the wrong way round.
            let cuts = (0..<3).map { _ in Int.random(in: 0...bytes.count, using: &generator) }.sorted()
            let bounds = [0] + cuts + [bytes.count]
            var chunks = (0..<4).map { Array(bytes[bounds[$0]..<bounds[$0 + 1]]) }
            chunks.shuffle(using: &generator)
            return (Data(chunks.joined()), "chunks shuffled at \(cuts)")
        }
    }

    @Test func damagedFramesComeBackAsErrorsNeverCrashes() throws {
        let images = try Self.imagesByDecoder()
        #expect(Set(images.keys).isSuperset(of: ["libjpeg-turbo", "swift-jpeg-dct", "swift-jpeg-lossless", "charls", "openjpeg"]))
        for (decoder, files) in images.sorted(by: { $0.key < $1.key }) {
            var generator = SeededGenerator(seed: decoder)
            var decoded = 0, refused = 0, slowest = 0.0
            var reasons: [String: Int] = [:]
            for index in 0..<Self.casesPerDecoder {
                let (path, file) = files[index % files.count]
                let frames = try #require(try file.dataSet.encapsulatedFrames())
                let frameIndex = Int.random(in: 0..<frames.count, using: &generator)
                let (frame, how) = Self.damaged(frames[frameIndex], using: &generator)
                var dataSet = file.dataSet
                var replaced = frames
                replaced[frameIndex] = frame
                dataSet.set(DataElement(tag: .pixelData, vr: .OB, value: .encapsulated(EncapsulatedPixelData(frames: replaced))))
                _ = dataSet.remove(.extendedOffsetTable)
                _ = dataSet.remove(.extendedOffsetTableLengths)
                let start = Date()
                do {
                    let renderer = try ImageRenderer(dataSet: dataSet, transferSyntax: file.transferSyntax)
                    _ = try renderer.render(frame: frameIndex)
                    decoded += 1
                } catch {
                    refused += 1
                    let text = "\(error)"
                    #expect(!text.isEmpty, "\(path) frame \(frameIndex + 1), \(how): an error without a reason")
                    reasons[String(text.prefix(60)), default: 0] += 1
                }
                let seconds = Date().timeIntervalSince(start)
                slowest = max(slowest, seconds)
                if seconds > 2 { print("damage \(decoder) slow: \(path) frame \(frameIndex + 1), \(how): \(String(format: "%.1f", seconds)) s") }
                #expect(seconds < 10, "\(path) frame \(frameIndex + 1), \(how): \(seconds) s")
            }
            let common = reasons.sorted { $0.value > $1.value }.prefix(3).map { "\($0.value)x \($0.key)" }
            print("damage \(decoder): \(files.count) images, \(Self.casesPerDecoder) cases, \(decoded) decoded, \(refused) refused, slowest \(String(format: "%.3f", slowest)) s; \(common)")
            #expect(decoded + refused == Self.casesPerDecoder)
            #expect(refused > 0)
        }
    }
}
