import Foundation

/// Parses encoded data elements (PS3.5 chapter 7) from a zero-based buffer into `DataSet`s.
///
/// Values are kept as slices of the buffer; sequences are parsed into items; Pixel Data of
/// undefined length is split into its fragments. Every read is bounds-checked and a short
/// buffer becomes `DICOMError.truncated` with the offset and the element being read.
struct DataSetParser {
    /// The buffer values are sliced from, and the same bytes as a raw pointer for reading:
    /// the parser lives only inside `Data.withUnsafeBytes` of `data`.
    let data: Data
    let bytes: UnsafeRawBufferPointer
    let explicitVR: Bool
    let byteOrder: ByteOrder
    let stopBeforePixelData: Bool
    private(set) var warnings: [String] = []
    private(set) var pixelDataOffset: Int?
    /// Elements parsed so far, items' included, and how many are allowed (`ReadLimits`).
    private var elementCount = 0
    let maximumElements: Int
    /// Where the buffer's final run of zero bytes begins (its count when the last byte is
    /// not zero), found on the first question about trailing padding: answering each
    /// question by scanning to the end made a file of zero-filled elements quadratic (an
    /// 11 KB deflated file of 900 KB took a second to parse, found by fuzz-pixels).
    private var trailingZerosStart: Int?

    private static let undefinedLength: UInt32 = 0xFFFF_FFFF
    /// Nesting deeper than this is a malicious or corrupt file, not a real dataset.
    private static let maximumDepth = 64

    init(data: Data, bytes: UnsafeRawBufferPointer, explicitVR: Bool, byteOrder: ByteOrder, stopBeforePixelData: Bool,
         maximumElements: Int = ReadLimits.defaults.maximumElements) {
        self.maximumElements = maximumElements
        self.data = data
        self.bytes = bytes
        self.explicitVR = explicitVR
        self.byteOrder = byteOrder
        self.stopBeforePixelData = stopBeforePixelData
    }

    /// The whole top-level dataset, from `start` to the end of the buffer.
    mutating func parseTopLevel(from start: Int) throws(DICOMError) -> DataSet {
        var context = Context(explicitVR: explicitVR, byteOrder: byteOrder, depth: 0)
        var dataSet = try parseElements(from: start, end: .endOfBuffer, context: &context, characterSet: .default).dataSet
        if context.inferredAmbiguousVR {
            AmbiguousVRResolver.resolve(&dataSet, inheritedPixelRepresentation: nil)
        }
        return dataSet
    }

    /// The elements of one group starting at `start` (the File Meta Information).
    mutating func parseGroup(_ group: UInt16, from start: Int) throws(DICOMError) -> (DataSet, Int) {
        var context = Context(explicitVR: explicitVR, byteOrder: byteOrder, depth: 0)
        let result = try parseElements(from: start, end: .endOfGroup(group), context: &context, characterSet: .default)
        return (result.dataSet, result.next)
    }

    private struct Context {
        var explicitVR: Bool
        var byteOrder: ByteOrder
        var depth: Int
        /// Some element's VR came from the dictionary: the resolver has work to do.
        var inferredAmbiguousVR = false
    }

    private enum End {
        case endOfBuffer
        case endOfGroup(UInt16)
        case offset(Int)
        case itemDelimiter
    }

    private struct Header {
        let tag: Tag
        let vr: VR
        let length: UInt32
        let valueOffset: Int
        /// The VR came from the dictionary (implicit VR), not from the bytes.
        let vrInferred: Bool
    }

