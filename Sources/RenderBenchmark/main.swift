import CZlib
import DICOM
import Foundation
import Imaging
import Shared

// Times decode + render + PNG encode (the daemon's defaults: 8 bits, the fast encoder) of
// every frame of the files listed on standard input, on one thread; then, on the same
// rendered pixels, zlib alone at the same level (the floor of the libpng path), the fast PNG
// encoder (whole PNG files: filter, deflate, checksums), with the bytes each writes, and the
// quality features alone. Used by scripts/bench-render and scripts/bench-peers. Prints one
// line of key=value pairs.

/// zlib's deflate over `bytes` at `level` with `strategy`, into a reused buffer.
func deflate(_ bytes: [UInt8], level: Int32, strategy: Int32, into buffer: inout [UInt8]) -> Int {
    var stream = z_stream()
    deflateInit2_(&stream, level, Z_DEFLATED, 15, 8, strategy, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size))
    let bound = Int(deflateBound(&stream, uLong(bytes.count)))
    if buffer.count < bound { buffer = [UInt8](repeating: 0, count: bound) }
    var input = bytes
    let produced = input.withUnsafeMutableBufferPointer { input in
        buffer.withUnsafeMutableBufferPointer { output in
            stream.next_in = input.baseAddress
            stream.avail_in = uInt(input.count)
            stream.next_out = output.baseAddress
            stream.avail_out = uInt(output.count)
            CZlib.deflate(&stream, Z_FINISH)
            return Int(stream.total_out)
        }
    }
    deflateEnd(&stream)
    return produced
}

let paths = AnyIterator { readLine() }.filter { !$0.isEmpty }
var pixels = 0, pngBytes = 0, frames = 0
var rasters: [Raster] = []
var renderers: [ImageRenderer] = []
// Warm-up outside the clock: first use of each code path, page cache.
for path in paths.prefix(2) {
    if let file = try? DICOMFile.read(path: path), let renderer = try? ImageRenderer(dataSet: file.dataSet, transferSyntax: file.transferSyntax) {
        _ = try? FastPNGEncoder.encode(try renderer.render(frame: 0))
    }
}
let start = ContinuousClock.now
for path in paths {
    let file = try DICOMFile.read(path: path)
    let renderer = try ImageRenderer(dataSet: file.dataSet, transferSyntax: file.transferSyntax)
    renderers.append(renderer)
    for frame in 0..<renderer.frameCount {
        let raster = try renderer.render(frame: frame)
        pngBytes += try FastPNGEncoder.encode(raster).count
        pixels += raster.width * raster.height
        frames += 1
        rasters.append(raster)
    }
}
let total = (ContinuousClock.now - start).inSeconds

// The floor: zlib alone on the same rendered bytes, level 1, with zlib's default strategy
// and with the RLE strategy the PNG encoder uses.
var buffer: [UInt8] = []
var floors: [String: Double] = [:]
for (name, strategy) in [("default", Z_DEFAULT_STRATEGY), ("rle", Z_RLE)] {
    let floorStart = ContinuousClock.now
    var produced = 0
    for raster in rasters { produced += deflate(raster.pixels, level: 1, strategy: strategy, into: &buffer) }
    floors[name] = (ContinuousClock.now - floorStart).inSeconds
    floors[name + "_bytes"] = Double(produced)
}
// Whole PNG files from the fast encoder, and from libpng + zlib at the daemon's old defaults
// (level 1, Up, RLE), each timed alone on the same rasters.
// FAST_REPEATS=N runs the fast encoder N times over the rasters, for a profiler to see it alone.
let fastRepeats = Int(ProcessInfo.processInfo.environment["FAST_REPEATS"] ?? "") ?? 1
var fastBytes = 0
let fastStart = ContinuousClock.now
for _ in 0..<fastRepeats {
    fastBytes = 0
    for raster in rasters { fastBytes += try FastPNGEncoder.encode(raster).count }
}
let fastSeconds = (ContinuousClock.now - fastStart).inSeconds / Double(fastRepeats)
// The quality features alone on the same rasters (QUALITY_REPEATS=N: N times, for a
// steadier figure of a step that takes milliseconds).
let qualityRepeats = Int(ProcessInfo.processInfo.environment["QUALITY_REPEATS"] ?? "") ?? 1
var qualityChecksum = 0.0
let qualityStart = ContinuousClock.now
for _ in 0..<qualityRepeats {
    for raster in rasters { qualityChecksum += QualityFeatures.measure(raster).uniformFraction }
}
let qualitySeconds = (ContinuousClock.now - qualityStart).inSeconds / Double(qualityRepeats)
// Rendering alone, from the decoded files to the rasters (RENDER_REPEATS=N: N times): for a
// frame of native pixel data, the stored range, the lookup table and the table pass.
let renderRepeats = Int(ProcessInfo.processInfo.environment["RENDER_REPEATS"] ?? "") ?? 1
var renderChecksum = 0
let renderStart = ContinuousClock.now
for _ in 0..<renderRepeats {
    for renderer in renderers {
        for frame in 0..<renderer.frameCount { renderChecksum &+= Int(try renderer.render(frame: frame).pixels.last ?? 0) }
    }
}
let renderSeconds = (ContinuousClock.now - renderStart).inSeconds / Double(renderRepeats)
var zlibPNGBytes = 0
let zlibStart = ContinuousClock.now
for raster in rasters { zlibPNGBytes += try PNGCodec.encode(raster).count }
let zlibPNGSeconds = (ContinuousClock.now - zlibStart).inSeconds
print("files=\(paths.count) frames=\(frames) megapixels=\(Double(pixels) / 1e6) seconds=\(total) "
      + "megapixels_per_second=\(Double(pixels) / 1e6 / total) png_bytes=\(pngBytes) "
      + "floor_default_seconds=\(floors["default"]!) floor_rle_seconds=\(floors["rle"]!) floor_rle_bytes=\(Int(floors["rle_bytes"]!)) "
      + "zlib_png_seconds=\(zlibPNGSeconds) zlib_png_bytes=\(zlibPNGBytes) fast_seconds=\(fastSeconds) fast_png_bytes=\(fastBytes) "
      + "quality_seconds=\(qualitySeconds) quality_checksum=\(qualityChecksum / Double(qualityRepeats)) "
      + "render_seconds=\(renderSeconds) render_checksum=\(renderChecksum / renderRepeats)")
