import DICOM

/// A frame header (SOFn, T.81 B.2.2): the image's size, sample precision and components.
struct JPEGFrameHeader: Sendable, Equatable {
    struct Component: Sendable, Equatable {
        let id: UInt8
        /// Sampling factors (T.81 A.1.1), 1...4.
        let horizontal: Int
        let vertical: Int
        let quantizationTable: Int
    }

    /// The SOF marker, which names the process: C0 baseline, C1 extended, C3 lossless.
    let marker: UInt8
    /// Where the SOF segment starts, for messages about the frame.
    let offset: Int
    let precision: Int
    let width: Int
    let height: Int
    let components: [Component]
    let maxHorizontal: Int
    let maxVertical: Int

    var isLossless: Bool { marker == 0xC3 }

    /// Reads the SOF segment `segment` of `bytes`; refuses what the decoders cannot follow
    /// (a height given later by DNL, more than 4 components, a precision other than 8 or 12
    /// for DCT and 2...16 for lossless).
    init(_ bytes: UnsafeRawBufferPointer, segment: JPEGMarkerSegment) throws(JPEGDecodingError) {
        let payload = segment.payload, offset = segment.range.lowerBound
        func bad(_ reason: String) -> JPEGDecodingError { .badSegment(marker: segment.marker, offset: offset, reason: reason) }
        self.offset = offset
        guard payload.count >= 6 else { throw bad("\(payload.count) bytes, a frame header has at least 6") }
        let base = payload.lowerBound
        marker = segment.marker
        precision = Int(bytes[base])
        height = Int(bytes[base + 1]) << 8 | Int(bytes[base + 2])
        width = Int(bytes[base + 3]) << 8 | Int(bytes[base + 4])
        let count = Int(bytes[base + 5])
        guard payload.count == 6 + 3 * count else {
            throw bad("\(payload.count) bytes for \(count) components, which need \(6 + 3 * count)")
        }
        if marker == 0xC3 {
            guard (2...16).contains(precision) else { throw bad("lossless sample precision \(precision), T.81 allows 2 to 16 bits") }
        } else {
            guard precision == 8 || precision == 12 else { throw bad("DCT sample precision \(precision), T.81 allows 8 or 12 bits") }
        }
        guard width > 0 else { throw bad("the number of samples per line is 0") }
        guard height > 0 else {
            throw .unsupported(offset: offset, reason: "a frame whose number of lines is given by a DNL segment after the first scan")
        }
        guard (1...4).contains(count) else {
            throw .unsupported(offset: offset, reason: "\(count) components; at most 4 are decoded")
        }
        var components: [Component] = []
        for index in 0..<count {
            let at = base + 6 + 3 * index
            let component = Component(id: bytes[at], horizontal: Int(bytes[at + 1] >> 4), vertical: Int(bytes[at + 1] & 0x0F),
                                      quantizationTable: Int(bytes[at + 2]))
            guard (1...4).contains(component.horizontal), (1...4).contains(component.vertical) else {
                throw bad("component \(component.id) has sampling factors \(component.horizontal)x\(component.vertical), T.81 allows 1 to 4")
            }
            guard component.quantizationTable <= 3 else { throw bad("component \(component.id) uses quantization table \(component.quantizationTable), at most 3") }
            guard !components.contains(where: { $0.id == component.id }) else { throw bad("component \(component.id) appears twice") }
            components.append(component)
        }
        self.components = components
        maxHorizontal = components.map(\.horizontal).max() ?? 1
        maxVertical = components.map(\.vertical).max() ?? 1
    }
}