    private mutating func parseElements(from start: Int, end: End, context: inout Context,
                                        characterSet inherited: SpecificCharacterSet) throws(DICOMError) -> (dataSet: DataSet, next: Int) {
        var dataSet = DataSet(byteOrder: context.byteOrder, characterSet: inherited)
        // Room for a typical top-level dataset; an item grows as it needs: most hold a few
        // elements, and a reservation per item made a file of 500,000 empty items take 700 MB.
        if context.depth == 0 { dataSet.reserveCapacity(128) }
        var offset = start
        let limit: Int
        if case .offset(let endOffset) = end { limit = endOffset } else { limit = data.count }
        while offset < limit {
            let reader = ByteReader(bytes: UnsafeRawBufferPointer(rebasing: bytes[..<limit]), byteOrder: context.byteOrder)
            if case .endOfBuffer = end, context.depth == 0, isTrailingPadding(from: offset) {
                return (dataSet, offset)
            }
            guard reader.has(4, at: offset) else {
                throw .truncated(offset: offset, tag: nil, needed: 8, available: limit - offset)
            }
            let tag = reader.tag(at: offset)
            if case .endOfGroup(let group) = end, tag.group != group { return (dataSet, offset) }
            if tag == .itemDelimitationItem {
                guard case .itemDelimiter = end else {
                    throw .malformed(offset: offset, tag: tag, reason: "item delimiter outside an item of undefined length")
                }
                return (dataSet, offset + 8)
            }
            let header = try parseHeader(reader, at: offset, context: context)
            try count(at: offset, tag: header.tag)
            if context.depth == 0 && header.tag.isPixelData && stopBeforePixelData {
                pixelDataOffset = offset
                return (dataSet, offset)
            }
            if header.tag == .specificCharacterSet {
                dataSet.characterSet = characterSet(from: header, byteOrder: context.byteOrder)
            }
            let (element, next) = try readValue(header, context: &context, characterSet: dataSet.characterSet, limit: limit)
            dataSet.appendInOrder(element)
            offset = next
        }
        if case .itemDelimiter = end {
            throw .truncated(offset: offset, tag: .itemDelimitationItem, needed: 8, available: 0)
        }
        return (dataSet, offset)
    }

    /// One more element (or sequence item) parsed: refused past `maximumElements`.
    private mutating func count(at offset: Int, tag: Tag) throws(DICOMError) {
        elementCount += 1
        guard elementCount <= maximumElements else {
            throw .malformed(offset: offset, tag: tag, reason: "more than \(maximumElements) data elements and items (limits.max_elements)")
        }
    }

    /// Only zero bytes after the last element: padding some writers leave, not an element.
    /// Anything else that is too short for a header is a truncated file.
    private mutating func isTrailingPadding(from offset: Int) -> Bool {
        guard bytes[offset] == 0 else { return false }
        if let start = trailingZerosStart { return offset >= start }
        var start = bytes.count
        while start > 0 && bytes[start - 1] == 0 { start -= 1 }
        trailingZerosStart = start
        return offset >= start
    }

    private func parseHeader(_ bytes: ByteReader, at offset: Int, context: Context) throws(DICOMError) -> Header {
        guard bytes.has(8, at: offset) else {
            throw .truncated(offset: offset, tag: bytes.has(4, at: offset) ? bytes.tag(at: offset) : nil,
                             needed: 8, available: bytes.count - offset)
        }
        let tag = bytes.tag(at: offset)
        if context.explicitVR && tag.group != 0xFFFE,
           let vr = VR(byte0: bytes.bytes[offset + 4], byte1: bytes.bytes[offset + 5]) {
            if vr.hasLongExplicitHeader {
                guard bytes.has(12, at: offset) else {
                    throw .truncated(offset: offset, tag: tag, needed: 12, available: bytes.count - offset)
                }
                return Header(tag: tag, vr: vr, length: bytes.uint32(at: offset + 8), valueOffset: offset + 12,
                              vrInferred: false)
            }
            return Header(tag: tag, vr: vr, length: UInt32(bytes.uint16(at: offset + 6)), valueOffset: offset + 8,
                          vrInferred: false)
        }
        // Implicit VR, or an explicit-VR element whose VR bytes are not a VR: dcmtk and
        // pydicom read the latter as implicit too.
        let dictionaryVR = StandardDictionary.vr(for: tag)
        return Header(tag: tag, vr: Self.impliedVR(tag: tag, dictionaryVR: dictionaryVR), length: bytes.uint32(at: offset + 4),
                      valueOffset: offset + 8, vrInferred: true)
    }

    /// The VR of an implicit-VR element: the dictionary's, LO for private creators, UL for
    /// group lengths, UN otherwise (PS3.5 6.2.2). Ambiguous entries get a provisional VR
    /// that `AmbiguousVRResolver` settles once the whole dataset is known.
    static func impliedVR(tag: Tag, dictionaryVR: DictionaryVR?) -> VR {
        switch dictionaryVR {
        case .single(let vr): return vr
        case .usOrSS: return .US
        case .obOrOW, .usOrOW, .usOrSSOrOW: return .OW
        case .none?, nil:
            if tag.isPrivateCreator { return .LO }
            if tag.isGroupLength { return .UL }
            return .UN
        }
    }

