import Foundation
import Shared

/// Encodes a dataset in the DICOM JSON Model of PS3.18 F.2.
///
/// Choices where the standard leaves room, each as pydicom and DICOMweb servers do:
/// PN values are objects with Alphabetic/Ideographic/Phonetic groups (empty groups left
/// out); IS and DS are JSON numbers; AT values are "GGGGEEEE" strings; binary VRs are
/// base64 InlineBinary in little-endian byte order; an empty element has no "Value"; an
/// empty value inside a multi-valued element is null (F.2.5).
public struct DICOMJSONEncoder: Sendable {
    /// Top-level Pixel Data (7FE0,0008/0009/0010) is bulk data, left out unless asked for.
    public var includePixelData: Bool
    public var prettyPrinted: Bool

    public init(includePixelData: Bool = false, prettyPrinted: Bool = false) {
        self.includePixelData = includePixelData
        self.prettyPrinted = prettyPrinted
    }

    public func encode(_ dataSet: DataSet) -> String {
        var output = JSONOutput(pretty: prettyPrinted)
        write(dataSet, into: &output, topLevel: true)
        return output.text
    }

    /// The same document as UTF-8 bytes, for writing to a file without a String in between.
    public func encodedData(_ dataSet: DataSet) -> Data {
        var output = JSONOutput(pretty: prettyPrinted)
        write(dataSet, into: &output, topLevel: true)
        return output.data
    }

    private func write(_ dataSet: DataSet, into output: inout JSONOutput, topLevel: Bool) {
        output.beginObject()
        for element in dataSet.elements {
            if topLevel && !includePixelData && element.tag.isPixelData { continue }
            output.key(element.tag)
            write(element, of: dataSet, into: &output)
        }
        output.endObject()
    }

    private func write(_ element: DataElement, of dataSet: DataSet, into output: inout JSONOutput) {
        output.beginObject()
        output.key("vr")
        output.string(element.vr.rawValue)
        switch element.value {
        case .sequence(let items):
            if !items.isEmpty {
                output.key("Value")
                output.beginArray()
                for item in items {
                    output.arrayElement()
                    write(item, into: &output, topLevel: false)
                }
                output.endArray()
            }
        case .encapsulated(let pixelData):
            output.key("InlineBinary")
            output.string(pixelData.encodedItems.base64EncodedString())
        case .inFile(let pixelData):
            // Too large to inline: where the value is (PS3.18 F.2.7), as a file URI.
            output.key("BulkDataURI")
            output.string(URL(fileURLWithPath: pixelData.path).absoluteString)
        case .bytes(let bytes):
            writeValue(of: element, bytes: bytes, dataSet: dataSet, into: &output)
        }
        output.endObject()
    }

    private func writeValue(of element: DataElement, bytes: Data, dataSet: DataSet, into output: inout JSONOutput) {
        guard !bytes.isEmpty else { return }
        let vr = element.vr
        if vr.isBulkBinary {
            output.key("InlineBinary")
            let littleEndian = dataSet.byteOrder == .bigEndian && vr.wordSize > 1 ? bytes.byteSwapped(wordSize: vr.wordSize) : bytes
            output.string(littleEndian.base64EncodedString())
            return
        }
        switch vr {
        case .AT:
            let words = dataSet.readBinary(bytes, size: 2) { UInt16(truncatingIfNeeded: $0) }.compactMap { $0 }
            let tags = stride(from: 0, to: words.count - 1, by: 2).map { Tag(words[$0], words[$0 + 1]).jsonKey }
            writeArray(tags, into: &output) { $0.string($1) }
        case .PN:
            let names = dataSet.textValues(of: element)
            guard !names.isEmpty else { return }
            writeArray(names, into: &output) { output, name in
                if name.isEmpty { output.null(); return }
                let groups = name.split(separator: "=", omittingEmptySubsequences: false)
                output.beginObject()
                for (key, group) in zip(["Alphabetic", "Ideographic", "Phonetic"], groups) where !group.isEmpty {
                    output.key(key)
                    output.string(String(group))
                }
                output.endObject()
            }
        case .IS, .DS, .US, .SS, .UL, .SL, .SV, .UV, .FL, .FD:
            writeNumbers(of: element, dataSet: dataSet, into: &output)
        default:
            let values = dataSet.textValues(of: element)
            guard !values.isEmpty else { return }
            writeArray(values, into: &output) { output, value in
                if value.isEmpty { output.null() } else { output.string(value) }
            }
        }
    }

