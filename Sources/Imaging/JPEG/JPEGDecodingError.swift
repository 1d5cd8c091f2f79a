/// Why a JPEG frame could not be decoded. Offsets count bytes from the start of the frame
/// (the FF of its SOI), so that a message can be checked against a hex dump of the fragment.
enum JPEGDecodingError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The frame does not begin with SOI (FF D8).
    case notJPEG
    /// The data ended at `at` while a marker segment or a scan still needed bytes.
    case truncated(at: Int)
    /// At `offset` stands something other than the marker the layout needs there: a byte
    /// other than FF, a restart marker missing or out of place, a second frame header.
    case badMarker(offset: Int)
    /// The marker segment at `offset` breaks T.81's rules for its contents.
    case badSegment(marker: UInt8, offset: Int, reason: String)
    /// A frame coded in a process this decoder does not implement (its SOF marker).
    case unsupportedProcess(marker: UInt8)
    /// A feature of an implemented process that this decoder does not implement.
    case unsupported(offset: Int, reason: String)
    /// A scan names a Huffman or quantization table that no DHT or DQT defined before it.
    case missingTable(kind: String, id: Int, offset: Int)
    /// The entropy-coded bits at `offset` match no code of the Huffman table in use, or
    /// decode to a value the process does not allow.
    case badHuffmanCode(offset: Int)
    /// The frame is refused before its samples are allocated.
    case tooLarge(width: Int, height: Int, components: Int)
    /// The frame ends before a frame header, or with components that no scan coded.
    case incomplete(reason: String)

    var description: String {
        switch self {
        case .notJPEG:
            return "not a JPEG stream: it does not begin with SOI (FF D8)"
        case .truncated(let offset):
            return "JPEG data truncated at offset \(offset): the frame is cut short or its fragments are incomplete"
        case .badMarker(let offset):
            return "JPEG marker expected at offset \(offset) but not found: the stream is damaged"
        case .badSegment(let marker, let offset, let reason):
            return "JPEG \(Self.markerName(marker)) segment at offset \(offset) is malformed: \(reason)"
        case .unsupportedProcess(let marker):
            return "JPEG \(Self.markerName(marker)) frames (\(Self.processName(marker))) are not supported: "
                + "only baseline, extended Huffman sequential and lossless Huffman frames are decoded"
        case .unsupported(let offset, let reason):
            return "JPEG feature at offset \(offset) not supported: \(reason)"
        case .missingTable(let kind, let id, let offset):
            return "JPEG scan at offset \(offset) uses \(kind) table \(id), which no segment before it defines"
        case .badHuffmanCode(let offset):
            return "JPEG entropy-coded data at offset \(offset) is corrupt: no valid Huffman code there"
        case .tooLarge(let width, let height, let components):
            return "JPEG frame of \(width)x\(height) pixels with \(components) components is too large to decode "
                + "(at most \(SwiftJPEGDecoder.maximumSamples) samples)"
        case .incomplete(let reason):
            return "JPEG frame incomplete: \(reason)"
        }
    }

    static func markerName(_ marker: UInt8) -> String {
        switch marker {
        case 0xC0...0xC3, 0xC5...0xC7, 0xC9...0xCB, 0xCD...0xCF: "SOF\(marker - 0xC0)"
        case 0xC4: "DHT"
        case 0xDA: "SOS"
        case 0xDB: "DQT"
        case 0xDD: "DRI"
        case 0xDE: "DHP"
        default: "FF" + String(marker, radix: 16, uppercase: true)
        }
    }

    static func processName(_ marker: UInt8) -> String {
        switch marker {
        case 0xC2: "progressive DCT"
        case 0xC5...0xC7, 0xDE, 0xDF: "hierarchical"
        case 0xC9...0xCB, 0xCD...0xCF: "arithmetic coding"
        default: "unknown process"
        }
    }
}
