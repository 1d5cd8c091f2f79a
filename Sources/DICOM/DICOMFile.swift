import Foundation

/// What the reader should do beyond parsing every element.
public struct ReadOptions: Sendable {
    /// Stop at the first top-level Pixel Data element (7FE0,0008/0009/0010): metadata only.
    public var stopBeforePixelData: Bool

    public init(stopBeforePixelData: Bool = false) {
        self.stopBeforePixelData = stopBeforePixelData
    }
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

    /// Parses a complete file held in memory.
    public init(data: Data, options: ReadOptions = ReadOptions()) throws(DICOMError) {
        var reader = Part10Reader(data: data, options: options)
        self = try reader.read()
    }
}
