@preconcurrency import Glibc

/// The character repertoires named by Specific Character Set (0008,0005), PS3.3 C.12.1.1.2,
/// and the decoding of text values in them.
///
/// Single-byte sets and the multi-byte sets without code extensions decode the whole value
/// with one converter. With ISO 2022 code extensions the value is cut at each escape
/// sequence and every run is decoded in the set its escape selects, as PS3.5 6.1.2.5.3 lays out.
public struct SpecificCharacterSet: Sendable, Equatable {
    /// One reference, not three arrays and an enum: every dataset and item carries its
    /// character set, and copying it is on the reader's per-element path.
    private final class Storage: Sendable {
        let terms: [String]
        let unknownTerms: [String]
        let initial: Repertoire
        let usesCodeExtensions: Bool

        init(terms: [String], unknownTerms: [String], initial: Repertoire, usesCodeExtensions: Bool) {
            self.terms = terms
            self.unknownTerms = unknownTerms
            self.initial = initial
            self.usesCodeExtensions = usesCodeExtensions
        }
    }

    private let storage: Storage

    /// The defined terms as found in the file, first value first.
    public var terms: [String] { storage.terms }
    /// Terms that name no character set dicomdrop knows; their text decodes as Latin-1.
    public var unknownTerms: [String] { storage.unknownTerms }
    var initial: Repertoire { storage.initial }
    var usesCodeExtensions: Bool { storage.usesCodeExtensions }

    /// The default repertoire (ISO IR 6). Bytes above 7F, which it does not define, decode
    /// as Latin-1 as pydicom and dcmtk do, so that no byte is lost.
    public static let `default` = SpecificCharacterSet(terms: [])

    /// Builds the character set from the values of (0008,0005).
    public init(terms rawTerms: [String]) {
        var unknown: [String] = []
        var first: Repertoire = .latin1
        for (index, term) in rawTerms.enumerated() {
            guard let repertoire = Repertoire(term: term) else {
                unknown.append(term)
                continue
            }
            if index == 0 { first = repertoire }
        }
        storage = Storage(terms: rawTerms, unknownTerms: unknown, initial: first,
                          usesCodeExtensions: rawTerms.contains { $0.hasPrefix("ISO 2022") })
    }

    public static func == (lhs: SpecificCharacterSet, rhs: SpecificCharacterSet) -> Bool {
        lhs.storage === rhs.storage || lhs.terms == rhs.terms
    }

    /// Decodes a text value of one of the VRs that use the Specific Character Set.
    public func decode(_ bytes: UnsafeRawBufferPointer) -> String {
        if bytes.allSatisfy({ $0 < 0x80 && $0 != 0x1B }) {
            return String(decoding: bytes, as: UTF8.self)
        }
        guard usesCodeExtensions, bytes.contains(0x1B) else {
            return initial.decode(bytes)
        }
        return decodeWithCodeExtensions(bytes)
    }

    /// Decodes ISO 2022 text: escape sequences designate the G0 set (bytes 21-7E) or the
    /// G1 set (bytes A1-FE); each run of bytes decodes in the set that holds it.
    private func decodeWithCodeExtensions(_ bytes: UnsafeRawBufferPointer) -> String {
        var g0: Repertoire = initial == .jisX0201 ? .jisX0201 : .latin1
        var g1: Repertoire = initial.isMultiByteG0 ? .latin1 : initial
        var result = ""
        var run: [UInt8] = []
        var runSet: Repertoire = g0
        func flush() {
            if !run.isEmpty { result += run.withUnsafeBytes { runSet.decode($0) } }
            run.removeAll(keepingCapacity: true)
        }
        var index = 0
        while index < bytes.count {
            let byte = bytes[index]
            if byte == 0x1B {
                flush()
                let designation = Repertoire.designated(by: bytes, at: index)
                switch designation.register {
                case .g0: g0 = designation.repertoire
                case .g1: g1 = designation.repertoire
                case nil: break
                }
                index += designation.length
                continue
            }
            let set = byte < 0x80 ? g0 : g1
            if set != runSet {
                flush()
                runSet = set
            }
            run.append(byte)
            index += 1
        }
        flush()
        return result
    }
}

