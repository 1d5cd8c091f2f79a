import Foundation

// libFuzzer entry point for dicomdrop's JPEG decoder (Sources/Imaging/JPEG), compiled
// together with it and Sources/DICOM/JPEGMarkerSegments.swift by scripts/fuzz-jpeg. Each
// input is one frame. The marker walk, as JPEG and as JPEG-LS, must hand back segments in
// order inside the input; the decoder must throw a JPEGDecodingError or return an image
// whose samples fill exactly its width, height, components and sample size. Anything else,
// a trap or a sanitizer report is a crash.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzJPEG(_ bytes: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    let frame = UnsafeRawBufferPointer(start: bytes, count: count)
    for jpegLS in [false, true] {
        var end = 0
        for segment in JPEGMarkerWalker.segments(frame, jpegLS: jpegLS).segments {
            guard segment.range.lowerBound >= end, segment.range.upperBound <= count,
                  segment.payload.lowerBound >= segment.range.lowerBound, segment.payload.upperBound == segment.range.upperBound,
                  segment.entropyCoded.lowerBound == segment.range.upperBound, segment.entropyCoded.upperBound <= count
            else { abort() }
            end = segment.entropyCoded.upperBound
        }
    }
    do {
        let image = try SwiftJPEGDecoder.decode(frame)
        let sampleSize = image.precision <= 8 ? 1 : 2
        guard image.width > 0, image.height > 0, (1...4).contains(image.components),
              image.componentIDs.count == image.components,
              image.samples.count == image.width * image.height * image.components * sampleSize
        else { abort() }
    } catch {
        // Every refusal must be describable: the message is what a user of the daemon reads.
        if error.description.isEmpty { abort() }
    }
    return 0
}
