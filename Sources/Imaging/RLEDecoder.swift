import Foundation

/// RLE Lossless (PS3.5 Annex G): a frame is a 64-byte header (segment count, then up to 15
/// segment offsets) and PackBits segments, one per byte plane: for each sample, its most
/// significant byte first. Decoded here into the native layout the rest of Imaging reads:
/// little-endian words of Bits Allocated, samples interleaved.
enum RLEDecoder {
    static func decode(frame: Data, layout: ImageLayout) throws(RenderError) -> [UInt8] {
        let bytesPerSample = layout.bitsAllocated / 8
        let planes = layout.samplesPerPixel * bytesPerSample
        let pixels = layout.pixelsPerFrame
        guard layout.bitsAllocated % 8 == 0, planes <= 15 else {
            throw .unsupported("RLE with \(layout.samplesPerPixel) samples of \(layout.bitsAllocated) bits")
        }
        let result = frame.withUnsafeBytes { (raw: UnsafeRawBufferPointer) -> Result<[UInt8], RenderError> in
            Result { () throws(RenderError) in try decode(raw, planes: planes, bytesPerSample: bytesPerSample, pixels: pixels, layout: layout) }
        }
        return try result.get()
    }

    private static func decode(_ raw: UnsafeRawBufferPointer, planes: Int, bytesPerSample: Int, pixels: Int,
                           layout: ImageLayout) throws(RenderError) -> [UInt8] {
        guard raw.count >= 64 else { throw .inconsistent("RLE frame of \(raw.count) bytes has no 64-byte header") }
        let segmentCount = Int(UInt32(littleEndian: raw.loadUnaligned(as: UInt32.self)))
        guard segmentCount == planes else {
            throw .inconsistent("RLE frame has \(segmentCount) segments, \(layout.samplesPerPixel) samples of \(layout.bitsAllocated) bits need \(planes)")
        }
        // PackBits turns 2 bytes into at most 128: a frame too short to hold its pixels is
        // refused before their buffer is allocated.
        guard raw.count.multipliedReportingOverflow(by: 64).partialValue >= pixels * planes || raw.count > Int.max / 64 else {
            throw .inconsistent("RLE frame of \(raw.count) bytes cannot hold \(pixels) pixels of \(planes) byte planes")
        }
        let offsets = (0..<segmentCount).map { Int(UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 + 4 * $0, as: UInt32.self))) }
        var output = [UInt8](repeating: 0, count: pixels * planes)
        for segment in 0..<segmentCount {
            let start = offsets[segment]
            let end = segment + 1 < segmentCount ? offsets[segment + 1] : raw.count
            guard start >= 64, start <= end, end <= raw.count else {
                throw .inconsistent("RLE segment \(segment + 1) at offset \(start) lies outside the \(raw.count)-byte frame")
            }
            // Segment s holds byte (s % bytesPerSample) of sample (s / bytesPerSample),
            // most significant first; it lands at that byte of each little-endian word.
            let sample = segment / bytesPerSample
            let byteInWord = bytesPerSample - 1 - segment % bytesPerSample
            let stride = planes
            let first = sample * bytesPerSample + byteInWord
            let produced = unpackBits(UnsafeRawBufferPointer(rebasing: raw[start..<end]), into: &output,
                                      first: first, stride: stride, count: pixels)
            guard produced == pixels else {
                throw .inconsistent("RLE segment \(segment + 1) decodes to \(produced) bytes, the frame needs \(pixels)")
            }
        }
        return output
    }

    /// PackBits (PS3.5 G.3.1): a header byte n >= 0 copies the next n + 1 bytes, -127...-1
    /// repeats the next byte 1 - n times, -128 does nothing. Writes at most `count` bytes,
    /// `stride` apart from `first`; returns how many were written. Output beyond `count`
    /// (encoders pad segments to an even length) is ignored.
    static func unpackBits(_ input: UnsafeRawBufferPointer, into output: inout [UInt8], first: Int, stride: Int, count: Int) -> Int {
        var position = 0, written = 0
        output.withUnsafeMutableBufferPointer { output in
            while position < input.count && written < count {
                let header = Int(Int8(bitPattern: input[position]))
                position += 1
                if header >= 0 {
                    let run = min(header + 1, input.count - position, count - written)
                    for offset in 0..<run { output[first + (written + offset) * stride] = input[position + offset] }
                    position += header + 1
                    written += run
                } else if header != -128 {
                    guard position < input.count else { break }
                    let value = input[position]
                    position += 1
                    let run = min(1 - header, count - written)
                    for offset in 0..<run { output[first + (written + offset) * stride] = value }
                    written += run
                }
            }
        }
        return written
    }
}