    private func writeNumbers(of element: DataElement, dataSet: DataSet, into output: inout JSONOutput) {
        if element.vr == .DS {
            // Values that are JSON numbers with no exponent, of at most 300 characters, are
            // finite Doubles whatever their digits: written as they are, as the general path
            // below would, without parsing each to a Double and splitting the text twice.
            let texts = dataSet.textValues(of: element)
            if !texts.isEmpty, texts.allSatisfy({ $0.jsonNumberForm == .withoutExponent && $0.utf8.count <= 300 }) {
                writeArray(texts, into: &output) { $0.raw($1) }
                return
            }
        }
        switch dataSet.numericValues(of: element) {
        case .integers(let values)?:
            guard !values.isEmpty else { return }
            writeArray(values, into: &output) { output, value in
                if let value { output.raw(String(value)) } else { output.null() }
            }
        case .floats(let values)?:
            guard !values.isEmpty else { return }
            // DS keeps the file's digits when they already form a JSON number: no precision
            // is lost to a round trip through Double.
            let texts = element.vr == .DS ? dataSet.textValues(of: element) : []
            writeArray(Array(values.enumerated()), into: &output) { output, entry in
                let (index, value) = entry
                guard let value, value.isFinite else { output.null(); return }
                if index < texts.count, texts[index].isJSONNumber {
                    output.raw(texts[index])
                } else {
                    output.raw(value.jsonText)
                }
            }
        case nil:
            // Numbers that do not parse are kept as the text they are, not dropped.
            let values = dataSet.textValues(of: element)
            guard !values.isEmpty else { return }
            writeArray(values, into: &output) { $0.string($1) }
        }
    }

    private func writeArray<T>(_ values: [T], into output: inout JSONOutput, _ writeOne: (inout JSONOutput, T) -> Void) {
        output.key("Value")
        output.beginArray()
        for value in values {
            output.arrayElement()
            writeOne(&output, value)
        }
        output.endArray()
    }
}

extension Double {
    /// Shortest round-trip decimal, the form Python's repr and JSON encoders print.
    fileprivate var jsonText: String {
        if self == rounded(), abs(self) < 1e16 { return String(Int64(self)) + ".0" }
        return description
    }
}

extension String {
    /// Matches the JSON number grammar of RFC 8259 section 6.
    fileprivate var isJSONNumber: Bool { jsonNumberForm != nil }

    fileprivate enum JSONNumberForm { case withoutExponent, withExponent }

    /// The text as a JSON number (RFC 8259 6: minus, integer without leading zeros,
    /// fraction, exponent), or nil when it is not one. A scan of its bytes, no copy.
    fileprivate var jsonNumberForm: JSONNumberForm? {
        let utf8 = self.utf8
        return utf8.withContiguousStorageIfAvailable { Self.jsonNumberForm(of: $0) } ?? Self.jsonNumberForm(of: Array(utf8))
    }

    private static func jsonNumberForm<Bytes: RandomAccessCollection>(of bytes: Bytes) -> JSONNumberForm? where Bytes.Element == UInt8, Bytes.Index == Int {
        var index = bytes.startIndex
        let end = bytes.endIndex
        func digits() -> Int {
            let start = index
            while index < end, bytes[index] >= UInt8(ascii: "0"), bytes[index] <= UInt8(ascii: "9") { index += 1 }
            return index - start
        }
        if index < end, bytes[index] == UInt8(ascii: "-") { index += 1 }
        let firstDigit = index
        let integerDigits = digits()
        guard integerDigits > 0, !(bytes[firstDigit] == UInt8(ascii: "0") && integerDigits > 1) else { return nil }
        if index < end, bytes[index] == UInt8(ascii: ".") {
            index += 1
            guard digits() > 0 else { return nil }
        }
        var form = JSONNumberForm.withoutExponent
        if index < end, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
            index += 1
            if index < end, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") { index += 1 }
            guard digits() > 0 else { return nil }
            form = .withExponent
        }
        return index == end ? form : nil
    }
}

