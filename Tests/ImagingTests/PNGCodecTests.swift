import Foundation
import Imaging
import Testing

@Suite struct PNGCodecTests {
    @Test func grayAndColourRastersSurviveAnEncodeDecodeRoundTrip() throws {
        let gray = Raster(width: 3, height: 2, channels: 1, bitDepth: 8, pixels: [0, 1, 2, 253, 254, 255])
        #expect(try PNGCodec.decode(PNGCodec.encode(gray)) == gray)
        let deep = Raster(width: 2, height: 1, channels: 1, bitDepth: 16, pixels: [0x34, 0x12, 0xFF, 0xFF])
        #expect(try PNGCodec.decode(PNGCodec.encode(deep, compressionLevel: 9)) == deep)
        let rgb = Raster(width: 1, height: 2, channels: 3, bitDepth: 8, pixels: [255, 0, 0, 0, 0, 255])
        #expect(try PNGCodec.decode(PNGCodec.encode(rgb)) == rgb)
    }

    @Test func malformedInputIsAnErrorNotAnAbort() {
        #expect(throws: PNGCodec.Failure(message: "not a PNG file (no PNG signature)")) {
            try PNGCodec.decode(Data("definitely not a png".utf8))
        }
        // A real PNG cut in half: libpng's error is returned through setjmp, the test lives on.
        let png = try? PNGCodec.encode(Raster(width: 64, height: 64, channels: 1, bitDepth: 8, pixels: (0..<4096).map { UInt8($0 % 251) }))
        #expect(throws: PNGCodec.Failure.self) { try PNGCodec.decode(png!.prefix(png!.count / 2)) }
        #expect(throws: PNGCodec.Failure.self) {
            try PNGCodec.encode(Raster(width: 2, height: 2, channels: 1, bitDepth: 8, pixels: [1, 2, 3]))
        }
    }
}
