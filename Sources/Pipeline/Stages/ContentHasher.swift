@preconcurrency import Glibc
import Crypto
import Foundation
import Shared

/// SHA-256 of a file, streamed in fixed 1 MiB chunks so memory stays flat whatever the size.
enum ContentHasher {
    struct Failure: Error, CustomStringConvertible {
        let path: String
        let reason: String
        /// The system's error number (errno) of the call that failed.
        var code: Int32? = nil
        /// Reads tried, retries included.
        var attempts = 1

        init(path: String, code: Int32) {
            self.path = path
            self.reason = String(cString: strerror(code))
            self.code = code
        }

        var description: String {
            "\(RawPath.display(path)): cannot be read: \(reason)\(attempts > 1 ? " (\(attempts) attempts)" : "")"
        }
        /// The file was deleted (or replaced by a folder) after the walk saw it: no fault.
        var fileIsGone: Bool { code == ENOENT || code == ENOTDIR }
        /// An error a network filesystem or a failing disk may not repeat.
        var mayPass: Bool { code.map(ContentHasher.transientCodes.contains) ?? false }
    }

    /// Errors worth another read: EIO (a disk or a NAS hiccup), ESTALE (an NFS handle that a
    /// server restart or a remount invalidated: a new open gets a new one), EAGAIN,
    /// ETIMEDOUT and ENOLINK (soft network mounts).
    static let transientCodes: Set<Int32> = [EIO, ESTALE, EAGAIN, ETIMEDOUT, ENOLINK]
    /// Waits before each retry: four reads in all over 2.6 s, then the file is recorded as
    /// unreadable and left for the next full pass.
    static let retryDelays: [Double] = [0.1, 0.5, 2.0]

    /// `hashAndRead`, with a transient error retried (the file opened again) after each of
    /// `delays`. Blocks the calling worker thread while it waits.
    static func hashAndReadRetrying(fileAt path: String, keepingUpTo limit: Int = inMemoryLimit,
                                    delays: [Double] = retryDelays) throws(Failure) -> (sha256: String, bytes: Data?) {
        var attempt = 0
        while true {
            do {
                return try hashAndRead(fileAt: path, keepingUpTo: limit)
            } catch {
                attempt += 1
                guard error.mayPass, attempt <= delays.count else {
                    var failure = error
                    failure.attempts = attempt
                    throw failure
                }
                usleep(useconds_t(delays[attempt - 1] * 1_000_000))
            }
        }
    }

    static let chunkSize = 1 << 20

    static func sha256(ofFileAt path: String) throws(Failure) -> String {
        let descriptor = RawPath.withSystemPath(path) { open($0, O_RDONLY | O_CLOEXEC) }
        guard descriptor >= 0 else { throw Failure(path: path, code: errno) }
        defer { close(descriptor) }
        var hasher = SHA256()
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: chunkSize, alignment: 16)
        defer { buffer.deallocate() }
        while true {
            let count = read(descriptor, buffer.baseAddress, chunkSize)
            if count < 0 && errno == EINTR { continue }
            guard count >= 0 else { throw Failure(path: path, code: errno) }
            if count == 0 { break }
            hasher.update(bufferPointer: UnsafeRawBufferPointer(rebasing: buffer[..<count]))
        }
        return Hexadecimal.string(hasher.finalize())
    }
}

extension ContentHasher {
    /// Files up to this size are read once into memory, hashed there, and parsed from the
    /// same bytes; larger ones are hashed in chunks and read again only if new. This bounds
    /// memory at `workers` times this size while sparing typical DICOM files a second read.
    static let inMemoryLimit = 64 << 20

    /// The file's SHA-256 and, when it is no larger than `limit`, its bytes.
    static func hashAndRead(fileAt path: String, keepingUpTo limit: Int = inMemoryLimit) throws(Failure) -> (sha256: String, bytes: Data?) {
        let descriptor = RawPath.withSystemPath(path) { open($0, O_RDONLY | O_CLOEXEC) }
        guard descriptor >= 0 else { throw Failure(path: path, code: errno) }
        defer { close(descriptor) }
        var status = stat()
        guard fstat(descriptor, &status) == 0 else { throw Failure(path: path, code: errno) }
        let size = Int(status.st_size)
        guard size <= limit else { return (try sha256(ofFileAt: path), nil) }
        // One byte more than the size, so that a file that grew since the stat is read whole.
        let capacity = size + 1
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 16)
        var filled = 0
        while filled < capacity {
            let count = pread(descriptor, buffer + filled, capacity - filled, off_t(filled))
            if count < 0 && errno == EINTR { continue }
            guard count >= 0 else {
                let error = errno
                buffer.deallocate()
                throw Failure(path: path, code: error)
            }
            if count == 0 { break }
            filled += count
        }
        if filled == capacity {
            // Still growing: settle should have prevented this; hash it the streaming way.
            buffer.deallocate()
            return (try sha256(ofFileAt: path), nil)
        }
        let bytes = Data(bytesNoCopy: buffer, count: filled, deallocator: .custom { pointer, _ in pointer.deallocate() })
        return (Hexadecimal.string(SHA256.hash(data: bytes)), bytes)
    }
}
