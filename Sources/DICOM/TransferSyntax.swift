/// How a transfer syntax encodes the dataset and its pixel data.
public struct TransferSyntax: Sendable, Hashable {
    public enum PixelEncoding: Sendable, Hashable {
        /// Pixel Data is a native (uncompressed) value.
        case native
        /// Pixel Data is encapsulated in fragments (PS3.5 A.4) and compressed with this codec.
        case encapsulated(Codec)
    }

    /// The compression families of the encapsulated syntaxes; a decoder is chosen by these.
    public enum Codec: String, Sendable, Hashable {
        case jpegBaseline, jpegExtended, jpegLossless, jpegLS, jpeg2000, htj2k
        case rle, mpeg2, mpeg4, hevc, smpte2110, jpegXL, deflatedImageFrame, uncompressed, other
    }

    public let uid: String
    public let name: String
    public let isExplicitVR: Bool
    public let byteOrder: ByteOrder
    /// The dataset after the File Meta Information is deflated (PS3.5 A.5).
    public let isDeflated: Bool
    public let pixelEncoding: PixelEncoding

    public var isEncapsulated: Bool {
        if case .encapsulated = pixelEncoding { return true }
        return false
    }

    /// This syntax encoded as its UID says. A reader follows the bytes of a mislabelled file
    /// (an implicit-VR dataset under a JPEG UID); a writer keeping the UID must follow the
    /// label, or it writes a second mislabelled file.
    public var asLabelled: TransferSyntax {
        TransferSyntax.lookup(uid) ?? TransferSyntax(uid: uid, name: name, isExplicitVR: true, byteOrder: .littleEndian,
                                                     isDeflated: false, pixelEncoding: pixelEncoding)
    }
}

extension TransferSyntax {
    public static let implicitVRLittleEndian = TransferSyntax(
        uid: "1.2.840.10008.1.2", name: "Implicit VR Little Endian",
        isExplicitVR: false, byteOrder: .littleEndian, isDeflated: false, pixelEncoding: .native)
    public static let explicitVRLittleEndian = TransferSyntax(
        uid: "1.2.840.10008.1.2.1", name: "Explicit VR Little Endian",
        isExplicitVR: true, byteOrder: .littleEndian, isDeflated: false, pixelEncoding: .native)
    public static let deflatedExplicitVRLittleEndian = TransferSyntax(
        uid: "1.2.840.10008.1.2.1.99", name: "Deflated Explicit VR Little Endian",
        isExplicitVR: true, byteOrder: .littleEndian, isDeflated: true, pixelEncoding: .native)
    public static let explicitVRBigEndian = TransferSyntax(
        uid: "1.2.840.10008.1.2.2", name: "Explicit VR Big Endian (retired)",
        isExplicitVR: true, byteOrder: .bigEndian, isDeflated: false, pixelEncoding: .native)

    private static func encapsulated(_ uid: String, _ name: String, _ codec: Codec) -> TransferSyntax {
        TransferSyntax(uid: uid, name: name, isExplicitVR: true, byteOrder: .littleEndian,
                       isDeflated: false, pixelEncoding: .encapsulated(codec))
    }

    /// Every transfer syntax of PS3.6 Table A-1 that the reader parses: the one table
    /// that says what dicomdrop supports (docs/CONFORMANCE.md is checked against it).
    public static let registry: [TransferSyntax] = [
        implicitVRLittleEndian, explicitVRLittleEndian, deflatedExplicitVRLittleEndian,
        explicitVRBigEndian,
        encapsulated("1.2.840.10008.1.2.4.50", "JPEG Baseline (Process 1)", .jpegBaseline),
        encapsulated("1.2.840.10008.1.2.4.51", "JPEG Extended (Process 2 & 4)", .jpegExtended),
        encapsulated("1.2.840.10008.1.2.4.57", "JPEG Lossless, Non-Hierarchical (Process 14)", .jpegLossless),
        encapsulated("1.2.840.10008.1.2.4.70", "JPEG Lossless, First-Order Prediction (Process 14 SV1)", .jpegLossless),
        encapsulated("1.2.840.10008.1.2.4.80", "JPEG-LS Lossless", .jpegLS),
        encapsulated("1.2.840.10008.1.2.4.81", "JPEG-LS Near-Lossless", .jpegLS),
        encapsulated("1.2.840.10008.1.2.4.90", "JPEG 2000 (Lossless Only)", .jpeg2000),
        encapsulated("1.2.840.10008.1.2.4.91", "JPEG 2000", .jpeg2000),
        encapsulated("1.2.840.10008.1.2.4.92", "JPEG 2000 Part 2 Multi-component (Lossless Only)", .jpeg2000),
        encapsulated("1.2.840.10008.1.2.4.93", "JPEG 2000 Part 2 Multi-component", .jpeg2000),
        encapsulated("1.2.840.10008.1.2.4.201", "High-Throughput JPEG 2000 (Lossless Only)", .htj2k),
        encapsulated("1.2.840.10008.1.2.4.202", "High-Throughput JPEG 2000 with RPCL (Lossless Only)", .htj2k),
        encapsulated("1.2.840.10008.1.2.4.203", "High-Throughput JPEG 2000", .htj2k),
        encapsulated("1.2.840.10008.1.2.4.110", "JPEG XL Lossless", .jpegXL),
        encapsulated("1.2.840.10008.1.2.4.111", "JPEG XL JPEG Recompression", .jpegXL),
        encapsulated("1.2.840.10008.1.2.4.112", "JPEG XL", .jpegXL),
        encapsulated("1.2.840.10008.1.2.5", "RLE Lossless", .rle),
        encapsulated("1.2.840.10008.1.2.4.100", "MPEG2 Main Profile / Main Level", .mpeg2),
        encapsulated("1.2.840.10008.1.2.4.101", "MPEG2 Main Profile / High Level", .mpeg2),
        encapsulated("1.2.840.10008.1.2.4.102", "MPEG-4 AVC/H.264 High Profile / Level 4.1", .mpeg4),
        encapsulated("1.2.840.10008.1.2.4.103", "MPEG-4 AVC/H.264 BD-compatible High Profile / Level 4.1", .mpeg4),
        encapsulated("1.2.840.10008.1.2.4.104", "MPEG-4 AVC/H.264 High Profile / Level 4.2 For 2D Video", .mpeg4),
        encapsulated("1.2.840.10008.1.2.4.105", "MPEG-4 AVC/H.264 High Profile / Level 4.2 For 3D Video", .mpeg4),
        encapsulated("1.2.840.10008.1.2.4.106", "MPEG-4 AVC/H.264 Stereo High Profile / Level 4.2", .mpeg4),
        encapsulated("1.2.840.10008.1.2.4.107", "HEVC/H.265 Main Profile / Level 5.1", .hevc),
        encapsulated("1.2.840.10008.1.2.4.108", "HEVC/H.265 Main 10 Profile / Level 5.1", .hevc),
        encapsulated("1.2.840.10008.1.2.1.98", "Encapsulated Uncompressed Explicit VR Little Endian", .uncompressed),
        encapsulated("1.2.840.10008.1.2.8.1", "Deflated Image Frame Compression", .deflatedImageFrame),
    ]

    private static let byUID: [String: TransferSyntax] = Dictionary(
        uniqueKeysWithValues: registry.map { ($0.uid, $0) })

    /// The registered syntax with this UID (trailing NUL or space padding ignored).
    public static func lookup(_ uid: String) -> TransferSyntax? { byUID[uid] }
}
