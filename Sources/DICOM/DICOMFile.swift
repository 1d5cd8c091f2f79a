import Foundation

/// What the reader should do beyond parsing every element.
public struct ReadOptions: Sendable {
    /// Stop at the first top-level Pixel Data element (7FE0,0008/0009/0010): metadata only.
    public var stopBeforePixelData: Bool
    /// Leave the top-level Pixel Data (7FE0,0010) in the file (`DataElement.Value.inFile`):
    /// everything else is read as usual, and frames are read by offset when used. For files
    /// too large to hold; a deflated dataset is read whole (its offsets are not the file's).
    public var pixelDataInFile: Bool
    /// What one file may make the reader allocate.
    public var limits: ReadLimits

    public init(stopBeforePixelData: Bool = false, pixelDataInFile: Bool = false, limits: ReadLimits = .defaults) {
        self.stopBeforePixelData = stopBeforePixelData
        self.pixelDataInFile = pixelDataInFile
        self.limits = limits
    }
}

/// Bounds on what one file may make the reader allocate, so that a hostile or corrupt file
/// is refused with a reason instead of taking the daemon's memory (`limits.*` in
/// watch.yaml). Lengths past the end of the file and nesting deeper than 64 are refused
/// whatever the limits; frames are bounded by `ImageLayout.maximumSamplesPerFrame`.
public struct ReadLimits: Sendable, Equatable {
    /// Data elements in the whole dataset, those inside sequence items included: a real
    /// image has hundreds to a few thousand, a large RT Structure Set some hundred thousand.
    /// Each costs about 100 bytes besides its value.
    public var maximumElements: Int
    /// Bytes a deflated dataset (Deflated Explicit VR Little Endian) may inflate to: a
    /// deflate bomb of a few kilobytes would otherwise inflate to gigabytes.
    public var maximumInflatedBytes: Int

    public init(maximumElements: Int, maximumInflatedBytes: Int) {
        self.maximumElements = maximumElements
        self.maximumInflatedBytes = maximumInflatedBytes
    }

    public static let defaults = ReadLimits(maximumElements: 500_000, maximumInflatedBytes: 512 << 20)
}

/// A DICOM file as read: the optional preamble, File Meta Information, and the dataset.
public struct DICOMFile: Sendable {
    /// The 128-byte preamble, when the file has the Part 10 header.
    public var preamble: Data?
    /// Group 0002; empty for a file without File Meta Information.
    public var fileMeta: DataSet
    public var dataSet: DataSet
    /// The syntax the dataset was read with (declared, or detected when undeclared).
    public var transferSyntax: TransferSyntax
    /// Things the reader tolerated, for the caller to log (unknown character sets,
    /// a transfer syntax that disagreed with the bytes, ...).
    public var warnings: [String]
    /// Where the top-level Pixel Data element's header starts in the dataset's buffer,
    /// when reading stopped before it.
    public var pixelDataOffset: Int?

    public init(preamble: Data? = Data(count: 128), fileMeta: DataSet = DataSet(), dataSet: DataSet,
                transferSyntax: TransferSyntax, warnings: [String] = [], pixelDataOffset: Int? = nil) {
        self.preamble = preamble
        self.fileMeta = fileMeta
        self.dataSet = dataSet
        self.transferSyntax = transferSyntax
        self.warnings = warnings
        self.pixelDataOffset = pixelDataOffset
    }

