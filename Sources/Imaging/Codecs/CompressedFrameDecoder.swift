import DICOM
import Foundation

/// The decoder for one image's compressed frames, chosen once from its transfer syntax
/// (dicomdrop's table of what decodes how: README's support table follows it).
struct CompressedFrameDecoder: Sendable {
    enum Method: Sendable {
        /// JPEG: 8-bit DCT through libjpeg-turbo; lossless and 12-bit DCT in Swift.
        case jpeg
        case jpegLS
        /// JPEG 2000 Part 1 and HTJ2K (Part 15) through OpenJPEG.
        case jpeg2000
        /// Native frames, each raw-deflated (1.2.840.10008.1.2.8.1).
        case deflated
        /// Native frames, one fragment each (1.2.840.10008.1.2.1.98).
        case uncompressed
        case rle
    }

    let method: Method

    init(transferSyntax: TransferSyntax) throws(RenderError) {
        guard case .encapsulated(let codec) = transferSyntax.pixelEncoding else {
            throw .inconsistent("encapsulated Pixel Data under the native transfer syntax \(transferSyntax.name)")
        }
        switch codec {
        case .jpegBaseline, .jpegExtended, .jpegLossless: method = .jpeg
        case .jpegLS: method = .jpegLS
        case .jpeg2000, .htj2k: method = .jpeg2000
        case .deflatedImageFrame: method = .deflated
        case .rle: method = .rle
        case .uncompressed: method = .uncompressed
        case .mpeg2, .mpeg4, .hevc, .smpte2110, .jpegXL, .other:
            throw .unsupportedTransferSyntax(transferSyntax.name)
        }
    }

    /// Decodes one codestream (jpeg, jpegLS, jpeg2000 only); the dataset's layout is asked
    /// only where the codestream may not say (whether three unmarked JPEG components are RGB).
    func decode(_ frame: Data, layout: ImageLayout) throws(RenderError) -> DecodedFrame {
        switch method {
        case .jpeg: return try JPEGFrameDecoder.decode(frame, datasetSaysRGB: layout.photometric == "RGB")
        case .jpegLS: return try CharLSDecoder.decode(frame)
        case .jpeg2000: return try OpenJPEGDecoder.decode(frame)
        case .deflated, .uncompressed, .rle:
            throw .inconsistent("\(method) frames are native, not a codestream")
        }
    }
}
