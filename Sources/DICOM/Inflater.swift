import CZlib
import Foundation

/// Raw DEFLATE (RFC 1951, no zlib header) decompression for Deflated Explicit VR Little
/// Endian datasets (PS3.5 A.5).
enum Inflater {
    /// Throws once the output would pass `limit` bytes: a deflate bomb is refused after
    /// `limit` bytes of work, not after it has filled the memory.
    static func inflateRaw(_ input: Data, limit: Int = .max) throws(DICOMError) -> Data {
        var stream = z_stream()
        // windowBits -15: a raw deflate stream, as PS3.5 A.5 prescribes.
        guard inflateInit2_(&stream, -MAX_WBITS, zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw .inflateFailed(reason: "zlib could not be initialised")
        }
        defer { inflateEnd(&stream) }
        var output = Data()
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        var status: Int32 = Z_OK
        var message = ""
        var tooLarge = false
        input.withUnsafeBytes { (source: UnsafeRawBufferPointer) in
            stream.next_in = UnsafeMutablePointer(mutating: source.bindMemory(to: UInt8.self).baseAddress)
            stream.avail_in = UInt32(source.count)
            repeat {
                chunk.withUnsafeMutableBufferPointer { buffer in
                    stream.next_out = buffer.baseAddress
                    stream.avail_out = UInt32(buffer.count)
                    status = inflate(&stream, Z_NO_FLUSH)
                    output.append(buffer.baseAddress!, count: buffer.count - Int(stream.avail_out))
                }
                tooLarge = output.count > limit
            } while !tooLarge && status == Z_OK && (stream.avail_in > 0 || stream.avail_out == 0)
            if status != Z_OK && status != Z_STREAM_END, let text = stream.msg {
                message = String(cString: text)
            }
        }
        guard !tooLarge else {
            throw .inflateFailed(reason: "it inflates to more than \(limit) bytes (limits.max_inflated_bytes)")
        }
        // A stream that simply ends without its final block still gave every byte it had;
        // a stream with corrupt data did not.
        guard status == Z_OK || status == Z_STREAM_END || status == Z_BUF_ERROR else {
            throw .inflateFailed(reason: message.isEmpty ? "zlib status \(status)" : message)
        }
        return output
    }
}
