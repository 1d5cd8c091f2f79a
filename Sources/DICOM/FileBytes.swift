@preconcurrency import Glibc
import Foundation

/// Reads a file's bytes with plain `pread`, never `mmap`: a mapped file that another host
/// truncates on a network mount raises SIGBUS, which would take the daemon down.
struct FileBytes: ~Copyable {
    let path: String
    private let descriptor: Int32
    /// The size when opened.
    let size: Int

    init(path: String) throws(DICOMFileError) {
        self.path = path
        descriptor = open(path, O_RDONLY | O_CLOEXEC)
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
    func prefix(_ count: Int) throws(DICOMFileError) -> Data {
        var data = Data(count: count)
        var filled = 0
        var failed = false
        data.withUnsafeMutableBytes { buffer in
            while filled < count {
                let got = pread(descriptor, buffer.baseAddress! + filled, count - filled, off_t(filled))
                if got < 0 && errno == EINTR { continue }
                if got < 0 { failed = true }
                if got <= 0 { break }
                filled += got
            }
        }
        if failed { throw Self.failure(path) }
        data.count = filled
        return data
    }

    private static func failure(_ path: String) -> DICOMFileError {
        DICOMFileError(path: path, reason: .unreadable(String(cString: strerror(errno))))
    }
}
