import DICOM
import Foundation

/// The parse stage: the bytes the read stage kept (or the file, when it was too large to
/// keep) become a `DICOMFile`, or a failure that says whether the file is simply not DICOM
/// (left alone, not an error) or a DICOM file that cannot be read (an error the user can
/// look at: the offset and the element).
enum ParseStage {
    enum Failure: Error, Sendable, Equatable {
        /// No preamble and no recognisable first element: another kind of file.
        case notDICOM(reason: String)
        /// A DICOM file that is truncated, malformed or unreadable.
        case unreadable(reason: String)

        init(_ reason: DICOMFileError.Reason) {
            switch reason {
            case .dicom(.notDICOM(let why)): self = .notDICOM(reason: why)
            case .dicom(let error): self = .unreadable(reason: error.description)
            case .unreadable(let why): self = .unreadable(reason: "cannot be read: \(why)")
            }
        }
    }

    /// From the bytes the read stage kept; a file too large to keep is read up to its
    /// Pixel Data, which stays in the file and is read a frame at a time when rendered.
    static func parse(bytes: Data?, path: String, limits: ReadLimits) -> Result<DICOMFile, Failure> {
        if let bytes {
            do throws(DICOMError) {
                return .success(try DICOMFile(data: bytes, options: ReadOptions(limits: limits)))
            } catch {
                return .failure(Failure(.dicom(error)))
            }
        }
        do throws(DICOMFileError) {
            return .success(try DICOMFile.read(path: path, options: ReadOptions(pixelDataInFile: true, limits: limits)))
        } catch {
            return .failure(Failure(error.reason))
        }
    }
}