    /// Reads a file. With `stopBeforePixelData`, only a prefix large enough to hold every
    /// element before Pixel Data is read (16 KiB first, four times more while it falls
    /// short), so that metadata of a 500 MB file costs kilobytes of I/O.
    public static func read(path: String, options: ReadOptions = ReadOptions()) throws(DICOMFileError) -> DICOMFile {
        if options.pixelDataInFile && !options.stopBeforePixelData {
            var metadataOnly = options
            metadataOnly.stopBeforePixelData = true
            let head = try read(path: path, options: metadataOnly)
            guard let headerOffset = head.pixelDataOffset, !head.transferSyntax.isDeflated,
                  try tag(at: headerOffset, of: path, order: head.transferSyntax.byteOrder) == .pixelData else {
                // No Pixel Data, float pixel data, or a deflated dataset: read as usual.
                return try read(path: path, options: ReadOptions(limits: options.limits))
            }
            return try withPixelDataInFile(head, path: path, headerOffset: headerOffset, limits: options.limits)
        }
        let file = try FileBytes(path: path)
        var length = options.stopBeforePixelData ? min(file.size, 16 << 10) : file.size
        while true {
            let data = try file.prefix(length)
            let isWholeFile = data.count < length || length >= file.size
            do {
                let parsed = try DICOMFile(data: data, options: options)
                // A prefix that parsed without reaching Pixel Data may have been cut at an
                // element boundary: only the whole file proves nothing more follows.
                if isWholeFile || parsed.pixelDataOffset != nil { return parsed }
            } catch {
                if isWholeFile { throw DICOMFileError(path: path, reason: .dicom(error)) }
                if case .notDICOM = error { throw DICOMFileError(path: path, reason: .dicom(error)) }
            }
            length = min(file.size, length * 4)
        }
    }

    /// The tag of the element whose header starts at `offset`.
    private static func tag(at offset: Int, of path: String, order: ByteOrder) throws(DICOMFileError) -> Tag? {
        let bytes = [UInt8](try FileBytes(path: path).range(offset, count: 4))
        guard bytes.count == 4 else { return nil }
        let group = UInt16(bytes[0]) | UInt16(bytes[1]) << 8, element = UInt16(bytes[2]) | UInt16(bytes[3]) << 8
        return order == .littleEndian ? Tag(group, element) : Tag(group.byteSwapped, element.byteSwapped)
    }

    /// `head` (read up to Pixel Data) with Pixel Data left in the file, and the elements
    /// that follow it (trailing padding, signatures) read as usual.
    private static func withPixelDataInFile(_ head: DICOMFile, path: String, headerOffset: Int, limits: ReadLimits) throws(DICOMFileError) -> DICOMFile {
        var file = head
        let syntax = head.transferSyntax
        let (pixelData, end) = try PixelDataInFile.locate(path: path, headerOffset: headerOffset, syntax: syntax)
        let vr: VR
        if pixelData.items != nil {
            vr = .OB
        } else if syntax.isExplicitVR {
            let bytes = [UInt8](try FileBytes(path: path).range(headerOffset + 4, count: 2))
            vr = VR(rawValue: String(decoding: bytes, as: UTF8.self)) ?? .OW
        } else {
            vr = .OW  // implicit VR Little Endian encodes "OB or OW" as OW (PS3.5 A.1)
        }
        file.dataSet.set(DataElement(tag: .pixelData, vr: vr, value: .inFile(pixelData), hadUndefinedLength: pixelData.items != nil))
        if end < pixelData.fileSize {
            let tail = try FileBytes(path: path).range(end, count: pixelData.fileSize - end)
            let parsed = tail.withUnsafeBytes { raw -> Result<(DataSet, [String]), DICOMError> in
                var parser = DataSetParser(data: tail, bytes: raw, explicitVR: syntax.isExplicitVR, byteOrder: syntax.byteOrder,
                                           stopBeforePixelData: false, maximumElements: limits.maximumElements)
                return Result { () throws(DICOMError) in (try parser.parseTopLevel(from: 0), parser.warnings) }
            }
            do {
                let (elements, warnings) = try parsed.get()
                for element in elements.elements { file.dataSet.set(element) }
                file.warnings += warnings
            } catch {
                throw DICOMFileError(path: path, reason: .dicom(error.shifted(by: end)))
            }
        }
        file.pixelDataOffset = nil
        return file
    }

    /// Parses a complete file held in memory.
    public init(data: Data, options: ReadOptions = ReadOptions()) throws(DICOMError) {
        var reader = Part10Reader(data: data, options: options)
        self = try reader.read()
    }
}
