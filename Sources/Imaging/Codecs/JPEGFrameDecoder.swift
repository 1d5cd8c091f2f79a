import DICOM
import Foundation

/// JPEG frames by process: 8-bit DCT (baseline, extended, progressive) through
/// libjpeg-turbo, which Debian builds for 8 bits only; lossless (Process 14, SV1 or any
/// predictor) and 12-bit DCT through dicomdrop's own decoder.
enum JPEGFrameDecoder {
    static func decode(_ frame: Data, datasetSaysRGB: Bool) throws(RenderError) -> DecodedFrame {
        let header = frame.withUnsafeBytes { raw in startOfFrame(raw) }
        guard let (marker, precision) = header else {
            throw .corruptFrame("no JPEG start-of-frame marker before the first scan")
        }
        if marker == 0xC3 || ((marker == 0xC0 || marker == 0xC1) && precision != 8) {
            return try decodeInSwift(frame, datasetSaysRGB: datasetSaysRGB)
        }
        return try LibJPEGTurboDecoder.decode(frame, datasetSaysRGB: datasetSaysRGB)
    }

    /// The first SOFn marker and its sample precision.
    static func startOfFrame(_ raw: UnsafeRawBufferPointer) -> (UInt8, Int)? {
        for segment in JPEGMarkerWalker.segments(raw, jpegLS: false).segments {
            switch segment.marker {
            case 0xC0...0xC3, 0xC5...0xC7, 0xC9...0xCB, 0xCD...0xCF:
                guard segment.payload.count >= 1 else { return nil }
                return (segment.marker, Int(raw[segment.payload.lowerBound]))
            case 0xDA:
                return nil
            default:
                continue
            }
        }
        return nil
    }
}

extension JPEGFrameDecoder {
    /// A frame through dicomdrop's own decoder, its colour space read as LibJPEGTurboDecoder
    /// reads it (T.81 leaves it to the application): lossless frames are what the dataset
    /// says; DCT frames with three components follow an Adobe marker, then JFIF (YCbCr),
    /// then the dataset's RGB or components named R, G, B, and are otherwise YCbCr.
    static func decodeInSwift(_ frame: Data, datasetSaysRGB: Bool) throws(RenderError) -> DecodedFrame {
        let image: JPEGDecodedImage
        do {
            image = try frame.withUnsafeBytes { raw throws(JPEGDecodingError) in try SwiftJPEGDecoder.decode(raw) }
        } catch {
            throw .corruptFrame("JPEG: \(error)")
        }
        let colorSpace: DecodedFrame.ColorSpace?
        switch image.process {
        case .lossless:
            colorSpace = image.components == 1 ? .monochrome : nil
        case .sequentialDCT:
            if image.components == 1 {
                colorSpace = .monochrome
            } else if image.components != 3 {
                throw .unsupported("a DCT JPEG frame of \(image.components) components")
            } else if let transform = image.adobeTransform {
                colorSpace = transform == 0 ? .rgb : .ybrFull
            } else if image.hasJFIF {
                colorSpace = .ybrFull
            } else {
                colorSpace = datasetSaysRGB || image.componentIDs == [0x52, 0x47, 0x42] ? .rgb : .ybrFull
            }
        }
        if colorSpace == .ybrFull && image.precision > 8 {
            throw .unsupported("\(image.precision)-bit YCbCr JPEG")
        }
        return DecodedFrame(samples: Data(image.samples), width: image.width, height: image.height,
                            components: image.components, precision: image.precision, isSigned: nil, colorSpace: colorSpace)
    }
}
