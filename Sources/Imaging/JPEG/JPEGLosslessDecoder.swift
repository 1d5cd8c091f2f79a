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
                // One component per scan, the usual case: a loop of its own per predictor.
                let (component, table) = coded[0]
                try decodeLine(line + component, width: width, step: components, rowStride: rowStride, firstLine: firstLine,
                               predictor: predictor, initial: initial, table: table, reader: &reader)
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

    /// The next coded difference of `table`'s component.
    @inline(__always)
    private static func difference(_ table: JPEGHuffmanTable.Lookup, _ reader: inout JPEGBitReader) throws(JPEGDecodingError) -> Int {
        guard let difference = reader.decodeDifference(table) else { throw .badHuffmanCode(offset: reader.position) }
        return difference
    }

    /// One line of a component coded alone in its scan, from `start` (its first sample) in
    /// steps of `step`: what `decodeSample` does sample by sample, with the left neighbour
    /// kept in a register and the predictor chosen once per line instead of per sample.
    /// Values are kept reduced modulo 2^16 (H.2.2), as they are stored and read back.
    @inline(__always)
    private static func decodeLine(_ start: UnsafeMutablePointer<UInt16>, width: Int, step: Int, rowStride: Int,
                                   firstLine: Bool, predictor: Int, initial: Int, table: JPEGHuffmanTable.Lookup,
                                   reader: inout JPEGBitReader) throws(JPEGDecodingError) {
        var left = ((firstLine ? initial : Int(start[-rowStride])) &+ (try difference(table, &reader))) & 0xFFFF
        start.pointee = UInt16(truncatingIfNeeded: left)
        let end = start + width * step
        var sample = start + step
        if firstLine || predictor == 1 {
            while sample < end {
                left = (left &+ (try difference(table, &reader))) & 0xFFFF
                sample.pointee = UInt16(truncatingIfNeeded: left)
                sample += step
            }
        } else if predictor == 2 {
            while sample < end {
                sample.pointee = UInt16(truncatingIfNeeded: Int(sample[-rowStride]) &+ (try difference(table, &reader)))
                sample += step
            }
        } else {
            var upperLeft = Int(start[-rowStride])
            while sample < end {
                let above = Int(sample[-rowStride])
                let prediction: Int
                switch predictor {
                case 3: prediction = upperLeft
                case 4: prediction = left + above - upperLeft
                case 5: prediction = left + ((above - upperLeft) >> 1)
                case 6: prediction = above + ((left - upperLeft) >> 1)
                default: prediction = (left + above) >> 1
                }
                left = (prediction &+ (try difference(table, &reader))) & 0xFFFF
                sample.pointee = UInt16(truncatingIfNeeded: left)
                upperLeft = above
                sample += step
            }
        }
    }

    /// Decodes the sample at `sample`: its prediction plus its coded difference.
    @inline(__always)
    private static func decodeSample(_ sample: UnsafeMutablePointer<UInt16>, column: Int, firstLine: Bool,
                                     table: JPEGHuffmanTable.Lookup, components: Int, rowStride: Int, predictor: Int,
                                     initial: Int, reader: inout JPEGBitReader) throws(JPEGDecodingError) {
        let difference = try Self.difference(table, &reader)
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
        let shifts = Set(pointTransforms)
        return [UInt8](unsafeUninitializedCapacity: wide ? 2 * count : count) { output, initialized in
            initialized = wide ? 2 * count : count
            values.withUnsafeBufferPointer { values in
                if shifts.count == 1, let shift = shifts.first {
                    // One shift for every sample (nearly always): a flat loop the compiler
                    // vectorises. Bits shifted past 16 are masked off either way.
                    let shift = UInt16(shift), narrowMask = UInt16(truncatingIfNeeded: mask)
                    if wide {
                        // Little-endian output on a little-endian host: UInt16 stores.
                        UnsafeMutableRawBufferPointer(output).withMemoryRebound(to: UInt16.self) { output in
                            for index in 0..<count { output[index] = ((values[index] &<< shift) & narrowMask).littleEndian }
                        }
                    } else {
                        for index in 0..<count { output[index] = UInt8(truncatingIfNeeded: (values[index] &<< shift) & narrowMask) }
                    }
                    return
                }
                let raw = UnsafeMutableRawPointer(output.baseAddress!)
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
        }
    }
}
