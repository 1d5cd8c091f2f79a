import CCodecs
import Foundation

/// One compressed frame after its codec: samples interleaved, row after row, 1 byte each
/// when the codestream's precision is 8 bits or less, else 2 bytes little-endian (two's
/// complement when signed). What the codestream says about itself is kept beside the
/// samples: it wins for decoding, the dataset for rendering, and where they disagree the
/// pipeline notes it in the ledger.
struct DecodedFrame: Sendable {
    /// What the samples are, after whatever colour transform the codec undid; a colour
    /// space's raw value is the Photometric Interpretation the renderer reads it as.
    enum ColorSpace: String, Sendable {
        case monochrome = "MONOCHROME"
        /// RGB, also after JPEG 2000's inverse RCT/ICT and JPEG-LS's inverse HP transforms.
        case rgb = "RGB"
        /// Full-range YCbCr at full resolution (JPEG's YCbCr, upsampled): the renderer converts.
        case ybrFull = "YBR_FULL"
    }

    var samples: Data
    let width: Int
    let height: Int
    let components: Int
    let precision: Int
    /// The codestream says its samples are signed (JPEG 2000); nil when it cannot say (JPEG, JPEG-LS).
    let isSigned: Bool?
    /// Nil when the codestream does not say (colour JPEG-LS and JPEG 2000 without a
    /// transform): the samples are then what the dataset's Photometric Interpretation says.
    let colorSpace: ColorSpace?
    /// Facts about the codestream worth a line in the ledger (the library's warning about
    /// corrupt data it decoded past, or tiles it did not find).
    var notes: [String] = []

    var bytesPerSample: Int { precision <= 8 ? 1 : 2 }
}

/// One frame through one of the C layer's decoders (Sources/CCodecs): what it found, and
/// its samples, owned by the returned Data (freed by the C layer's free, never copied).
/// A refusal comes back as the library's own message.
func decodeInC(_ frame: Data, _ decoder: (UnsafePointer<UInt8>?, Int, Int, UnsafeMutablePointer<dd_decoded_frame>,
                                          UnsafeMutablePointer<CChar>, Int) -> Int32) throws(RenderError) -> (dd_decoded_frame, Data) {
    var decoded = dd_decoded_frame()
    var message = [CChar](repeating: 0, count: 512)
    let status = frame.withUnsafeBytes { raw in
        decoder(raw.bindMemory(to: UInt8.self).baseAddress, raw.count, ImageLayout.maximumSamplesPerFrame, &decoded, &message, message.count)
    }
    guard status == 0 else {
        throw .corruptFrame(String(decoding: message.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
    }
    guard let samples = decoded.samples, decoded.size > 0 else { return (decoded, Data()) }
    return (decoded, Data(bytesNoCopy: samples, count: decoded.size, deallocator: .custom { raw, _ in dd_codec_free(raw) }))
}

extension dd_decoded_frame {
    /// The first warning the library gave while decoding, or nil.
    var firstWarning: String? {
        let text = withUnsafeBytes(of: warning) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        return text.isEmpty ? nil : text
    }
}
