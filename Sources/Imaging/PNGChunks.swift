import Foundation

/// A PNG file's chunks, to keep its pixels byte for byte while dropping what may identify
/// someone: text (`tEXt`, `zTXt`, `iTXt`), `eXIf`, `tIME`, and any chunk this list does not
/// know (a private chunk may hold anything). Kept: the critical chunks and the ancillary ones
/// that say how the pixels look (transparency, gamma, colour space, significant bits, pixel
/// size, background).
public enum PNGChunks {
    static let signature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
    public static let kept: Set<String> = ["IHDR", "PLTE", "IDAT", "IEND", "tRNS", "gAMA", "cHRM", "sRGB", "iCCP", "sBIT", "pHYs", "bKGD"]

    /// The file without the chunks not `kept`, each kept chunk as it was (its CRC with it);
    /// nil when the file is not a sequence of whole chunks after the signature.
    public static func withoutMetadata(_ png: Data) -> Data? {
        let bytes = [UInt8](png)
        guard bytes.count >= 8, Array(bytes[0..<8]) == signature else { return nil }
        var output = Data(signature)
        var offset = 8
        while offset < bytes.count {
            guard bytes.count - offset >= 12 else { return nil }
            let length = bytes[offset..<offset + 4].reduce(0) { $0 << 8 | Int($1) }
            guard length <= 0x7FFF_FFFF, bytes.count - offset - 12 >= length else { return nil }
            let type = String(decoding: bytes[offset + 4..<offset + 8], as: UTF8.self)
            let end = offset + 12 + length
            if kept.contains(type) { output.append(contentsOf: bytes[offset..<end]) }
            offset = end
            if type == "IEND" { break }
        }
        return output
    }
}
