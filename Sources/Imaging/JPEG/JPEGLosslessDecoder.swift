import DICOM

/// Decodes the scans of a lossless frame (SOF3: T.81 Annex H, Huffman coding), each sample
/// the sum of a prediction from its decoded neighbours and a coded difference.
///
/// Only frames whose components all have sampling factors 1x1 (or a single component):
/// that is what DICOM's lossless transfer syntaxes carry.
struct JPEGLosslessDecoder {
    let frame: JPEGFrameHeader
    /// The reconstructed values, before the point transform is undone, components
    /// interleaved row after row.
    private var values: [UInt16]
    /// The point transform of the scan that coded each component.
    private var pointTransforms: [Int]

    /// Allocates the frame's values: the caller has checked that their number is sane.
    init(frame: JPEGFrameHeader) throws(JPEGDecodingError) {
        if frame.components.count > 1, frame.components.contains(where: { $0.horizontal != 1 || $0.vertical != 1 }) {
            let factors = frame.components.map { "\($0.horizontal)x\($0.vertical)" }.joined(separator: ", ")
            throw .unsupported(offset: frame.offset, reason: "lossless components with sampling factors \(factors); only 1x1 is decoded")
        }
        self.frame = frame
        values = [UInt16](repeating: 0, count: frame.width * frame.height * frame.components.count)
        pointTransforms = Array(repeating: 0, count: frame.components.count)
    }

    /// Decodes the scan `scan`, whose header and entropy-coded data are `segment` of `bytes`.
    /// The table classes live as long as `tables`, which the caller holds for the call.
    mutating func decodeScan(_ scan: JPEGScanHeader, tables: JPEGTables, bytes: UnsafeRawBufferPointer,
                             segment: JPEGMarkerSegment) throws(JPEGDecodingError) {
        var coded: [(component: Int, table: JPEGHuffmanTable.Lookup)] = []
        for component in scan.components {
            guard let table = tables.huffman[0][component.dcTable] else {
                throw .missingTable(kind: "Huffman", id: component.dcTable, offset: segment.range.lowerBound)
            }
            coded.append((component.frameIndex, table.lookup))
            pointTransforms[component.frameIndex] = scan.approximationLow
        }
        // T.81 H.1.1 has lossless restart intervals hold whole MCU rows, as libjpeg assumes:
        // the first line of an interval is predicted apart, and one beginning inside a row
        // would be guessed at, so it is refused.
        let interval = tables.restartInterval
        guard interval % frame.width == 0 else {
            throw .unsupported(offset: segment.range.lowerBound,
                               reason: "a lossless restart interval of \(interval) samples, not a whole number of \(frame.width)-sample rows")
        }
        let reader = JPEGBitReader(bytes, range: segment.entropyCoded)
        let frame = frame
        // T.81 H.1.2.1: the prediction at the start of the scan and of each restart interval.
        let initial = 1 << (frame.precision - scan.approximationLow - 1)
        let predictor = scan.spectralStart
        try values.withUnsafeMutableBufferPointer { (values) throws(JPEGDecodingError) in
            try coded.withUnsafeBufferPointer { (coded) throws(JPEGDecodingError) in
                try Self.decode(into: values.baseAddress!, frame: frame, coded: coded, predictor: predictor, initial: initial,
                                rowsPerInterval: interval / frame.width, reader: reader)
            }
        }
    }