/// One character repertoire and how its bytes become Unicode.
enum Repertoire: Sendable, Equatable {
    case latin1
    case utf8
    /// JIS X 0201: ASCII in G0 (as Python's shift_jis reads it) and half-width katakana at A1-DF.
    case jisX0201
    /// JIS X 0208 and JIS X 0212, 94x94 sets in G0: decoded by iconv's ISO-2022-JP
    /// converters, which are handed the escape sequence that selects them.
    case jisX0208, jisX0212
    /// A glibc iconv converter by name.
    case iconv(String)

    init?(term: String) {
        switch term.trimmingSpaces {
        case "", "ISO_IR 6", "ISO 2022 IR 6", "ISO_IR 100", "ISO 2022 IR 100": self = .latin1
        case "ISO_IR 101", "ISO 2022 IR 101": self = .iconv("ISO-8859-2")
        case "ISO_IR 109", "ISO 2022 IR 109": self = .iconv("ISO-8859-3")
        case "ISO_IR 110", "ISO 2022 IR 110": self = .iconv("ISO-8859-4")
        case "ISO_IR 144", "ISO 2022 IR 144": self = .iconv("ISO-8859-5")
        case "ISO_IR 127", "ISO 2022 IR 127": self = .iconv("ISO-8859-6")
        case "ISO_IR 126", "ISO 2022 IR 126": self = .iconv("ISO-8859-7")
        case "ISO_IR 138", "ISO 2022 IR 138": self = .iconv("ISO-8859-8")
        case "ISO_IR 148", "ISO 2022 IR 148": self = .iconv("ISO-8859-9")
        case "ISO_IR 203", "ISO 2022 IR 203": self = .iconv("ISO-8859-15")
        case "ISO_IR 166", "ISO 2022 IR 166": self = .iconv("TIS-620")
        case "ISO_IR 13", "ISO 2022 IR 13": self = .jisX0201
        case "ISO 2022 IR 87": self = .jisX0208
        case "ISO 2022 IR 159": self = .jisX0212
        case "ISO 2022 IR 149": self = .iconv("EUC-KR")
        case "ISO 2022 IR 58": self = .iconv("GB2312")
        case "ISO_IR 192": self = .utf8
        case "GB18030": self = .iconv("GB18030")
        case "GBK": self = .iconv("GBK")
        default: return nil
        }
    }

    var isMultiByteG0: Bool { self == .jisX0208 || self == .jisX0212 }

    enum Register { case g0, g1 }

    /// The repertoire an escape sequence at `index` designates (PS3.3 Tables C.12-3, -4),
    /// the code element it goes into, and the sequence's length. An unknown sequence is
    /// skipped one byte at a time and changes nothing.
    static func designated(by bytes: UnsafeRawBufferPointer, at index: Int)
        -> (repertoire: Repertoire, register: Register?, length: Int) {
        func byte(_ offset: Int) -> UInt8 { index + offset < bytes.count ? bytes[index + offset] : 0 }
        switch (byte(1), byte(2), byte(3)) {
        case (0x28, 0x42, _): return (.latin1, .g0, 3)                               // ESC ( B: IR 6
        case (0x28, 0x4A, _): return (.jisX0201, .g0, 3)                             // ESC ( J: IR 14
        case (0x29, 0x49, _): return (.jisX0201, .g1, 3)                             // ESC ) I: IR 13
        case (0x24, 0x42, _): return (.jisX0208, .g0, 3)                             // ESC $ B: IR 87
        case (0x24, 0x28, 0x44): return (.jisX0212, .g0, 4)                          // ESC $ ( D: IR 159
        case (0x24, 0x29, 0x43): return (.iconv("EUC-KR"), .g1, 4)                   // ESC $ ) C: IR 149
        case (0x24, 0x29, 0x41): return (.iconv("GB2312"), .g1, 4)                   // ESC $ ) A: IR 58
        case (0x2D, 0x41, _): return (.latin1, .g1, 3)                               // ESC - A: IR 100
        case (0x2D, 0x42, _): return (.iconv("ISO-8859-2"), .g1, 3)
        case (0x2D, 0x43, _): return (.iconv("ISO-8859-3"), .g1, 3)
        case (0x2D, 0x44, _): return (.iconv("ISO-8859-4"), .g1, 3)
        case (0x2D, 0x4C, _): return (.iconv("ISO-8859-5"), .g1, 3)
        case (0x2D, 0x47, _): return (.iconv("ISO-8859-6"), .g1, 3)
        case (0x2D, 0x46, _): return (.iconv("ISO-8859-7"), .g1, 3)
        case (0x2D, 0x48, _): return (.iconv("ISO-8859-8"), .g1, 3)
        case (0x2D, 0x4D, _): return (.iconv("ISO-8859-9"), .g1, 3)
        case (0x2D, 0x62, _): return (.iconv("ISO-8859-15"), .g1, 3)
        case (0x2D, 0x54, _): return (.iconv("TIS-620"), .g1, 3)
        default: return (.latin1, nil, 1)
        }
    }

