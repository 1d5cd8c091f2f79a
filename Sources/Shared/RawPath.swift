/// File names are bytes, Swift strings are Unicode: a name that is not valid UTF-8 (a NAS
/// share written by an old Windows or Latin-1 client) would be repaired with U+FFFD by
/// every String initializer and then name no file, so that a file dropped under such a name
/// would never be seen. Names are decoded here instead: each byte that is not part of a
/// valid UTF-8 sequence becomes one private-use scalar, U+EF80 + (byte - 0x80), and turned
/// back into that byte for every system call (`withSystemPath`). Names that are valid UTF-8
/// are untouched both ways; a valid name that itself holds U+EF80...U+EFFF (private use,
/// never seen in file names) would be misread.
public enum RawPath {
    static let escapes: ClosedRange<UInt32> = 0xEF80...0xEFFF

    /// A file name (or path) from its bytes, without loss.
    public static func string<Bytes: Collection>(fromBytes bytes: Bytes) -> String where Bytes.Element == UInt8 {
        let array = Array(bytes)
        if let valid = String(validating: array, as: UTF8.self) { return valid }
        var scalars = String.UnicodeScalarView()
        var index = 0
        while index < array.count {
            let byte = array[index]
            if byte < 0x80 {
                scalars.append(Unicode.Scalar(byte))
                index += 1
                continue
            }
            // The longest valid sequence (2 to 4 bytes) starting here, else one escaped byte.
            var decoded = false
            for length in 2...4 where index + length <= array.count {
                if let text = String(validating: array[index..<index + length], as: UTF8.self), text.unicodeScalars.count == 1 {
                    scalars.append(contentsOf: text.unicodeScalars)
                    index += length
                    decoded = true
                    break
                }
            }
            if !decoded {
                scalars.append(Unicode.Scalar(UInt32(byte) - 0x80 + escapes.lowerBound)!)
                index += 1
            }
        }
        return String(scalars)
    }

    /// The bytes a path stands for, escaped bytes restored.
    public static func bytes(of path: String) -> [UInt8] {
        guard path.unicodeScalars.contains(where: { escapes.contains($0.value) }) else { return Array(path.utf8) }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(path.utf8.count)
        for scalar in path.unicodeScalars {
            if escapes.contains(scalar.value) {
                bytes.append(UInt8(scalar.value - escapes.lowerBound + 0x80))
            } else {
                bytes.append(contentsOf: String(scalar).utf8)
            }
        }
        return bytes
    }

    /// Calls `body` with the NUL-terminated bytes of `path`, for a system call.
    public static func withSystemPath<R, E: Error>(_ path: String, _ body: (UnsafePointer<CChar>) throws(E) -> R) throws(E) -> R {
        var bytes = bytes(of: path).map { CChar(bitPattern: $0) }
        bytes.append(0)
        return try bytes.withUnsafeBufferPointer { (buffer) throws(E) -> R in try body(buffer.baseAddress!) }
    }

    /// The same path as shown to a person: escaped bytes as `\xHH`.
    public static func display(_ path: String) -> String {
        guard path.unicodeScalars.contains(where: { escapes.contains($0.value) }) else { return path }
        return path.unicodeScalars.map { scalar in
            escapes.contains(scalar.value)
                ? "\\x" + String(UInt8(scalar.value - escapes.lowerBound + 0x80), radix: 16, uppercase: true)
                : String(scalar)
        }.joined()
    }
}