extension Data {
    /// The bytes with every `wordSize`-byte word reversed: big endian to little endian.
    public func byteSwapped(wordSize: Int) -> Data {
        var swapped = Data(self)
        swapped.withUnsafeMutableBytes { raw in
            var start = 0
            while start + wordSize <= raw.count {
                var low = start, high = start + wordSize - 1
                while low < high {
                    raw.swapAt(low, high)
                    low += 1
                    high -= 1
                }
                start += wordSize
            }
        }
        return swapped
    }
}

/// A minimal JSON writer: the dataset shape is known, so no general encoder is needed and
/// none of its per-value allocation is paid.
struct JSONOutput {
    /// UTF-8 bytes: appending whole runs of bytes is several times faster than growing a
    /// String scalar by scalar, and every character JSON escapes is ASCII, so a byte scan
    /// never splits a multi-byte sequence.
    private var bytes: [UInt8] = []
    private let pretty: Bool
    private var depth = 0
    private var needsComma = false

    init(pretty: Bool) {
        self.pretty = pretty
        bytes.reserveCapacity(8192)
    }

    var text: String { String(decoding: bytes, as: UTF8.self) }
    var data: Data { Data(bytes) }

    mutating func beginObject() { open(UInt8(ascii: "{")) }
    mutating func endObject() { close(UInt8(ascii: "}")) }
    mutating func beginArray() { open(UInt8(ascii: "[")) }
    mutating func endArray() { close(UInt8(ascii: "]")) }

    mutating func key(_ key: String) {
        separate()
        appendQuoted(key)
        bytes.append(UInt8(ascii: ":"))
        if pretty { bytes.append(UInt8(ascii: " ")) }
        needsComma = false
    }

    /// A tag's key, `"GGGGEEEE":`, its digits written in place (they need no escaping).
    mutating func key(_ tag: Tag) {
        separate()
        bytes.append(UInt8(ascii: "\""))
        let start = bytes.count
        bytes.append(contentsOf: repeatElement(0, count: 8))
        bytes.withUnsafeMutableBytes { tag.writeHexDigits(into: UnsafeMutableRawBufferPointer(rebasing: $0[start..<(start + 8)])) }
        bytes.append(UInt8(ascii: "\""))
        bytes.append(UInt8(ascii: ":"))
        if pretty { bytes.append(UInt8(ascii: " ")) }
        needsComma = false
    }

    /// Marks the start of an array element (objects and arrays call `separate` themselves).
    mutating func arrayElement() { separate() ; needsComma = false }

    mutating func string(_ value: String) {
        appendQuoted(value)
        needsComma = true
    }

    mutating func raw(_ literal: String) {
        bytes.append(contentsOf: literal.utf8)
        needsComma = true
    }

    mutating func null() { raw("null") }

    private mutating func open(_ bracket: UInt8) {
        bytes.append(bracket)
        depth += 1
        needsComma = false
    }

    private mutating func close(_ bracket: UInt8) {
        depth -= 1
        if pretty && needsComma { newline() }
        bytes.append(bracket)
        needsComma = true
    }

    private mutating func separate() {
        if needsComma { bytes.append(UInt8(ascii: ",")) }
        if pretty { newline() }
    }

    private mutating func newline() {
        bytes.append(UInt8(ascii: "\n"))
        bytes.append(contentsOf: repeatElement(UInt8(ascii: " "), count: 2 * depth))
    }

    private mutating func appendQuoted(_ value: String) {
        bytes.append(UInt8(ascii: "\""))
        var value = value
        value.withUTF8 { utf8 in
            var runStart = 0
            for index in 0..<utf8.count {
                let byte = utf8[index]
                guard byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") else { continue }
                bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[runStart..<index]))
                runStart = index + 1
                bytes.append(UInt8(ascii: "\\"))
                switch byte {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"): bytes.append(byte)
                case UInt8(ascii: "\n"): bytes.append(UInt8(ascii: "n"))
                case UInt8(ascii: "\r"): bytes.append(UInt8(ascii: "r"))
                case UInt8(ascii: "\t"): bytes.append(UInt8(ascii: "t"))
                default:
                    bytes.append(contentsOf: "u00".utf8)
                    Hexadecimal.append(byte, to: &bytes)
                }
            }
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[runStart...]))
        }
        bytes.append(UInt8(ascii: "\""))
    }
}