    private mutating func readValue(_ header: Header, context: inout Context, characterSet: SpecificCharacterSet,
                                    limit: Int) throws(DICOMError) -> (DataElement, Int) {
        let tag = header.tag
        var vr = header.vr
        var isVRInferred = header.vrInferred

        // An explicit UN of a public attribute is read with the dictionary's VR, as pydicom
        // does (PS3.5 6.2.2 allows a receiver to do so); its value is implicit VR little endian.
        var valueIsImplicitLittleEndian = false
        if vr == .UN, !header.vrInferred, !tag.isPrivate, let entryVR = StandardDictionary.vr(for: tag) {
            let known = Self.impliedVR(tag: tag, dictionaryVR: entryVR)
            if known != .UN {
                vr = known
                isVRInferred = true
                valueIsImplicitLittleEndian = true
            }
        }

        if header.length == Self.undefinedLength {
            if tag.isPixelData || (vr != .SQ && vr != .UN && (vr == .OB || vr == .OW)) {
                let (fragments, next) = try parseEncapsulated(tag: tag, from: header.valueOffset, limit: limit, byteOrder: context.byteOrder)
                return (DataElement(tag: tag, vr: .OB, value: .encapsulated(fragments), hadUndefinedLength: true), next)
            }
            // SQ, UN of undefined length (an implicit VR little endian sequence, PS3.5 6.2.2),
            // or an implicit element of unknown VR whose undefined length says it is a sequence.
            let implicitItems = vr == .UN || valueIsImplicitLittleEndian
            var itemContext = context
            if implicitItems {
                itemContext.explicitVR = false
                itemContext.byteOrder = .littleEndian
            }
            let (items, next) = try parseSequence(tag: tag, from: header.valueOffset, end: nil, context: &itemContext,
                                                  characterSet: characterSet)
            context.inferredAmbiguousVR = context.inferredAmbiguousVR || itemContext.inferredAmbiguousVR || implicitItems
            return (DataElement(tag: tag, vr: .SQ, value: .sequence(items), hadUndefinedLength: true), next)
        }

        let length = Int(header.length)
        let start = header.valueOffset
        guard start <= limit, length <= limit - start else {
            throw .truncated(offset: start, tag: tag, needed: length, available: max(0, limit - start))
        }
        if vr == .SQ {
            var itemContext = context
            if valueIsImplicitLittleEndian {
                itemContext.explicitVR = false
                itemContext.byteOrder = .littleEndian
            }
            let (items, _) = try parseSequence(tag: tag, from: start, end: start + length, context: &itemContext,
                                               characterSet: characterSet)
            context.inferredAmbiguousVR = context.inferredAmbiguousVR || itemContext.inferredAmbiguousVR || valueIsImplicitLittleEndian
            return (DataElement(tag: tag, vr: .SQ, value: .sequence(items)), start + length)
        }
        var element = DataElement(tag: tag, vr: vr, value: .bytes(data[start..<(start + length)]))
        element.isVRInferred = isVRInferred
        if isVRInferred { context.inferredAmbiguousVR = true }
        return (element, start + length)
    }

