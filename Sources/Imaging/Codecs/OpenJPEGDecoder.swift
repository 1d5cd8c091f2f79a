import CCodecs
import Foundation

/// JPEG 2000 (Part 1, and HTJ2K, Part 15) through OpenJPEG. OpenJPEG undoes the
/// multi-component transform itself, so YBR_RCT and YBR_ICT frames come back as RGB.
enum OpenJPEGDecoder {
    static func decode(_ frame: Data) throws(RenderError) -> DecodedFrame {
        let (decoded, samples) = try decodeInC(frame, dd_j2k_decode)
        let components = Int(decoded.components)
        // A codestream cut before its last tiles decodes with those tiles black, and only a
        // warning says so: it goes to the ledger with the frame.
        return DecodedFrame(samples: samples, width: Int(decoded.width), height: Int(decoded.height),
                            components: components, precision: Int(decoded.precision), isSigned: decoded.is_signed != 0,
                            colorSpace: components == 1 ? .monochrome : decoded.color_transform != 0 ? .rgb : nil,
                            notes: decoded.firstWarning.map { ["OpenJPEG: \($0)"] } ?? [])
    }
}
