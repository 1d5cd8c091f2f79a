import Foundation

/// Writes Part 10 files in Explicit VR Little Endian: native pixel data as such, or
/// encapsulated pixel data copied unchanged under its compressed transfer syntax.
public enum DICOMWriter {
    /// Identifies files written by dicomdrop (PS3.7 D.3.3.2); a UUID-derived root under 2.25.
    public static let implementationClassUID = "2.25.21493090564060493785433000215028759463"
    public static let implementationVersionName = "DICOMDROP_1"

    public enum WriteError: Error, Sendable, Equatable, CustomStringConvertible {
        case unsupportedTransferSyntax(String)
        case missingAttribute(Tag)
        case encapsulatedPixelDataUnderNativeSyntax
        /// Pixel Data left in its file is written by `part10Pieces`, which streams it.
        case pixelDataInFile

        public var description: String {
            switch self {
            case .unsupportedTransferSyntax(let uid):
                "cannot write transfer syntax \(uid): only Explicit VR Little Endian datasets are written"
            case .missingAttribute(let tag):
                "cannot write a Part 10 file without \(tag) \(StandardDictionary.entry(for: tag)?.keyword ?? "")"
            case .encapsulatedPixelDataUnderNativeSyntax:
                "encapsulated Pixel Data needs its compressed transfer syntax, not a native one"
            case .pixelDataInFile:
                "Pixel Data left in its file must be streamed (part10Pieces), not encoded in memory"
            }
        }
    }

    /// The Part 10 bytes of `dataSet`. `transferSyntax` is Explicit VR Little Endian for
    /// native pixel data, or the source's encapsulated syntax when fragments are copied.
    public static func part10(_ dataSet: DataSet, transferSyntax: TransferSyntax = .explicitVRLittleEndian,
                              sourceFileMeta: DataSet = DataSet()) throws(WriteError) -> Data {
        let (bytes, split) = try encode(dataSet, transferSyntax: transferSyntax, sourceFileMeta: sourceFileMeta)
        guard split == nil else { throw .pixelDataInFile }
        return bytes
    }

    /// A Part 10 file whose Pixel Data is left in its source file, in the pieces a writer
    /// streams: `head` (up to and including the Pixel Data element's header), then the
    /// value (native: the samples, `pixelData.length` bytes, padded to even; encapsulated:
    /// the items), then `tail` (the sequence delimiter of encapsulated data, and the
    /// elements after Pixel Data).
    public struct Part10Pieces: Sendable {
        public let head: Data
        public let pixelData: PixelDataInFile
        public let tail: Data
    }

    public static func part10Pieces(_ dataSet: DataSet, transferSyntax: TransferSyntax,
                                    sourceFileMeta: DataSet = DataSet()) throws(WriteError) -> Part10Pieces? {
        guard case .inFile(let pixelData)? = dataSet[.pixelData]?.value else { return nil }
        let (bytes, split) = try encode(dataSet, transferSyntax: transferSyntax, sourceFileMeta: sourceFileMeta)
        guard let split else { return nil }
        return Part10Pieces(head: bytes.prefix(split), pixelData: pixelData, tail: bytes.suffix(from: split))
    }

    private static func encode(_ dataSet: DataSet, transferSyntax: TransferSyntax,
                               sourceFileMeta: DataSet) throws(WriteError) -> (Data, split: Int?) {
        guard transferSyntax.isExplicitVR, transferSyntax.byteOrder == .littleEndian, !transferSyntax.isDeflated else {
            throw .unsupportedTransferSyntax(transferSyntax.uid)
        }
        switch dataSet[.pixelData]?.value {
        case .encapsulated?: if !transferSyntax.isEncapsulated { throw .encapsulatedPixelDataUnderNativeSyntax }
        case .inFile(let pixelData)?:
            if pixelData.items != nil && !transferSyntax.isEncapsulated { throw .encapsulatedPixelDataUnderNativeSyntax }
        default: break
        }
        let sopClass = dataSet[.sopClassUID]?.bytes ?? sourceFileMeta[.mediaStorageSOPClassUID]?.bytes
        let sopInstance = dataSet[.sopInstanceUID]?.bytes ?? sourceFileMeta[.mediaStorageSOPInstanceUID]?.bytes
        guard let sopClass else { throw .missingAttribute(.sopClassUID) }
        guard let sopInstance else { throw .missingAttribute(.sopInstanceUID) }

        var meta = ElementEncoder()
        meta.append(DataElement(tag: Tag(0x0002, 0x0001), vr: .OB, value: .bytes(Data([0x00, 0x01]))), from: .littleEndian)
        meta.append(DataElement(tag: .mediaStorageSOPClassUID, vr: .UI, value: .bytes(sopClass)), from: .littleEndian)
        meta.append(DataElement(tag: .mediaStorageSOPInstanceUID, vr: .UI, value: .bytes(sopInstance)), from: .littleEndian)
        meta.append(DataElement(tag: .transferSyntaxUID, vr: .UI, value: .bytes(Data(transferSyntax.uid.utf8))), from: .littleEndian)
        meta.append(DataElement(tag: Tag(0x0002, 0x0012), vr: .UI, value: .bytes(Data(implementationClassUID.utf8))), from: .littleEndian)
        meta.append(DataElement(tag: Tag(0x0002, 0x0013), vr: .SH, value: .bytes(Data(implementationVersionName.utf8))), from: .littleEndian)

        var output = Data(count: 128)
        output.append(contentsOf: "DICM".utf8)
        var groupLength = ElementEncoder()
        groupLength.append(DataElement(tag: .fileMetaInformationGroupLength, vr: .UL,
                                       value: .bytes(Data(UInt32(meta.bytes.count).littleEndianBytes))), from: .littleEndian)
        output.append(groupLength.bytes)
        output.append(meta.bytes)

        var body = ElementEncoder()
        body.append(dataSet)
        let split = body.pixelValueOffset.map { output.count + $0 }
        output.append(body.bytes)
        return (output, split)
    }
}

