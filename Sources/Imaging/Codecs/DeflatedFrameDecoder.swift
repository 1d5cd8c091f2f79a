import CZlib
import Foundation

/// Deflated Image Frame Compression (PS3.5 8.2.16, 1.2.840.10008.1.2.8.1): each frame is
/// the native encoding of one frame (1-bit frames packed from bit 0 of their own first
/// byte), compressed with raw deflate (RFC 1951, no zlib header).
enum DeflatedFrameDecoder {
    /// The frame's native bytes; `expected` is how many one native frame holds: more is an
    /// error (a frame cannot grow past its size), fewer is a truncated frame.
    static func inflate(_ frame: Data, expected: Int) throws(RenderError) -> Data {
        // zlib counts in 32 bits: a larger frame (beyond any real one) is refused, not truncated.
        guard frame.count < Int(UInt32.max), expected < Int(UInt32.max) else {
            throw .unsupported("a deflated frame of \(frame.count) bytes for \(expected) native bytes (zlib takes at most 4 GiB at once)")
        }
        var output = Data(count: expected)
        var stream = z_stream()
        guard inflateInit2_(&stream, -MAX_WBITS, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw .corruptFrame("zlib: cannot start inflating")
        }
        defer { inflateEnd(&stream) }
        let (status, produced) = frame.withUnsafeBytes { input in
            output.withUnsafeMutableBytes { out -> (Int32, Int) in
                stream.next_in = UnsafeMutablePointer(mutating: input.bindMemory(to: Bytef.self).baseAddress)
                stream.avail_in = uInt(input.count)
                stream.next_out = out.bindMemory(to: Bytef.self).baseAddress
                stream.avail_out = uInt(out.count)
                let status = CZlib.inflate(&stream, Z_FINISH)
                return (status, out.count - Int(stream.avail_out))
            }
        }
        switch status {
        case Z_STREAM_END where produced == expected:
            return output
        case Z_STREAM_END:
            throw .corruptFrame("a deflated frame inflates to \(produced) bytes, a native frame holds \(expected)")
        case Z_BUF_ERROR where produced == expected:
            throw .corruptFrame("a deflated frame inflates to more than the \(expected) bytes of a native frame")
        default:
            let reason = stream.msg.map { String(cString: $0) } ?? "status \(status)"
            throw .corruptFrame("zlib: \(reason) after \(produced) of \(expected) bytes")
        }
    }
}
