import CCodecs
import Foundation

/// An image file that is not DICOM (a public dataset's PNG or JPEG), told by its first bytes,
/// never by its name.
public enum ImageFileKind: String, Sendable, Equatable {
    case png
    case jpeg

    /// The PNG signature (89 'PNG' CR LF SUB LF) or JPEG's SOI followed by a marker (FF D8 FF).
    public static func detect(_ prefix: Data) -> ImageFileKind? {
        let bytes = [UInt8](prefix.prefix(8))
        if bytes == [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] { return .png }
        if bytes.count >= 3 && bytes[0] == 0xFF && bytes[1] == 0xD8 && bytes[2] == 0xFF { return .jpeg }
        return nil
    }
}

/// A PNG or JPEG file decoded: the kind, and its pixels as a `Raster` (1 gray, 2 gray and
/// alpha, 3 RGB, 4 RGBA channels; 8 or 16 bits).
public struct DecodedImageFile: Sendable, Equatable {
    public let kind: ImageFileKind
    public let raster: Raster
    /// The library's warning about damage it decoded past (libjpeg-turbo: a truncated file
    /// is padded with gray), or nil. The pipeline refuses such an image.
    public let warning: String?

    /// `gray`, `gray+alpha`, `rgb` or `rgba`.
    public var color: String {
        switch raster.channels {
        case 1: "gray"
        case 2: "gray+alpha"
        case 3: "rgb"
        default: "rgba"
        }
    }
}

/// Why an image file could not be decoded: the library's own words.
public enum ImageFileError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Neither a PNG signature nor a JPEG SOI.
    case notAnImage
    case png(String)
    case jpeg(String)

    public var description: String {
        switch self {
        case .notAnImage: "not a PNG or JPEG file (no PNG signature, no JPEG SOI marker)"
        case .png(let reason): "PNG cannot be decoded: libpng: \(reason)"
        case .jpeg(let reason): "JPEG cannot be decoded: \(reason)"
        }
    }
}

/// Decodes whole PNG and JPEG files: PNG through libpng (palettes expanded, depths below 8
/// raised to 8, 16-bit kept), JPEG through libjpeg-turbo (8-bit, YCbCr converted to RGB with
/// libjpeg's defaults: islow DCT, fancy upsampling, as Pillow and libjpeg's djpeg decode).
/// Both C layers return errors: no file can abort the process.
public enum ImageFileDecoder {
    public static func decode(_ bytes: Data) throws(ImageFileError) -> DecodedImageFile {
        switch ImageFileKind.detect(bytes) {
        case nil:
            throw .notAnImage
        case .png:
            try checkPNGSize(bytes)
            do {
                return DecodedImageFile(kind: .png, raster: try PNGCodec.decode(bytes), warning: nil)
            } catch {
                throw .png(error.message)
            }
        case .jpeg:
            return try decodeJPEG(bytes)
        }
    }

    /// libpng allocates the whole image from the header's size before reading a row: a
    /// header claiming more bytes than a DICOM frame may hold (16,384 x 16,384 x 3 samples
    /// of a byte) is refused first, counting 4 channels for any colour type and 2 bytes a
    /// sample at 16 bits. The header's sizes reach 2^31 - 1 each: multiplied with overflow
    /// checked, never trapping.
    private static func checkPNGSize(_ bytes: Data) throws(ImageFileError) {
        let header = [UInt8](bytes.prefix(25))
        guard header.count == 25, header[12...15] == [0x49, 0x48, 0x44, 0x52] else { return }  // IHDR; libpng names what else is wrong
        let width = header[16..<20].reduce(0) { $0 << 8 | Int($1) }, height = header[20..<24].reduce(0) { $0 << 8 | Int($1) }
        let bytesPerPixel = header[24] == 16 ? 8 : 4
        let (pixels, overflowed) = width.multipliedReportingOverflow(by: height)
        let (total, overflowedAgain) = pixels.multipliedReportingOverflow(by: bytesPerPixel)
        guard !overflowed, !overflowedAgain, total <= ImageLayout.maximumSamplesPerFrame else {
            throw .png("\(width)x\(height) pixels at \(header[24]) bits is beyond the limit of \(ImageLayout.maximumSamplesPerFrame) bytes decoded")
        }
    }

    private static func decodeJPEG(_ bytes: Data) throws(ImageFileError) -> DecodedImageFile {
        let decoded: dd_decoded_frame, samples: Data
        do {
            (decoded, samples) = try decodeInC(bytes) { dd_jpeg_decode($0, $1, 0, 1, 0, $2, $3, $4, $5) }
        } catch {
            if case .corruptFrame(let reason) = error { throw .jpeg(reason) }
            throw .jpeg("\(error)")
        }
        let components = Int(decoded.components)
        guard components == 1 || components == 3 else {
            throw .jpeg("libjpeg-turbo: \(components) components (CMYK or YCCK): only gray and colour JPEGs are read")
        }
        let width = Int(decoded.width), height = Int(decoded.height)
        guard samples.count == width * height * components else {
            throw .jpeg("libjpeg-turbo: \(samples.count) bytes of samples for \(width)x\(height)x\(components)")
        }
        return DecodedImageFile(kind: .jpeg, raster: Raster(width: width, height: height, channels: components, bitDepth: 8,
                                                            pixels: [UInt8](samples)),
                                warning: decoded.firstWarning)
    }
}