    private mutating func parseSequence(tag: Tag, from start: Int, end: Int?, context: inout Context,
                                        characterSet: SpecificCharacterSet) throws(DICOMError) -> ([DataSet], Int) {
        guard context.depth < Self.maximumDepth else {
            throw .malformed(offset: start, tag: tag, reason: "sequences nested more than \(Self.maximumDepth) deep")
        }
        var items: [DataSet] = []
        var offset = start
        let limit = end ?? data.count
        while offset < limit {
            guard offset + 8 <= limit else {
                throw .truncated(offset: offset, tag: tag, needed: 8, available: limit - offset)
            }
            let itemTag = Tag(readUInt16(at: offset, context.byteOrder), readUInt16(at: offset + 2, context.byteOrder))
            let itemLength = readUInt32(at: offset + 4, context.byteOrder)
            if itemTag == .sequenceDelimitationItem {
                offset += 8
                if end == nil { return (items, offset) }
                continue  // a stray delimiter inside a defined-length sequence is tolerated
            }
            guard itemTag == .item else {
                throw .malformed(offset: offset, tag: tag, reason: "expected an item (FFFE,E000) in the sequence, found \(itemTag)")
            }
            try count(at: offset, tag: itemTag)
            var itemContext = context
            itemContext.depth += 1
            if itemLength == Self.undefinedLength {
                let (item, next) = try parseElements(from: offset + 8, end: .itemDelimiter, context: &itemContext, characterSet: characterSet)
                items.append(item)
                offset = next
            } else {
                let itemEnd = offset + 8 + Int(itemLength)
                guard itemEnd <= limit else {
                    throw .truncated(offset: offset + 8, tag: tag, needed: Int(itemLength), available: limit - offset - 8)
                }
                let (item, _) = try parseElements(from: offset + 8, end: .offset(itemEnd), context: &itemContext, characterSet: characterSet)
                items.append(item)
                offset = itemEnd
            }
            context.inferredAmbiguousVR = context.inferredAmbiguousVR || itemContext.inferredAmbiguousVR
        }
        if end == nil {
            throw .truncated(offset: offset, tag: tag, needed: 8, available: 0)
        }
        return (items, offset)
    }

    /// Basic Offset Table item, fragment items, sequence delimiter (PS3.5 A.4).
    private func parseEncapsulated(tag: Tag, from start: Int, limit: Int, byteOrder: ByteOrder) throws(DICOMError) -> (EncapsulatedPixelData, Int) {
        var offset = start
        var offsetTable: [UInt32] = []
        var fragments: [Data] = []
        var fragmentOffsets: [UInt64] = []
        var firstFragmentOffset: Int?
        var isFirstItem = true
        while true {
            guard offset + 8 <= limit else {
                throw .truncated(offset: offset, tag: tag, needed: 8, available: limit - offset)
            }
            let itemTag = Tag(readUInt16(at: offset, byteOrder), readUInt16(at: offset + 2, byteOrder))
            let length = readUInt32(at: offset + 4, byteOrder)
            if itemTag == .sequenceDelimitationItem {
                let value = EncapsulatedPixelData(basicOffsetTable: offsetTable, fragments: fragments,
                                                  fragmentOffsets: fragmentOffsets, encodedItems: data[start..<offset])
                return (value, offset + 8)
            }
            guard itemTag == .item else {
                throw .malformed(offset: offset, tag: tag, reason: "expected a fragment item (FFFE,E000), found \(itemTag)")
            }
            guard length != Self.undefinedLength else {
                throw .malformed(offset: offset, tag: tag, reason: "a fragment item of undefined length")
            }
            let valueStart = offset + 8
            guard Int(length) <= limit - valueStart else {
                throw .truncated(offset: valueStart, tag: tag, needed: Int(length), available: limit - valueStart)
            }
            let value = data[valueStart..<(valueStart + Int(length))]
            if isFirstItem {
                offsetTable = stride(from: 0, to: Int(length) / 4 * 4, by: 4).map { readUInt32(at: valueStart + $0, .littleEndian) }
                isFirstItem = false
            } else {
                let first = firstFragmentOffset ?? offset
                firstFragmentOffset = first
                fragments.append(value)
                fragmentOffsets.append(UInt64(offset - first))
            }
            offset = valueStart + Int(length)
        }
    }

    private mutating func characterSet(from header: Header, byteOrder: ByteOrder) -> SpecificCharacterSet {
        guard header.length != Self.undefinedLength, header.valueOffset + Int(header.length) <= data.count else {
            return .default
        }
        let value = data[header.valueOffset..<(header.valueOffset + Int(header.length))]
        let terms = String(decoding: value, as: UTF8.self).split(separator: "\\", omittingEmptySubsequences: false)
            .map { String($0).trimmingSpaces }
        let characterSet = SpecificCharacterSet(terms: terms)
        for term in characterSet.unknownTerms {
            warnings.append("unknown Specific Character Set term '\(term)': its text is decoded as Latin-1")
        }
        return characterSet
    }

    private func readUInt16(at offset: Int, _ order: ByteOrder) -> UInt16 {
        ByteReader(bytes: bytes, byteOrder: order).uint16(at: offset)
    }

    private func readUInt32(at offset: Int, _ order: ByteOrder) -> UInt32 {
        ByteReader(bytes: bytes, byteOrder: order).uint32(at: offset)
    }
}
