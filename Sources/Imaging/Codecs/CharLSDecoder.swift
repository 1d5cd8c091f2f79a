import CCodecs
import DICOM
import Foundation

/// JPEG-LS, lossless and near-lossless, through CharLS; HP colour transforms are undone by
/// CharLS, planar frames interleaved by the C layer.
enum CharLSDecoder {
    static func decode(_ frame: Data) throws(RenderError) -> DecodedFrame {
        // CharLS 2.4.1 spends seconds (11 s on a 10x45 frame, measured) failing a stream that
        // ends inside its scan: a frame is handed over only when its markers run to EOI.
        let ends = frame.withUnsafeBytes { raw in
            let walk = JPEGMarkerWalker.segments(raw, jpegLS: true)
            return walk.complete && walk.segments.last?.marker == 0xD9
        }
        guard ends else { throw .corruptFrame("JPEG-LS: the frame's markers do not run to its end (EOI): truncated or damaged") }
        let (decoded, samples) = try decodeInC(frame, dd_jls_decode)
        let components = Int(decoded.components)
        return DecodedFrame(samples: samples, width: Int(decoded.width), height: Int(decoded.height),
                            components: components, precision: Int(decoded.precision), isSigned: nil,
                            colorSpace: components == 1 ? .monochrome : decoded.color_transform != 0 ? .rgb : nil)
    }
}
