import DICOM

/// Decodes the scans of a sequential DCT frame (SOF0 baseline, SOF1 extended; Huffman
/// coding, 8- or 12-bit samples: T.81 Annex F) into one plane per component, then
/// upsamples and interleaves them.
///
/// Subsampled components are upsampled by replication, as libjpeg does with
/// `do_fancy_upsampling = FALSE`: each sample covers Hmax/H by Vmax/V output samples.
/// libjpeg's default (triangular "fancy" upsampling) differs on chroma edges; replication
/// is what T.81 A.1.1 describes and what needs no choice of filter.
struct JPEGSequentialDecoder {
    let frame: JPEGFrameHeader
    private let mcusAcross: Int
    private let mcusDown: Int
    /// Where each component's plane starts in `planes`, and its samples per line: whole
    /// MCUs, which cover the blocks a non-interleaved scan codes too (T.81 A.2.4).
    private let planeOffsets: [Int]
    private let planeWidths: [Int]
    private var planes: [UInt16]

    /// Allocates the frame's planes: the caller has checked that their size is sane.
    init(frame: JPEGFrameHeader) {
        self.frame = frame
        mcusAcross = (frame.width + 8 * frame.maxHorizontal - 1) / (8 * frame.maxHorizontal)
        mcusDown = (frame.height + 8 * frame.maxVertical - 1) / (8 * frame.maxVertical)
        var offsets: [Int] = [], widths: [Int] = [], total = 0
        for component in frame.components {
            let width = mcusAcross * component.horizontal * 8
            offsets.append(total)
            widths.append(width)
            total += width * mcusDown * component.vertical * 8
        }
        planeOffsets = offsets
        planeWidths = widths
        planes = [UInt16](repeating: 0, count: total)
    }

    /// What one block of a scan needs: its tables and where its plane is.
    private struct ScanComponent {
        let dc: JPEGHuffmanTable.Lookup
        let ac: JPEGHuffmanTable.Lookup
        /// 64 dequantization factors in zig-zag order.
        let quantization: UnsafeMutablePointer<Int32>
        let plane: UnsafeMutablePointer<UInt16>
        let planeWidth: Int
        let horizontal: Int
        let vertical: Int
    }

    /// Decodes the scan `scan`, whose header and entropy-coded data are `segment` of `bytes`.
    /// The table classes live as long as `tables`, which the caller holds for the call.
    mutating func decodeScan(_ scan: JPEGScanHeader, tables: JPEGTables, bytes: UnsafeRawBufferPointer,
                             segment: JPEGMarkerSegment) throws(JPEGDecodingError) {
        let offset = segment.range.lowerBound
        // Scratch: 4 x 64 factors, the natural order, one block of coefficients, the IDCT's workspace.
        let factors = UnsafeMutablePointer<Int32>.allocate(capacity: 4 * 64)
        let coefficients = UnsafeMutablePointer<Int32>.allocate(capacity: 64)
        let workspace = UnsafeMutablePointer<Int>.allocate(capacity: 64)
        let natural = UnsafeMutablePointer<Int>.allocate(capacity: 64)
        defer {
            factors.deallocate()
            coefficients.deallocate()
            workspace.deallocate()
            natural.deallocate()
        }
        for (index, position) in Self.naturalOrder.enumerated() { natural[index] = position }

        var reader = JPEGBitReader(bytes, range: segment.entropyCoded)
        let frame = frame, interval = tables.restartInterval
        let mcusAcross = mcusAcross, mcusDown = mcusDown, planeOffsets = planeOffsets, planeWidths = planeWidths
        try planes.withUnsafeMutableBufferPointer { (planes) throws(JPEGDecodingError) in
            var components: [ScanComponent] = []
            for (slot, coded) in scan.components.enumerated() {
                let component = frame.components[coded.frameIndex]
                guard let dc = tables.huffman[0][coded.dcTable] else { throw .missingTable(kind: "DC Huffman", id: coded.dcTable, offset: offset) }
                guard let ac = tables.huffman[1][coded.acTable] else { throw .missingTable(kind: "AC Huffman", id: coded.acTable, offset: offset) }
                guard let quantization = tables.quantization[component.quantizationTable] else {
                    throw .missingTable(kind: "quantization", id: component.quantizationTable, offset: offset)
                }
                let slotFactors = factors + 64 * slot
                for index in 0..<64 { slotFactors[index] = Int32(quantization[index]) }
                components.append(ScanComponent(dc: dc.lookup, ac: ac.lookup, quantization: slotFactors,
                                                plane: planes.baseAddress! + planeOffsets[coded.frameIndex],
                                                planeWidth: planeWidths[coded.frameIndex],
                                                horizontal: component.horizontal, vertical: component.vertical))
            }
            var block = BlockDecoder(coefficients: coefficients, workspace: workspace, natural: natural, precision: frame.precision)
            if components.count == 1 {
                // A non-interleaved scan codes the component's own blocks, one per MCU (T.81 A.2.2).
                let component = frame.components[scan.components[0].frameIndex]
                let width = (frame.width * component.horizontal + frame.maxHorizontal - 1) / frame.maxHorizontal
                let height = (frame.height * component.vertical + frame.maxVertical - 1) / frame.maxVertical
                try block.decode(components[0], across: (width + 7) / 8, down: (height + 7) / 8,
                                 restartInterval: interval, reader: &reader)
            } else {
                try block.decodeInterleaved(components, across: mcusAcross, down: mcusDown, restartInterval: interval, reader: &reader)
            }
        }
    }

