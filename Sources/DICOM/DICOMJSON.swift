import Foundation

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

    private func write(_ dataSet: DataSet, into output: inout JSONOutput, topLevel: Bool) {
        output.beginObject()
        for element in dataSet.elements {
            if topLevel && !includePixelData && element.tag.isPixelData { continue }
            output.key(element.tag.jsonKey)
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
    fileprivate var isJSONNumber: Bool {
        var bytes = Array(utf8)[...]
        if bytes.first == UInt8(ascii: "-") { bytes = bytes.dropFirst() }
        func digits() -> Int {
            let count = bytes.prefix { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }.count
            bytes = bytes.dropFirst(count)
            return count
        }
        let first = bytes.first
        let integerDigits = digits()
        guard integerDigits > 0, !(first == UInt8(ascii: "0") && integerDigits > 1) else { return false }
        if bytes.first == UInt8(ascii: ".") {
            bytes = bytes.dropFirst()
            guard digits() > 0 else { return false }
        }
        if bytes.first == UInt8(ascii: "e") || bytes.first == UInt8(ascii: "E") {
            bytes = bytes.dropFirst()
            if bytes.first == UInt8(ascii: "+") || bytes.first == UInt8(ascii: "-") { bytes = bytes.dropFirst() }
            guard digits() > 0 else { return false }
        }
        return bytes.isEmpty
    }
}

extension Data {
    /// The bytes with every `wordSize`-byte word reversed: big endian to little endian.
    func byteSwapped(wordSize: Int) -> Data {
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
    private(set) var text = ""
    private let pretty: Bool
    private var depth = 0
    private var needsComma = false

    init(pretty: Bool) { self.pretty = pretty }

    mutating func beginObject() { open("{") }
    mutating func endObject() { close("}") }
    mutating func beginArray() { open("[") }
    mutating func endArray() { close("]") }

    mutating func key(_ key: String) {
        separate()
        appendQuoted(key)
        text += pretty ? ": " : ":"
        needsComma = false
    }

    /// Marks the start of an array element (objects and arrays call `separate` themselves).
    mutating func arrayElement() { separate() ; needsComma = false }

    mutating func string(_ value: String) {
        appendQuoted(value)
        needsComma = true
    }

    mutating func raw(_ literal: String) {
        text += literal
        needsComma = true
    }

    mutating func null() { raw("null") }

    private mutating func open(_ bracket: String) {
        text += bracket
        depth += 1
        needsComma = false
    }

    private mutating func close(_ bracket: String) {
        depth -= 1
        if pretty && needsComma { newline() }
        text += bracket
        needsComma = true
    }

    private mutating func separate() {
        if needsComma { text += "," }
        if pretty { newline() }
    }

    private mutating func newline() {
        text += "\n" + String(repeating: "  ", count: depth)
    }

    private mutating func appendQuoted(_ value: String) {
        text += "\""
        var pending = Substring.UnicodeScalarView()
        for scalar in value.unicodeScalars {
            let escaped: String?
            switch scalar {
            case "\"": escaped = "\\\""
            case "\\": escaped = "\\\\"
            case "\n": escaped = "\\n"
            case "\r": escaped = "\\r"
            case "\t": escaped = "\\t"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                escaped = "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: escaped = nil
            }
            if let escaped {
                text += String(pending)
                pending = Substring.UnicodeScalarView()
                text += escaped
            } else {
                pending.append(scalar)
            }
        }
        text += String(pending)
        text += "\""
    }
}