/// Encodes elements as Explicit VR Little Endian, converting values read in big endian.
struct ElementEncoder {
    private(set) var bytes = Data()
    /// Where the value of Pixel Data left in its file belongs (its header is written, its
    /// value is not): the writer streams it there.
    private(set) var pixelValueOffset: Int?

    mutating func append(_ dataSet: DataSet) {
        for element in dataSet.elements where !element.tag.isGroupLength && element.tag.group != 0x0002 {
            append(element, from: dataSet.byteOrder)
        }
    }

    mutating func append(_ element: DataElement, from byteOrder: ByteOrder) {
        switch element.value {
        case .sequence(let items):
            header(element.tag, .SQ, length: 0xFFFF_FFFF)
            for item in items {
                itemHeader(.item, length: 0xFFFF_FFFF)
                append(item)
                itemHeader(.itemDelimitationItem, length: 0)
            }
            itemHeader(.sequenceDelimitationItem, length: 0)
        case .encapsulated(let pixelData):
            header(element.tag, .OB, length: 0xFFFF_FFFF)
            bytes.append(pixelData.encodedItems)
            itemHeader(.sequenceDelimitationItem, length: 0)
        case .inFile(let pixelData):
            if pixelData.items != nil {
                header(element.tag, .OB, length: 0xFFFF_FFFF)
                pixelValueOffset = bytes.count
                itemHeader(.sequenceDelimitationItem, length: 0)
            } else {
                header(element.tag, element.vr, length: UInt32(clamping: pixelData.length + pixelData.length % 2))
                pixelValueOffset = bytes.count
            }
        case .bytes(var value):
            if byteOrder == .bigEndian, element.vr.wordSize > 1, element.vr != .UN {
                value = value.byteSwapped(wordSize: element.vr.wordSize)
            }
            if value.count % 2 == 1 { value.append(element.vr.paddingByte) }
            // A value too long for a 16-bit length (possible after an implicit VR read)
            // is written as UN, as dcmtk does.
            let vr = !element.vr.hasLongExplicitHeader && value.count > 0xFFFF ? VR.UN : element.vr
            header(element.tag, vr, length: UInt32(value.count))
            bytes.append(value)
        }
    }

    private mutating func header(_ tag: Tag, _ vr: VR, length: UInt32) {
        bytes.append(contentsOf: tag.group.littleEndianBytes)
        bytes.append(contentsOf: tag.element.littleEndianBytes)
        bytes.append(contentsOf: vr.rawValue.utf8)
        if vr.hasLongExplicitHeader {
            bytes.append(contentsOf: [0, 0])
            bytes.append(contentsOf: length.littleEndianBytes)
        } else {
            bytes.append(contentsOf: UInt16(length).littleEndianBytes)
        }
    }

    private mutating func itemHeader(_ tag: Tag, length: UInt32) {
        bytes.append(contentsOf: tag.group.littleEndianBytes)
        bytes.append(contentsOf: tag.element.littleEndianBytes)
        bytes.append(contentsOf: length.littleEndianBytes)
    }
}

extension FixedWidthInteger {
    var littleEndianBytes: [UInt8] {
        withUnsafeBytes(of: littleEndian) { Array($0) }
    }
}
