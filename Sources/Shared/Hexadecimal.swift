/// Bytes as hexadecimal text, two digits a byte, most significant first: SHA-256 digests
/// as `sha256sum` prints them, keyed names, tag numbers, JSON's `\u00XX` escapes. One
/// encoder for every module (DICOM included), so it lives below them all.
public enum Hexadecimal {
    private static let lowerDigits = Array("0123456789abcdef".utf8)
    private static let upperDigits = Array("0123456789ABCDEF".utf8)

    public static func string(_ bytes: some Sequence<UInt8>, uppercase: Bool = false) -> String {
        var text: [UInt8] = []
        text.reserveCapacity(2 * bytes.underestimatedCount)
        for byte in bytes { append(byte, to: &text, uppercase: uppercase) }
        return String(decoding: text, as: UTF8.self)
    }

    /// The two digits of `byte` at the end of UTF-8 text being built.
    public static func append(_ byte: UInt8, to text: inout [UInt8], uppercase: Bool = false) {
        let digits = uppercase ? upperDigits : lowerDigits
        text.append(digits[Int(byte >> 4)])
        text.append(digits[Int(byte & 0xF)])
    }
}