    func decode(_ bytes: UnsafeRawBufferPointer) -> String {
        switch self {
        case .latin1:
            // ISO 8859-1 bytes are the first 256 code points: two UTF-8 bytes above 0x7F.
            var utf8: [UInt8] = []
            utf8.reserveCapacity(bytes.count * 2)
            for byte in bytes {
                if byte < 0x80 {
                    utf8.append(byte)
                } else {
                    utf8.append(0xC0 | byte >> 6)
                    utf8.append(0x80 | byte & 0x3F)
                }
            }
            return String(decoding: utf8, as: UTF8.self)
        case .utf8:
            return String(decoding: bytes, as: UTF8.self)
        case .jisX0201:
            return String(String.UnicodeScalarView(bytes.lazy.map { byte in
                (0xA1...0xDF).contains(byte) ? Unicode.Scalar(0xFF61 + UInt32(byte) - 0xA1)! : Unicode.Scalar(byte)
            }))
        case .jisX0208:
            return IconvDecoder.decode([0x1B, 0x24, 0x42] + bytes, from: "ISO-2022-JP") ?? Repertoire.latin1.decode(bytes)
        case .jisX0212:
            return IconvDecoder.decode([0x1B, 0x24, 0x28, 0x44] + bytes, from: "ISO-2022-JP-2") ?? Repertoire.latin1.decode(bytes)
        case .iconv(let name):
            return IconvDecoder.decode(Array(bytes), from: name) ?? Repertoire.latin1.decode(bytes)
        }
    }
}

/// glibc's iconv, opened per call: a converter holds shift state and must not be shared
/// between threads, and opening one costs microseconds once glibc has loaded its module.
enum IconvDecoder {
    static func decode(_ bytes: [UInt8], from encoding: String) -> String? {
        let converter = iconv_open("UTF-8", encoding)
        guard converter != iconv_t(bitPattern: -1) else { return nil }
        defer { iconv_close(converter) }
        var output = [UInt8](repeating: 0, count: bytes.count * 4 + 16)
        var input = bytes
        let produced: Int? = input.withUnsafeMutableBufferPointer { inputBuffer in
            output.withUnsafeMutableBufferPointer { outputBuffer in
                var inPointer: UnsafeMutablePointer<CChar>? = UnsafeMutableRawPointer(inputBuffer.baseAddress!)
                    .assumingMemoryBound(to: CChar.self)
                var inLeft = inputBuffer.count
                var outPointer: UnsafeMutablePointer<CChar>? = UnsafeMutableRawPointer(outputBuffer.baseAddress!)
                    .assumingMemoryBound(to: CChar.self)
                var outLeft = outputBuffer.count
                while inLeft > 0 {
                    if iconv(converter, &inPointer, &inLeft, &outPointer, &outLeft) == -1 {
                        // An invalid sequence: emit U+FFFD and go on, as Python's "replace".
                        guard errno == EILSEQ || errno == EINVAL, outLeft >= 3 else { return nil }
                        for byte: UInt8 in [0xEF, 0xBF, 0xBD] {
                            outPointer!.pointee = CChar(bitPattern: byte)
                            outPointer! += 1
                        }
                        outLeft -= 3
                        inPointer! += 1
                        inLeft -= 1
                    }
                }
                return outputBuffer.count - outLeft
            }
        }
        guard let produced else { return nil }
        return String(decoding: output[..<produced], as: UTF8.self)
    }
}

extension String {
    var trimmingSpaces: String {
        var scalars = Substring(self)
        while scalars.first == " " { scalars.removeFirst() }
        while scalars.last == " " || scalars.last == "\0" { scalars.removeLast() }
        return String(scalars)
    }
}
