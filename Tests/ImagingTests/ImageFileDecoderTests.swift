import Foundation
@testable import Imaging
import Testing

/// PNG and JPEG files as a plain dataset brings them, whole and damaged: every damage comes
/// back as an error naming the library's reason, never as an abort.
@Suite struct ImageFileDecoderTests {
    private let gray = Raster(width: 3, height: 2, channels: 1, bitDepth: 8, pixels: [0, 50, 100, 150, 200, 250])
    private let deep = Raster(width: 2, height: 1, channels: 1, bitDepth: 16, pixels: [0x34, 0x12, 0xFF, 0xFF])

    /// A JPEG made by Pillow (libjpeg-turbo) from a gradient, and Pillow's decoding of it.
    private func pillowJPEG(mode: String) throws -> (jpeg: Data, pixels: [UInt8]) {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("jpeg-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let script = """
            import sys, numpy as np
            from PIL import Image
            y, x = np.mgrid[0:37, 0:53]
            rgb = np.stack([(x * 4) % 256, (y * 6) % 256, ((x + y) * 3) % 256], axis=2).astype(np.uint8)
            image = Image.fromarray(rgb, "RGB").convert(sys.argv[2])
            image.save(sys.argv[1] + "/a.jpg", quality=80)
            open(sys.argv[1] + "/a.raw", "wb").write(np.asarray(Image.open(sys.argv[1] + "/a.jpg")).tobytes())
            """
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", script, folder.path, mode]
        try process.run()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        return (try Data(contentsOf: folder.appendingPathComponent("a.jpg")), [UInt8](try Data(contentsOf: folder.appendingPathComponent("a.raw"))))
    }

    @Test func theKindIsToldByTheFirstBytes() throws {
        #expect(ImageFileKind.detect(try PNGCodec.encode(gray)) == .png)
        #expect(ImageFileKind.detect(Data([0xFF, 0xD8, 0xFF, 0xDB, 0])) == .jpeg)
        #expect(ImageFileKind.detect(Data(count: 132) + Data("DICM".utf8)) == nil)
        #expect(ImageFileKind.detect(Data([0x89, 0x50])) == nil)
        #expect(throws: ImageFileError.notAnImage) { try ImageFileDecoder.decode(Data("filename,view\n".utf8)) }
    }

    @Test func aPNGDecodesToItsOwnSamplesAt8And16Bits() throws {
        for raster in [gray, deep] {
            let decoded = try ImageFileDecoder.decode(try PNGCodec.encode(raster))
            #expect(decoded.kind == .png && decoded.raster == raster && decoded.color == "gray" && decoded.warning == nil)
        }
    }

    @Test func aJPEGDecodesAsPillowDecodesIt() throws {
        for (mode, channels, color) in [("RGB", 3, "rgb"), ("L", 1, "gray")] {
            let (jpeg, pixels) = try pillowJPEG(mode: mode)
            let decoded = try ImageFileDecoder.decode(jpeg)
            #expect(decoded.kind == .jpeg && decoded.color == color && decoded.warning == nil)
            #expect(decoded.raster == Raster(width: 53, height: 37, channels: channels, bitDepth: 8, pixels: pixels), "\(mode)")
        }
    }

    @Test func damagedPNGsAreErrorsWithLibpngsReason() throws {
        let png = try PNGCodec.encode(Raster(width: 64, height: 64, channels: 1, bitDepth: 8, pixels: (0..<4096).map { UInt8($0 % 251) }))
        var badCRC = png
        badCRC[30] ^= 0xFF  // inside IHDR: its CRC no longer matches
        for damaged in [png.prefix(png.count / 2), png.prefix(12), badCRC] {
            #expect(throws: ImageFileError.self) { try ImageFileDecoder.decode(Data(damaged)) }
            do {
                _ = try ImageFileDecoder.decode(Data(damaged))
            } catch {
                guard case .png(let reason) = error else { Issue.record("\(error)"); continue }
                #expect(!reason.isEmpty && "\(error)".hasPrefix("PNG cannot be decoded: libpng: "))
            }
        }
    }

    @Test func aPNGHeaderClaimingAHugeImageIsRefusedBeforeLibpngAllocatesIt() throws {
        var png = try PNGCodec.encode(gray)
        png.replaceSubrange(16..<24, with: [0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00])  // 65536 x 65536
        #expect(throws: ImageFileError.png("65536x65536 pixels at 8 bits is beyond the limit of 805306368 bytes decoded")) { try ImageFileDecoder.decode(png) }
        // The largest sizes a header can hold overflow an Int when multiplied: refused, not trapped.
        png.replaceSubrange(16..<24, with: [0x7F, 0xFF, 0xFF, 0xFF, 0x7F, 0xFF, 0xFF, 0xFF])
        #expect(throws: ImageFileError.png("2147483647x2147483647 pixels at 8 bits is beyond the limit of 805306368 bytes decoded")) {
            try ImageFileDecoder.decode(png)
        }
        png.replaceSubrange(16..<24, with: [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF])
        #expect(throws: ImageFileError.self) { try ImageFileDecoder.decode(png) }
        // 14,000 x 14,000 at 16 bits is 1.5 GB decoded as RGBA: refused although its pixels are fewer than the limit's.
        png.replaceSubrange(16..<24, with: [0x00, 0x00, 0x36, 0xB0, 0x00, 0x00, 0x36, 0xB0])
        png[24] = 16
        #expect(throws: ImageFileError.png("14000x14000 pixels at 16 bits is beyond the limit of 805306368 bytes decoded")) { try ImageFileDecoder.decode(png) }
    }

    @Test func damagedJPEGsAreErrorsOrWarningsWithLibjpegsReason() throws {
        let (jpeg, _) = try pillowJPEG(mode: "RGB")
        // Garbage after the SOI: libjpeg gives up.
        #expect(throws: ImageFileError.self) { try ImageFileDecoder.decode(Data([0xFF, 0xD8, 0xFF, 0xE0]) + Data(repeating: 0x5A, count: 64)) }
        do {
            _ = try ImageFileDecoder.decode(Data([0xFF, 0xD8, 0xFF]))
            Issue.record("three bytes decoded")
        } catch {
            #expect("\(error)".hasPrefix("JPEG cannot be decoded: libjpeg-turbo: "), "\(error)")
        }
        // Cut in the scan: libjpeg pads it with gray and warns; the pipeline refuses it.
        let scan = try #require((0..<jpeg.count - 1).last { jpeg[jpeg.startIndex + $0] == 0xFF && jpeg[jpeg.startIndex + $0 + 1] == 0xDA })
        let truncated = try ImageFileDecoder.decode(jpeg.prefix(scan + (jpeg.count - scan) / 2))
        #expect(truncated.warning?.isEmpty == false)
    }

    /// A PNG's text, time and private chunks may carry a name or a date: they go, and the
    /// pixels stay byte for byte with every chunk that says how they look.
    @Test func aPNGsTextTimeAndPrivateChunksAreDroppedAndItsPixelsKept() throws {
        let png = try PNGCodec.encode(gray)
        func chunk(_ type: String, _ payload: [UInt8]) -> Data {
            let body = Array(type.utf8) + payload
            var crc = UInt32(0xFFFF_FFFF)
            for byte in body {
                crc ^= UInt32(byte)
                for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
            }
            crc ^= 0xFFFF_FFFF
            let length = UInt32(payload.count)
            return Data([UInt8(length >> 24), UInt8(length >> 16 & 0xFF), UInt8(length >> 8 & 0xFF), UInt8(length & 0xFF)] + body
                        + [UInt8(crc >> 24), UInt8(crc >> 16 & 0xFF), UInt8(crc >> 8 & 0xFF), UInt8(crc & 0xFF)])
        }
        // After IHDR (8 + 25 bytes): a gamma chunk to keep, and four to drop.
        let planted = png.prefix(33) + chunk("gAMA", [0, 0, 0xB1, 0x8F]) + chunk("tEXt", Array("Author\u{0}DOE^JANE".utf8))
            + chunk("tIME", [0x07, 0xE4, 1, 28, 10, 0, 0]) + chunk("iTXt", Array("Comment\u{0}\u{0}\u{0}\u{0}\u{0}MRN 12345".utf8))
            + chunk("prVt", [1, 2, 3]) + png.dropFirst(33)
        #expect(try PNGCodec.decode(planted) == gray)
        let cleaned = try #require(PNGChunks.withoutMetadata(planted))
        #expect(cleaned == png.prefix(33) + chunk("gAMA", [0, 0, 0xB1, 0x8F]) + png.dropFirst(33))
        for text in ["DOE^JANE", "MRN 12345", "tIME", "prVt"] { #expect(cleaned.range(of: Data(text.utf8)) == nil, "\(text)") }
        #expect(try PNGCodec.decode(cleaned) == gray)
        #expect(PNGChunks.withoutMetadata(png) == png)
        #expect(PNGChunks.withoutMetadata(png.prefix(40)) == nil, "a chunk cut short")
    }

    @Test func boxesAreDrawnOverSixteenBitAndGreyAlphaImagesAndClippedWhateverTheirSize() {
        // 4 x 2 at 16 bits, host order: the high byte shows (0x12), not the low one (0x34).
        let wide = Raster(width: 4, height: 2, channels: 1, bitDepth: 16, pixels: Array(repeating: [0x34, 0x12], count: 8).flatMap { $0 })
        let red = (red: UInt8(255), green: UInt8(0), blue: UInt8(0))
        let drawn = BoxOverlay.draw([BoxOverlay.Box(x: 1, y: 0, width: 1, height: 1, color: red)], on: wide, thickness: 1)
        #expect(drawn.channels == 3 && drawn.bitDepth == 8)
        #expect(Array(drawn.pixels[0..<3]) == [0x12, 0x12, 0x12] && Array(drawn.pixels[3..<6]) == [255, 0, 0])
        // Grey and alpha: the grey in all three channels, the alpha left out.
        let alpha = Raster(width: 1, height: 1, channels: 2, bitDepth: 8, pixels: [40, 255])
        #expect(BoxOverlay.draw([], on: alpha, thickness: 1).pixels == [40, 40, 40])
        // A box far beyond the image, or of no finite size, draws what lies inside or nothing.
        let huge = BoxOverlay.draw([BoxOverlay.Box(x: 0, y: 0, width: 1e300, height: 1e300, color: red),
                                    BoxOverlay.Box(x: .infinity, y: 0, width: 1, height: 1, color: red)], on: wide, thickness: 1)
        #expect(Array(huge.pixels[0..<3]) == [255, 0, 0] && Array(huge.pixels[21..<24]) == [255, 0, 0])
    }
}
