import Foundation
import Imaging

// libFuzzer entry point for the fast PNG encoder, linked by scripts/fuzz-png-encoder against
// the Imaging module built with `--sanitize fuzzer --sanitize address`. The first four bytes
// choose the shape (width 1...1024, 8 or 16 bits, grey, grey + alpha, RGB or RGBA); the rest
// are the pixels, as many whole rows as they fill. libFuzzer's mutations (runs, repeats,
// copies of earlier bytes) are what the encoder's run detection and block planning see in
// images. The file must decode with libpng to the same raster: anything else, a trap or a
// sanitizer report is a crash.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzPNGEncoder(_ bytes: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    guard count >= 5 else { return 0 }
    let width = 1 + (Int(bytes[0]) << 8 | Int(bytes[1])) % 1024
    let bitDepth = bytes[2] & 1 == 0 ? 8 : 16
    let channels = 1 + Int(bytes[3]) % 4
    let stride = width * channels * bitDepth / 8
    let height = (count - 4) / stride
    guard height > 0 else { return 0 }
    let raster = Raster(width: width, height: height, channels: channels, bitDepth: bitDepth,
                        pixels: Array(UnsafeBufferPointer(start: bytes + 4, count: stride * height)))
    guard let png = try? FastPNGEncoder.encode(raster), (try? PNGCodec.decode(png)) == raster else { abort() }
    return 0
}
