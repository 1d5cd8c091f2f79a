import DICOM
import Foundation
import Imaging

// libFuzzer entry point for dicomdrop's pixel path, linked by scripts/fuzz-pixels against the
// Imaging module built with `--sanitize fuzzer --sanitize address`. Each input is a whole
// DICOM file, so the fuzzer reaches every decoder the way the daemon does: native frames of
// any layout, RLE, deflated frames, JPEG (libjpeg-turbo and the Swift decoders), JPEG-LS
// (CharLS) and JPEG 2000 (OpenJPEG), then windowing, quality features and the PNG encoder.
// A frame must render to a raster whose bytes fill exactly its width, height, channels and
// depth, and that raster must come back from its PNG unchanged; a refusal must say why.
// Anything else, a trap or a sanitizer report is a crash.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzPixels(_ bytes: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    let data = Data(bytes: bytes, count: count)
    guard let file = try? DICOMFile(data: data) else { return 0 }
    let renderer: ImageRenderer
    do {
        renderer = try ImageRenderer(dataSet: file.dataSet, transferSyntax: file.transferSyntax)
    } catch {
        if error.description.isEmpty { abort() }
        return 0
    }
    // The first and the last frame: a corrupt offset table or a short fragment list shows at
    // the end, and decoding every frame of a cine file would only slow the campaign.
    let frames = Set([0, max(renderer.frameCount - 1, 0)])
    for index in frames.sorted() {
        for bitDepth in [8, 16] {
            do {
                let raster = try renderer.render(frame: index, bitDepth: bitDepth)
                guard raster.width == renderer.layout.columns, raster.height == renderer.layout.rows,
                      raster.channels == 1 || raster.channels == 3, raster.bitDepth == bitDepth,
                      raster.pixels.count == raster.width * raster.height * raster.channels * bitDepth / 8
                else { abort() }
                _ = QualityFeatures.measure(raster)
                // The round trip costs more than the decode on large frames: small ones only.
                if raster.pixels.count <= 1 << 16 {
                    guard let png = try? PNGCodec.encode(raster, compressionLevel: 1),
                          (try? PNGCodec.decode(png)) == raster
                    else { abort() }
                }
            } catch {
                if error.description.isEmpty { abort() }
            }
        }
    }
    return 0
}
