import CCodecs
import Foundation

/// 8-bit DCT JPEG (baseline, extended sequential, progressive) through libjpeg-turbo's
/// libjpeg API. YCbCr-coded frames come back as YCbCr, upsampled, so that the colour
/// conversion is the renderer's, the same as for native YBR_FULL; frames coded as RGB
/// (Adobe APP14 transform 0, or components named R, G, B) come back as RGB.
enum LibJPEGTurboDecoder {
    /// libjpeg's colour spaces (J_COLOR_SPACE).
    private static let gray: Int32 = 1, rgb: Int32 = 2, yCbCr: Int32 = 3

    /// `datasetSaysRGB`: T.81 leaves the colour space to the application; JFIF and Adobe
    /// markers say it when present, and otherwise the dataset's RGB is believed (libjpeg
    /// alone would guess YCbCr, and an RGB-coded image would come out in false colours).
    static func decode(_ frame: Data, datasetSaysRGB: Bool) throws(RenderError) -> DecodedFrame {
        let (decoded, samples) = try decodeInC(frame) { dd_jpeg_decode($0, $1, 1, 1, datasetSaysRGB ? 1 : 0, $2, $3, $4, $5) }
        let colorSpace: DecodedFrame.ColorSpace
        switch decoded.color_transform {
        case gray: colorSpace = .monochrome
        case yCbCr: colorSpace = .ybrFull
        case rgb: colorSpace = .rgb
        default:
            throw .unsupported("a JPEG frame in libjpeg colour space \(decoded.color_transform) (CMYK or YCCK)")
        }
        var result = DecodedFrame(samples: samples, width: Int(decoded.width), height: Int(decoded.height),
                                  components: Int(decoded.components), precision: Int(decoded.precision),
                                  isSigned: nil, colorSpace: colorSpace)
        if let warning = decoded.firstWarning { result.notes.append("libjpeg-turbo: \(warning)") }
        return result
    }
}
