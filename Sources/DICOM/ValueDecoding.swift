import Foundation

/// Decoding of element values into Swift values, following the per-VR rules of PS3.5 6.2
/// for separators and padding.
extension DataSet {
    /// The text values of a string element: decoded in this dataset's character set where
    /// the VR uses it, split at backslashes unless the VR holds one value, padding removed.
    public func strings(_ tag: Tag) -> [String]? {
        self[tag].map { textValues(of: $0) }
    }

    /// The first text value, or nil when the element is absent or empty.
    public func string(_ tag: Tag) -> String? {
        strings(tag)?.first.flatMap { $0.isEmpty ? nil : $0 }
    }

    /// Integer values of US, SS, UL, SL, SV, UV or IS elements.
    public func integers(_ tag: Tag) -> [Int]? {
        guard let element = self[tag] else { return nil }
        switch numericValues(of: element) {
        case .integers(let values): return values.compactMap { $0.flatMap { Int(exactly: $0) } }
        case .floats(let values): return values.compactMap { $0.flatMap { Int(exactly: $0) } }
        case .none: return nil
        }
    }

    public func integer(_ tag: Tag) -> Int? { integers(tag)?.first }

    /// Decimal values of FL, FD, DS, or any integer VR.
    public func doubles(_ tag: Tag) -> [Double]? {
        guard let element = self[tag] else { return nil }
        switch numericValues(of: element) {
        case .integers(let values): return values.compactMap { $0.map(Double.init) }
        case .floats(let values): return values.compactMap { $0 }
        case .none: return nil
        }
    }

    func textValues(of element: DataElement) -> [String] {
        guard let bytes = element.bytes, !bytes.isEmpty else { return [] }
        let vr = element.vr
        return bytes.withUnsafeBytes { raw in
            // ASCII without ESC decodes to itself in every character set (`decode` says so
            // first), so its values are split straight from the element's bytes: no String
            // of the whole value in between.
            if let values = Self.asciiTextValues(raw.bindMemory(to: UInt8.self), vr: vr, refusingEscape: true) { return values }
            let decoded = vr.usesSpecificCharacterSet ? characterSet.decode(raw) : Repertoire.latin1.decode(raw)
            return Self.asciiTextValues(decoded, vr: vr) ?? Self.characterTextValues(decoded, vr: vr)
        }
    }

    /// `textValues`' rules on Characters: the per-VR separators and padding of PS3.5 6.2.
    static func characterTextValues(_ decoded: String, vr: VR) -> [String] {
        if vr.isSingleValuedText {
            let value = vr == .UR ? decoded.trimmingTrailing(\.isWhitespace) : decoded.trimmingTrailing(\.isNulOrSpace)
            return value.isEmpty ? [] : [value]
        }
        var values: [String]
        switch vr {
        case .AE:
            values = decoded.splitValues().map { $0.trimmingTrailing(\.isNulOrSpace).trimmingLeading(\.isSpace) }
        case .DA, .DT, .TM:
            values = decoded.splitValues().map { $0.trimmingTrailing(\.isWhitespace) }
        case .DS, .IS:
            values = decoded.splitValues().map { $0.trimmingTrailing(\.isNulOrWhitespace).trimmingLeading(\.isWhitespace) }
        case .SH, .LO, .UC:
            values = decoded.splitValues().map { $0.trimmingTrailing(\.isNulOrSpace) }
        default:
            // AS, CS, UI, PN: padding is only ever at the end of the whole value.
            values = decoded.trimmingTrailing(\.isNulOrSpace).splitValues()
        }
        if values.count == 1 && values[0].isEmpty { values = [] }
        return values
    }

    /// `textValues`' rules applied to the UTF-8 bytes of an all-ASCII value (nearly every
    /// one: UIDs, codes, dates, numbers, most names), nil for any other. For ASCII a
    /// Character is one byte (CR LF, the one two-byte cluster, is whitespace either way and
    /// holds no backslash), so the result is the same, without the grapheme segmentation
    /// that made splitting and trimming a tenth of the metadata work.
    static func asciiTextValues(_ decoded: String, vr: VR) -> [String]? {
        var decoded = decoded
        return decoded.withUTF8 { asciiTextValues($0, vr: vr, refusingEscape: false) }
    }

