import DICOM

/// A scan header (SOS, T.81 B.2.3): which components the scan codes, with which tables.
struct JPEGScanHeader: Sendable, Equatable {
    struct Component: Sendable, Equatable {
        /// Its index in the frame header's components.
        let frameIndex: Int
        /// Td: the DC table of a DCT scan, the table of a lossless one.
        let dcTable: Int
        let acTable: Int
    }

    let components: [Component]
    /// Ss: the first coefficient of a DCT scan; the predictor (1...7) of a lossless scan.
    let spectralStart: Int
    /// Al: the point transform of a lossless scan.
    let approximationLow: Int

    init(_ bytes: UnsafeRawBufferPointer, segment: JPEGMarkerSegment, frame: JPEGFrameHeader) throws(JPEGDecodingError) {
        let payload = segment.payload, offset = segment.range.lowerBound
        func bad(_ reason: String) -> JPEGDecodingError { .badSegment(marker: 0xDA, offset: offset, reason: reason) }
        guard payload.count >= 1 else { throw bad("empty scan header") }
        let base = payload.lowerBound
        let count = Int(bytes[base])
        guard (1...4).contains(count) else { throw bad("\(count) components in a scan, T.81 allows 1 to 4") }
        guard payload.count == 4 + 2 * count else {
            throw bad("\(payload.count) bytes for \(count) components, which need \(4 + 2 * count)")
        }
        var components: [Component] = []
        for index in 0..<count {
            let id = bytes[base + 1 + 2 * index], tables = bytes[base + 2 + 2 * index]
            guard let frameIndex = frame.components.firstIndex(where: { $0.id == id }) else {
                throw bad("component \(id) is not in the frame header")
            }
            guard !components.contains(where: { $0.frameIndex == frameIndex }) else { throw bad("component \(id) appears twice") }
            let component = Component(frameIndex: frameIndex, dcTable: Int(tables >> 4), acTable: Int(tables & 0x0F))
            guard component.dcTable <= 3, component.acTable <= 3 else { throw bad("component \(id) uses Huffman table \(tables >> 4)/\(tables & 0x0F), at most 3") }
            components.append(component)
        }
        self.components = components
        let tail = base + 1 + 2 * count
        spectralStart = Int(bytes[tail])
        approximationLow = Int(bytes[tail + 2] & 0x0F)
        if frame.isLossless {
            guard (1...7).contains(spectralStart) else {
                throw .unsupported(offset: offset, reason: "lossless predictor \(spectralStart); 1 to 7 are decoded (0 is for hierarchical frames)")
            }
            guard approximationLow < frame.precision else {
                throw bad("point transform \(approximationLow) leaves nothing of \(frame.precision)-bit samples")
            }
        }
    }
}
