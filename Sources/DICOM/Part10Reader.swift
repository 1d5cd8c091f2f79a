import Foundation

/// Reads the Part 10 envelope: preamble, File Meta Information, transfer syntax detection,
/// inflation of deflated datasets; the dataset itself is left to `DataSetParser`.
struct Part10Reader {
    let data: Data
    let options: ReadOptions
    private var warnings: [String] = []

    init(data: Data, options: ReadOptions) {
        // A zero-based buffer: every offset in errors is an offset into the file.
        self.data = data.startIndex == 0 ? data : Data(data)
        self.options = options
    }

    mutating func read() throws(DICOMError) -> DICOMFile {
        let hasPreamble = data.count >= 132 && data[128..<132].elementsEqual("DICM".utf8)
        var offset = hasPreamble ? 132 : 0
        guard hasPreamble || data.count >= 8 else {
            throw .notDICOM(reason: "\(data.count) bytes: too short for a preamble or a data element")
        }

        var fileMeta = DataSet()
        if hasPreamble || firstGroupIsFileMeta(at: 0) {
            (fileMeta, offset) = try parseFileMeta(from: offset)
        }

        let declared = fileMeta[.transferSyntaxUID].flatMap { element -> String? in
            element.bytes.map { String(decoding: $0, as: UTF8.self).trimmingSpaces }
        }
        var syntax: TransferSyntax
        if let declared {
            if let known = TransferSyntax.lookup(declared) {
                syntax = known
            } else {
                syntax = TransferSyntax(uid: declared, name: "unknown transfer syntax", isExplicitVR: true,
                                        byteOrder: .littleEndian, isDeflated: false, pixelEncoding: .encapsulated(.other))
                warnings.append("unknown transfer syntax \(declared): read as Explicit VR Little Endian")
            }
        } else {
            guard let detected = detectEncoding(at: offset, strict: fileMeta.isEmpty) else {
                throw .notDICOM(reason: hasPreamble || !fileMeta.isEmpty
                    ? "no transfer syntax and no recognisable first data element at offset \(offset)"
                    : "no DICM prefix at offset 128 and no recognisable first data element")
            }
            syntax = detected
        }

        var buffer = data
        if syntax.isDeflated {
            buffer = try Inflater.inflateRaw(data[offset...], limit: options.limits.maximumInflatedBytes)
            offset = 0
        } else if let actual = detectEncoding(at: offset, strict: false),
                  actual.isExplicitVR != syntax.isExplicitVR || actual.byteOrder != syntax.byteOrder,
                  offset + 8 <= data.count {
            // dcmtk and pydicom both trust the bytes over a mislabelled header.
            warnings.append("transfer syntax \(syntax.uid) says \(syntax.isExplicitVR ? "explicit" : "implicit") VR, the dataset is \(actual.encodingDescription): read as such")
            syntax = TransferSyntax(uid: syntax.uid, name: syntax.name, isExplicitVR: actual.isExplicitVR,
                                    byteOrder: actual.byteOrder, isDeflated: false, pixelEncoding: syntax.pixelEncoding)
        }

        let datasetStart = offset
        let outcome = buffer.withUnsafeBytes { raw -> Result<(DataSet, [String], Int?), DICOMError> in
            var parser = DataSetParser(data: buffer, bytes: raw, explicitVR: syntax.isExplicitVR, byteOrder: syntax.byteOrder,
                                       stopBeforePixelData: options.stopBeforePixelData, maximumElements: options.limits.maximumElements)
            return Result { () throws(DICOMError) in
                (try parser.parseTopLevel(from: datasetStart), parser.warnings, parser.pixelDataOffset)
            }
        }
        let (dataSet, parserWarnings, pixelDataOffset) = try outcome.get()
        warnings += parserWarnings
        return DICOMFile(preamble: hasPreamble ? data[0..<128] : nil, fileMeta: fileMeta, dataSet: dataSet,
                         transferSyntax: syntax, warnings: warnings, pixelDataOffset: pixelDataOffset)
    }

    /// File Meta Information is Explicit VR Little Endian (PS3.10 7.1); writers that used
    /// implicit VR for it exist, and the element parser copes with either per element.
    private mutating func parseFileMeta(from start: Int) throws(DICOMError) -> (DataSet, Int) {
        let outcome = data.withUnsafeBytes { raw -> Result<(DataSet, Int), DICOMError> in
            var parser = DataSetParser(data: data, bytes: raw, explicitVR: true, byteOrder: .littleEndian, stopBeforePixelData: false)
            return Result { () throws(DICOMError) in try parser.parseGroup(0x0002, from: start) }
        }
        return try outcome.get()
    }

    private func firstGroupIsFileMeta(at offset: Int) -> Bool {
        data.count >= offset + 8 && data[offset] == 0x02 && data[offset + 1] == 0x00
    }

    /// Reads the encoding off the first data element, as dcmtk and pydicom do for files
    /// without File Meta Information. `strict` asks for a tag that starts a real dataset.
    private func detectEncoding(at offset: Int, strict: Bool) -> TransferSyntax? {
        guard offset + 8 <= data.count else { return nil }
        let b = { (index: Int) in UInt16(data[offset + index]) }
        let littleGroup = b(0) | b(1) << 8
        let bigGroup = b(0) << 8 | b(1)
        let byteOrder: ByteOrder
        if littleGroup != 0 && littleGroup <= 0x00FF { byteOrder = .littleEndian }
        else if bigGroup != 0 && bigGroup <= 0x00FF { byteOrder = .bigEndian }
        else if !strict { byteOrder = .littleEndian }
        else { return nil }
        let explicit = VR(byte0: data[offset + 4], byte1: data[offset + 5]) != nil
        if strict {
            let element = byteOrder == .littleEndian ? b(2) | b(3) << 8 : b(2) << 8 | b(3)
            let tag = Tag(byteOrder == .littleEndian ? littleGroup : bigGroup, element)
            guard tag.group >= 0x0002, tag.group <= 0x0010,
                  tag.isGroupLength || StandardDictionary.contains(tag) else { return nil }
        }
        switch (explicit, byteOrder) {
        case (true, .littleEndian): return .explicitVRLittleEndian
        case (true, .bigEndian): return .explicitVRBigEndian
        case (false, .littleEndian): return .implicitVRLittleEndian
        case (false, .bigEndian):
            // Implicit VR Big Endian never existed; such bytes are not DICOM.
            return strict ? nil : .implicitVRLittleEndian
        }
    }
}

extension TransferSyntax {
    /// "explicit VR little endian" and the like, for warnings about mislabelled files.
    fileprivate var encodingDescription: String {
        (isExplicitVR ? "explicit VR " : "implicit VR ") + (byteOrder == .littleEndian ? "little endian" : "big endian")
    }
}