    /// The scan's rows. The first line of the scan and of each restart interval is
    /// predicted from the left, other lines from the line above at their start and with
    /// the scan's predictor elsewhere (T.81 H.1.2.1).
    private static func decode(into values: UnsafeMutablePointer<UInt16>, frame: JPEGFrameHeader,
                               coded: UnsafeBufferPointer<(component: Int, table: JPEGHuffmanTable.Lookup)>,
                               predictor: Int, initial: Int, rowsPerInterval: Int,
                               reader: JPEGBitReader) throws(JPEGDecodingError) {
        // A local copy, which the optimizer can keep in registers, unlike an inout argument.
        var reader = reader
        let components = frame.components.count, width = frame.width
        let rowStride = width * components
        var rowsLeft = rowsPerInterval
        for row in 0..<frame.height {
            var firstLine = row == 0
            if rowsPerInterval > 0 {
                if rowsLeft == 0 {
                    guard !reader.ranOut else { throw .truncated(at: reader.position) }
                    guard reader.restart() else { throw .badMarker(offset: reader.position) }
                    rowsLeft = rowsPerInterval
                    firstLine = true
                }
                rowsLeft -= 1
            }
            let line = values + row * rowStride
            if coded.count == 1 {
                // One component per scan, the usual case: its table stays in registers.
                let (component, table) = coded[0]
                for x in 0..<width {
                    try decodeSample(line + x * components + component, column: x, firstLine: firstLine, table: table,
                                     components: components, rowStride: rowStride, predictor: predictor, initial: initial,
                                     reader: &reader)
                }
            } else {
                for x in 0..<width {
                    for (component, table) in coded {
                        try decodeSample(line + x * components + component, column: x, firstLine: firstLine, table: table,
                                         components: components, rowStride: rowStride, predictor: predictor, initial: initial,
                                         reader: &reader)
                    }
                }
            }
            // Checked once a row, so that a cut stream is not decoded to its end in zeros.
            guard !reader.ranOut else { throw .truncated(at: reader.position) }
        }
    }

    /// Decodes the sample at `sample`: its prediction plus its coded difference.
    @inline(__always)
    private static func decodeSample(_ sample: UnsafeMutablePointer<UInt16>, column: Int, firstLine: Bool,
                                     table: JPEGHuffmanTable.Lookup, components: Int, rowStride: Int, predictor: Int,
                                     initial: Int, reader: inout JPEGBitReader) throws(JPEGDecodingError) {
        let size = reader.decode(table)
        guard size >= 0 && size <= 16 else { throw .badHuffmanCode(offset: reader.position) }
        // H.1.2.2: category 16 is the difference 32768 alone, without extra bits.
        let difference = size == 16 ? 32768 : reader.receiveExtend(size)
        let prediction: Int
        if column == 0 {
            prediction = firstLine ? initial : Int(sample[-rowStride])
        } else if firstLine {
            prediction = Int(sample[-components])
        } else {
            let a = Int(sample[-components]), b = Int(sample[-rowStride]), c = Int(sample[-rowStride - components])
            switch predictor {
            case 1: prediction = a
            case 2: prediction = b
            case 3: prediction = c
            case 4: prediction = a + b - c
            case 5: prediction = a + ((b - c) >> 1)
            case 6: prediction = b + ((a - c) >> 1)
            default: prediction = (a + b) >> 1
            }
        }
        // H.2.2: reconstruction is modulo 2^16.
        sample.pointee = UInt16(truncatingIfNeeded: prediction &+ difference)
    }

    /// The samples, each shifted back by its point transform, masked to the precision: one
    /// byte each up to 8 bits, else two, little-endian.
    func samples() -> [UInt8] {
        let components = frame.components.count
        let mask = (1 << frame.precision) - 1
        let count = values.count
        let wide = frame.precision > 8
        return [UInt8](unsafeUninitializedCapacity: wide ? 2 * count : count) { output, initialized in
            let raw = UnsafeMutableRawPointer(output.baseAddress!)
            values.withUnsafeBufferPointer { values in
                for component in 0..<components {
                    let shift = pointTransforms[component]
                    var index = component
                    if wide {
                        while index < count {
                            let value = UInt16(truncatingIfNeeded: (Int(values[index]) << shift) & mask)
                            raw.storeBytes(of: value.littleEndian, toByteOffset: 2 * index, as: UInt16.self)
                            index += components
                        }
                    } else {
                        while index < count {
                            raw.storeBytes(of: UInt8(truncatingIfNeeded: (Int(values[index]) << shift) & mask), toByteOffset: index, as: UInt8.self)
                            index += components
                        }
                    }
                }
            }
            initialized = wide ? 2 * count : count
        }
    }
}
