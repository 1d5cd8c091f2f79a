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

    /// Reads a file, memory-mapped so that bytes never touched (pixel data skipped by
    /// `stopBeforePixelData`, or referred to by range) are never read from disk.
    public static func read(path: String, options: ReadOptions = ReadOptions()) throws(DICOMFileError) -> DICOMFile {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped)
        } catch {
            throw DICOMFileError(path: path, reason: .unreadable(Self.describe(error)))
        }
        do {
            return try DICOMFile(data: data, options: options)
        } catch {
            throw DICOMFileError(path: path, reason: .dicom(error))
        }
    }

    /// Parses a complete file held in memory.
    public init(data: Data, options: ReadOptions = ReadOptions()) throws(DICOMError) {
        var reader = Part10Reader(data: data, options: options)
        self = try reader.read()
    }

    private static func describe(_ error: any Error) -> String {
        let nsError = error as NSError
        if let underlying = nsError.userInfo[NSUnderlyingErrorKey] as? NSError,
           underlying.domain == NSPOSIXErrorDomain, let code = POSIXErrorCode(rawValue: Int32(underlying.code)) {
            return String(cString: strerror(code.rawValue))
        }
        return nsError.localizedDescription
    }
}