    /// The same on the bytes themselves: nil unless every byte is ASCII (and, with
    /// `refusingEscape`, none is ESC, which starts an ISO 2022 escape sequence in the
    /// element's encoded form).
    static func asciiTextValues(_ bytes: UnsafeBufferPointer<UInt8>, vr: VR, refusingEscape: Bool) -> [String]? {
        var ascii: UInt8 = 0
        for byte in bytes { ascii |= byte }
        guard ascii < 0x80 else { return nil }
        if refusingEscape && bytes.contains(0x1B) { return nil }
        func isSpace(_ byte: UInt8) -> Bool { byte == 0x20 }
        func isNulOrSpace(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0 }
        // Character.isWhitespace on ASCII: tab, line feed, vertical tab, form feed,
        // carriage return and space.
        func isWhitespace(_ byte: UInt8) -> Bool { byte == 0x20 || (0x09...0x0D).contains(byte) }
        func isNulOrWhitespace(_ byte: UInt8) -> Bool { byte == 0 || isWhitespace(byte) }
        func trimmed(_ range: Range<Int>, trailing: (UInt8) -> Bool, leading: (UInt8) -> Bool = { _ in false }) -> Range<Int> {
            var (start, end) = (range.lowerBound, range.upperBound)
            while end > start, trailing(bytes[end - 1]) { end -= 1 }
            while start < end, leading(bytes[start]) { start += 1 }
            return start..<end
        }
        func string(_ range: Range<Int>) -> String { String(decoding: UnsafeBufferPointer(rebasing: bytes[range]), as: UTF8.self) }
        func values(in whole: Range<Int>, trailing: (UInt8) -> Bool, leading: (UInt8) -> Bool = { _ in false }) -> [String] {
            var values: [String] = [], start = whole.lowerBound
            for index in whole where bytes[index] == 0x5C {
                values.append(string(trimmed(start..<index, trailing: trailing, leading: leading)))
                start = index + 1
            }
            values.append(string(trimmed(start..<whole.upperBound, trailing: trailing, leading: leading)))
            return values
        }
        let all = 0..<bytes.count
        if vr.isSingleValuedText {
            let value = trimmed(all, trailing: vr == .UR ? isWhitespace : isNulOrSpace)
            return value.isEmpty ? [] : [string(value)]
        }
        var result: [String]
        switch vr {
        case .AE: result = values(in: all, trailing: isNulOrSpace, leading: isSpace)
        case .DA, .DT, .TM: result = values(in: all, trailing: isWhitespace)
        case .DS, .IS: result = values(in: all, trailing: isNulOrWhitespace, leading: isWhitespace)
        case .SH, .LO, .UC: result = values(in: all, trailing: isNulOrSpace)
        default: result = values(in: trimmed(all, trailing: isNulOrSpace), trailing: { _ in false })
        }
        if result.count == 1 && result[0].isEmpty { result = [] }
        return result
    }

    enum NumericValues {
        /// nil stands for an empty value between backslashes.
        case integers([Int64?])
        case floats([Double?])
    }

    /// Numbers of a numeric element; nil for a non-numeric VR or an unparsable string.
    func numericValues(of element: DataElement) -> NumericValues? {
        guard let bytes = element.bytes else { return nil }
        switch element.vr {
        case .US: return .integers(readBinary(bytes, size: 2) { Int64(UInt16(truncatingIfNeeded: $0)) })
        case .SS: return .integers(readBinary(bytes, size: 2) { Int64(Int16(truncatingIfNeeded: $0)) })
        case .UL: return .integers(readBinary(bytes, size: 4) { Int64(UInt32(truncatingIfNeeded: $0)) })
        case .SL: return .integers(readBinary(bytes, size: 4) { Int64(Int32(truncatingIfNeeded: $0)) })
        case .SV: return .integers(readBinary(bytes, size: 8) { Int64(bitPattern: $0) })
        case .UV: return .integers(readBinary(bytes, size: 8) { Int64(bitPattern: $0) })
        case .FL: return .floats(readBinary(bytes, size: 4) { Double(Float(bitPattern: UInt32(truncatingIfNeeded: $0))) })
        case .FD: return .floats(readBinary(bytes, size: 8) { Double(bitPattern: $0) })
        case .IS:
            let texts = textValues(of: element)
            var values: [Int64?] = []
            for text in texts {
                if text.isEmpty { values.append(nil); continue }
                guard let value = Int64(text.dropLeadingPlus) ?? Double(text).flatMap({ Int64(exactly: $0) }) else { return nil }
                values.append(value)
            }
            return .integers(values)
        case .DS:
            let texts = textValues(of: element)
            var values: [Double?] = []
            for text in texts {
                if text.isEmpty { values.append(nil); continue }
                guard let value = Double(text) else { return nil }
                values.append(value)
            }
            return .floats(values)
        default:
            return nil
        }
    }

    /// Reads fixed-size numbers in the dataset's byte order; a trailing partial number is ignored.
    func readBinary<T>(_ bytes: Data, size: Int, _ transform: (UInt64) -> T) -> [T?] {
        let count = bytes.count / size
        var values: [T?] = []
        values.reserveCapacity(count)
        bytes.withUnsafeBytes { raw in
            for index in 0..<count {
                var value: UInt64 = 0
                for byte in 0..<size {
                    let position = byteOrder == .littleEndian ? index * size + byte : index * size + size - 1 - byte
                    value |= UInt64(raw[position]) << (8 * UInt64(byte))
                }
                values.append(transform(value))
            }
        }
        return values
    }
}

extension Character {
    fileprivate var isSpace: Bool { self == " " }
    fileprivate var isNulOrSpace: Bool { self == " " || self == "\0" }
    fileprivate var isNulOrWhitespace: Bool { self == "\0" || isWhitespace }
}

extension String {
    fileprivate func splitValues() -> [String] {
        split(separator: "\\", omittingEmptySubsequences: false).map(String.init)
    }

    fileprivate func trimmingTrailing(_ predicate: (Character) -> Bool) -> String {
        var end = endIndex
        while end > startIndex, predicate(self[index(before: end)]) { end = index(before: end) }
        return String(self[..<end])
    }

    fileprivate func trimmingLeading(_ predicate: (Character) -> Bool) -> String {
        String(drop(while: predicate))
    }

    fileprivate var dropLeadingPlus: Substring { hasPrefix("+") ? dropFirst() : Substring(self) }
}