    /// T.81 Figure A.6: the zig-zag sequence, as positions in the 8x8 block.
    private static let naturalOrder: [Int] = [
        0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5,
        12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6, 7, 14, 21, 28,
        35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51,
        58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63,
    ]

    /// The blocks of a scan, decoded and transformed one at a time into their planes.
    private struct BlockDecoder {
        let coefficients: UnsafeMutablePointer<Int32>
        let workspace: UnsafeMutablePointer<Int>
        let natural: UnsafeMutablePointer<Int>
        let precision: Int
        /// The DC prediction of each scan component (T.81 F.2.1.1.3).
        var predictions = [0, 0, 0, 0]

        mutating func decode(_ component: ScanComponent, across: Int, down: Int, restartInterval: Int,
                             reader: inout JPEGBitReader) throws(JPEGDecodingError) {
            var left = restartInterval
            for row in 0..<down {
                for column in 0..<across {
                    try restartIfDue(&left, interval: restartInterval, reader: &reader)
                    try decodeBlock(component, slot: 0, row: row, column: column, reader: &reader)
                }
                guard !reader.ranOut else { throw .truncated(at: reader.position) }
            }
        }

        mutating func decodeInterleaved(_ components: [ScanComponent], across: Int, down: Int, restartInterval: Int,
                                        reader: inout JPEGBitReader) throws(JPEGDecodingError) {
            var left = restartInterval
            for mcuRow in 0..<down {
                for mcuColumn in 0..<across {
                    try restartIfDue(&left, interval: restartInterval, reader: &reader)
                    for (slot, component) in components.enumerated() {
                        for v in 0..<component.vertical {
                            for h in 0..<component.horizontal {
                                try decodeBlock(component, slot: slot, row: mcuRow * component.vertical + v,
                                                column: mcuColumn * component.horizontal + h, reader: &reader)
                            }
                        }
                    }
                }
                guard !reader.ranOut else { throw .truncated(at: reader.position) }
            }
        }

        /// At the end of a restart interval: checks the interval's data sufficed, steps
        /// over the restart marker and resets the DC predictions (T.81 F.2.1.3.1).
        @inline(__always)
        private mutating func restartIfDue(_ left: inout Int, interval: Int, reader: inout JPEGBitReader) throws(JPEGDecodingError) {
            guard interval > 0 else { return }
            if left == 0 {
                guard !reader.ranOut else { throw .truncated(at: reader.position) }
                guard reader.restart() else { throw .badMarker(offset: reader.position) }
                for slot in predictions.indices { predictions[slot] = 0 }
                left = interval
            }
            left -= 1
        }

        /// Decodes one block (T.81 F.2.2.1, F.2.2.2), dequantizes it and writes its samples
        /// at block `row`, `column` of the component's plane.
        @inline(__always)
        private mutating func decodeBlock(_ component: ScanComponent, slot: Int, row: Int, column: Int,
                                          reader: inout JPEGBitReader) throws(JPEGDecodingError) {
            coefficients.update(repeating: 0, count: 64)
            let size = reader.decode(component.dc)
            guard size >= 0 && size <= 16 else { throw .badHuffmanCode(offset: reader.position) }
            predictions[slot] &+= reader.receiveExtend(size)
            let factors = component.quantization
            coefficients[0] = Int32(truncatingIfNeeded: predictions[slot] &* Int(factors[0]))
            var index = 1
            while index < 64 {
                let symbol = reader.decode(component.ac)
                guard symbol >= 0 else { throw .badHuffmanCode(offset: reader.position) }
                let run = symbol >> 4, size = symbol & 0x0F
                if size == 0 {
                    // 0x00 ends the block (EOB), 0xF0 skips 16 zeros (ZRL).
                    guard run == 15 else { break }
                    index += 16
                    continue
                }
                index += run
                guard index < 64 else { throw .badHuffmanCode(offset: reader.position) }
                coefficients[natural[index]] = Int32(truncatingIfNeeded: reader.receiveExtend(size) &* Int(factors[index]))
                index += 1
            }
            let output = component.plane + row * 8 * component.planeWidth + column * 8
            JPEGInverseDCT.transform(coefficients, workspace: workspace, output: output, stride: component.planeWidth,
                                     precision: precision)
        }
    }

    /// The samples, components interleaved after upsampling by replication: one byte each
    /// for 8-bit frames, two little-endian for 12-bit ones.
    func samples() -> [UInt8] {
        let width = frame.width, height = frame.height, count = frame.components.count
        let wide = frame.precision > 8
        let total = width * height * count * (wide ? 2 : 1)
        return [UInt8](unsafeUninitializedCapacity: total) { output, initialized in
            planes.withUnsafeBufferPointer { planes in
                for (index, component) in frame.components.enumerated() {
                    let columns = (0..<width).map { $0 * component.horizontal / frame.maxHorizontal }
                    let plane = planes.baseAddress! + planeOffsets[index]
                    for y in 0..<height {
                        let line = plane + (y * component.vertical / frame.maxVertical) * planeWidths[index]
                        var target = (y * width * count + index) * (wide ? 2 : 1)
                        for x in 0..<width {
                            let value = line[columns[x]]
                            if wide {
                                output[target] = UInt8(truncatingIfNeeded: value)
                                output[target + 1] = UInt8(truncatingIfNeeded: value >> 8)
                                target += 2 * count
                            } else {
                                output[target] = UInt8(truncatingIfNeeded: value)
                                target += count
                            }
                        }
                    }
                }
            }
            initialized = total
        }
    }
}
