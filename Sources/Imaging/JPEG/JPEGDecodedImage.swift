/// A decoded JPEG frame: the samples of every component interleaved (after upsampling, for
/// DCT frames), row after row. Colour is left to the caller, which knows the DICOM
/// Photometric Interpretation: the decoder reports what the stream says about it.
struct JPEGDecodedImage: Sendable {
    /// How the frame was coded (T.81 4.1).
    enum Process: Sendable, Equatable {
        /// Lossless (SOF3), with the predictor and point transform of its first scan.
        case lossless(predictor: Int, pointTransform: Int)
        /// Baseline or extended sequential DCT (SOF0, SOF1), Huffman coded.
        case sequentialDCT
    }

    let width: Int
    let height: Int
    let components: Int
    /// Bits per sample (P in the frame header).
    let precision: Int
    /// One byte per sample when `precision` <= 8, else two, little-endian.
    let samples: [UInt8]
    /// The transform flag of an Adobe APP14 segment (0: none, RGB or CMYK; 1: YCbCr;
    /// 2: YCCK), nil without one.
    let adobeTransform: Int?
    /// Whether a JFIF APP0 segment was present (JFIF implies YCbCr for 3 components).
    let hasJFIF: Bool
    /// The component identifiers of the frame header: some encoders mark RGB as 'R' 'G' 'B'.
    let componentIDs: [UInt8]
    let process: Process
}
