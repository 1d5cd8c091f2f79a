@preconcurrency import Glibc
import Foundation
import Shared

/// Reads a file's bytes with plain `pread`, never `mmap`: a mapped file that another host
/// truncates on a network mount raises SIGBUS, which would take the daemon down.
struct FileBytes: ~Copyable {
    let path: String
    private let descriptor: Int32
    /// The size when opened.
    let size: Int

    init(path: String) throws(DICOMFileError) {
        self.path = path
        descriptor = RawPath.withSystemPath(path) { open($0, O_RDONLY | O_CLOEXEC) }
        guard descriptor >= 0 else { throw Self.failure(path) }
        var status = stat()
        guard fstat(descriptor, &status) == 0 else {
            let error = Self.failure(path)
            close(descriptor)
            throw error
        }
        guard status.st_mode & S_IFMT == S_IFREG else {
            close(descriptor)
            throw DICOMFileError(path: path, reason: .unreadable("not a regular file"))
        }
        size = Int(status.st_size)
    }

    deinit { close(descriptor) }

    /// Up to `count` bytes from the start of the file (fewer if the file is shorter).
    /// The buffer is not zero-filled first: that memset was a tenth of a metadata read.
    func prefix(_ count: Int) throws(DICOMFileError) -> Data {
        try range(0, count: count)
    }

    /// Up to `count` bytes from `offset` (fewer if the file ends first).
    func range(_ offset: Int, count: Int) throws(DICOMFileError) -> Data {
        guard count > 0 else { return Data() }
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: count, alignment: 16)
        var filled = 0
        while filled < count {
            let got = pread(descriptor, buffer + filled, count - filled, off_t(offset + filled))
            if got < 0 && errno == EINTR { continue }
            if got < 0 {
                let error = Self.failure(path)
                buffer.deallocate()
                throw error
            }
            if got == 0 { break }
            filled += got
        }
        return Data(bytesNoCopy: buffer, count: filled, deallocator: .custom { pointer, _ in pointer.deallocate() })
    }

    private static func failure(_ path: String) -> DICOMFileError {
        DICOMFileError(path: path, reason: .unreadable(String(cString: strerror(errno))))
    }
}
