/// Why bytes could not be read as DICOM. Each case carries where in the stream it happened,
/// so that a message can name the offset and the element being read.
public enum DICOMError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Neither a Part 10 header nor a plausible first data element.
    case notDICOM(reason: String)
    /// The stream ended inside an element.
    case truncated(offset: Int, tag: Tag?, needed: Int, available: Int)
    /// The bytes break the encoding rules of PS3.5 at this offset.
    case malformed(offset: Int, tag: Tag?, reason: String)
    /// A Deflated Explicit VR Little Endian dataset whose zlib stream is broken.
    case inflateFailed(reason: String)

    public var description: String {
        switch self {
        case .notDICOM(let reason):
            return "not a DICOM file: \(reason)"
        case .truncated(let offset, let tag, let needed, let available):
            let what = tag.map { "element \($0) \(StandardDictionary.entry(for: $0)?.keyword ?? "")" } ?? "an element header"
            return "truncated at offset \(offset) while reading \(what.trimmingTrailingSpace): needed \(needed) bytes, \(available) left"
        case .malformed(let offset, let tag, let reason):
            let what = tag.map { " in element \($0)" } ?? ""
            return "malformed at offset \(offset)\(what): \(reason)"
        case .inflateFailed(let reason):
            return "the deflated dataset cannot be inflated: \(reason)"
        }
    }
}

extension DICOMError {
    /// The same error with its offset moved by `distance`: for a part of a file parsed on
    /// its own, so that the message names the offset in the file.
    func shifted(by distance: Int) -> DICOMError {
        switch self {
        case .truncated(let offset, let tag, let needed, let available):
            .truncated(offset: offset + distance, tag: tag, needed: needed, available: available)
        case .malformed(let offset, let tag, let reason): .malformed(offset: offset + distance, tag: tag, reason: reason)
        case .notDICOM, .inflateFailed: self
        }
    }
}

/// A DICOM error together with the file it came from, as the command line reports it.
public struct DICOMFileError: Error, Sendable, CustomStringConvertible {
    public let path: String
    public let reason: Reason

    public enum Reason: Sendable, Equatable {
        case unreadable(String)
        case dicom(DICOMError)
    }

    public var description: String {
        switch reason {
        case .unreadable(let why): "\(path): cannot be read: \(why)"
        case .dicom(let error): "\(path): \(error)"
        }
    }
}

extension String {
    fileprivate var trimmingTrailingSpace: String {
        var copy = self
        while copy.last == " " { copy.removeLast() }
        return copy
    }
}
