import DICOM

/// Decodes a JPEG frame in the processes DICOM's JPEG transfer syntaxes use: baseline and
/// extended sequential DCT (8 and 12 bits) and lossless (Process 14, including SV1), all
/// Huffman coded. Progressive, arithmetic-coded and hierarchical frames are refused.
///
/// Hostile input is expected: every length is checked against the data, sizes are
/// bounded before anything is allocated, and a scan whose data run out stops with an error.
enum SwiftJPEGDecoder {
    /// The most samples (pixels times components) a frame may have: 16384 x 16384 x 4.
    static let maximumSamples = 16384 * 16384 * 4

    /// Decodes the frame in `bytes`, from its SOI: each scan in stream order, with the
    /// tables defined before it. Whatever follows a complete frame (a damaged trailer, a
    /// missing EOI) is ignored; a component that no scan coded is an error.
    static func decode(_ bytes: UnsafeRawBufferPointer) throws(JPEGDecodingError) -> JPEGDecodedImage {
        let (segments, complete) = JPEGMarkerWalker.segments(bytes, jpegLS: false)
        guard !segments.isEmpty else { throw .notJPEG }
        var tables = JPEGTables()
        var frame: JPEGFrameHeader?
        var lossless: JPEGLosslessDecoder?
        var sequential: JPEGSequentialDecoder?
        var process: JPEGDecodedImage.Process?
        var adobeTransform: Int?
        var hasJFIF = false
        var coded: [Bool] = []

        for segment in segments {
            let offset = segment.range.lowerBound
            switch segment.marker {
            case 0xC0, 0xC1, 0xC3:
                guard frame == nil else { throw .badMarker(offset: offset) }
                let header = try JPEGFrameHeader(bytes, segment: segment)
                guard header.width * header.height * header.components.count <= maximumSamples else {
                    throw .tooLarge(width: header.width, height: header.height, components: header.components.count)
                }
                frame = header
                coded = Array(repeating: false, count: header.components.count)
            case 0xC2, 0xC5...0xC7, 0xC9...0xCB, 0xCD...0xCF, 0xDE, 0xDF:
                throw .unsupportedProcess(marker: segment.marker)
            case 0xC4:
                try tables.readHuffman(bytes, segment: segment)
            case 0xDB:
                try tables.readQuantization(bytes, segment: segment)
            case 0xDD:
                try tables.readRestartInterval(bytes, segment: segment)
            case 0xE0:
                hasJFIF = hasJFIF || startsWith(bytes, segment.payload, Array("JFIF\0".utf8))
            case 0xEE:
                // "Adobe", version, flags0, flags1, transform (Adobe TN 5116).
                if segment.payload.count >= 12, startsWith(bytes, segment.payload, Array("Adobe".utf8)) {
                    adobeTransform = Int(bytes[segment.payload.lowerBound + 11])
                }
            case 0xDA:
                guard let frame else { throw .badMarker(offset: offset) }
                let scan = try JPEGScanHeader(bytes, segment: segment, frame: frame)
                try checkEnoughData(segment.entropyCoded.count, for: scan.components.map(\.frameIndex), of: frame,
                                    end: segment.entropyCoded.upperBound)
                if lossless == nil && sequential == nil {
                    // The first scan allocates the samples of every component, which it and the
                    // scans after it must code: the rest of the stream must be able to hold them
                    // all, or a small stream could claim a large frame's memory.
                    try checkEnoughData(bytes.count - segment.entropyCoded.lowerBound, for: Array(frame.components.indices),
                                        of: frame, end: bytes.count)
                }
                if frame.isLossless {
                    if lossless == nil {
                        lossless = try JPEGLosslessDecoder(frame: frame)
                        process = .lossless(predictor: scan.spectralStart, pointTransform: scan.approximationLow)
                    }
                    try lossless?.decodeScan(scan, tables: tables, bytes: bytes, segment: segment)
                } else {
                    if sequential == nil {
                        sequential = JPEGSequentialDecoder(frame: frame)
                        process = .sequentialDCT
                    }
                    try sequential?.decodeScan(scan, tables: tables, bytes: bytes, segment: segment)
                }
                for component in scan.components { coded[component.frameIndex] = true }
            default:
                break
            }
        }

        guard let frame, let process else { throw .incomplete(reason: frame == nil ? "no frame header (SOF)" : "no scan (SOS)") }
        if let missing = coded.firstIndex(of: false) {
            // A walk that stopped early explains the missing scan better than its absence.
            if !complete { throw stopError(bytes, after: segments) }
            throw .incomplete(reason: "component \(frame.components[missing].id) is coded in no scan")
        }
        return JPEGDecodedImage(width: frame.width, height: frame.height, components: frame.components.count,
                                precision: frame.precision,
                                samples: lossless?.samples() ?? sequential?.samples() ?? [],
                                adobeTransform: adobeTransform, hasJFIF: hasJFIF,
                                componentIDs: frame.components.map(\.id), process: process)
    }

    /// Refuses `bytes` bytes of entropy-coded data that cannot hold the samples of
    /// `components` (indices into the frame's) before they are allocated or decoded: every
    /// Huffman code takes at least one bit, so a lossless sample takes at least 1 and a DCT
    /// block at least 2 (its DC difference and an end of block).
    private static func checkEnoughData(_ bytes: Int, for components: [Int], of frame: JPEGFrameHeader,
                                        end: Int) throws(JPEGDecodingError) {
        let needed: Int
        if frame.isLossless {
            needed = frame.width * frame.height * components.count
        } else {
            needed = 2 * components.reduce(0) { total, index in
                let component = frame.components[index]
                let width = (frame.width * component.horizontal + frame.maxHorizontal - 1) / frame.maxHorizontal
                let height = (frame.height * component.vertical + frame.maxVertical - 1) / frame.maxVertical
                return total + ((width + 7) / 8) * ((height + 7) / 8)
            }
        }
        guard bytes * 8 >= needed else { throw .truncated(at: end) }
    }

    /// Why the marker walk stopped before EOI: what stands where the next marker should.
    private static func stopError(_ bytes: UnsafeRawBufferPointer, after segments: [JPEGMarkerSegment]) -> JPEGDecodingError {
        let position = segments.last.map { max($0.range.upperBound, $0.entropyCoded.upperBound) } ?? 0
        if position < bytes.count && bytes[position] != 0xFF { return .badMarker(offset: position) }
        return .truncated(at: position)
    }

    private static func startsWith(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>, _ prefix: [UInt8]) -> Bool {
        range.count >= prefix.count && prefix.indices.allSatisfy { bytes[range.lowerBound + $0] == prefix[$0] }
    }
}
