@preconcurrency import Glibc
import Crypto
import Foundation
import Shared

/// The secret key behind every pseudonym: 32 random bytes in a file of mode 0600, created on
/// first start. Its content is never logged; losing it means new pseudonyms for everyone.
public enum KeyFile {
    public enum KeyError: Error, Sendable, CustomStringConvertible {
        case cannotCreate(path: String, reason: String)
        case cannotRead(path: String, reason: String)
        case malformed(path: String, size: Int)
        case tooOpen(path: String, mode: UInt32)

        public var description: String {
            switch self {
            case .cannotCreate(let path, let reason): "cannot create the de-identification key \(path): \(reason)"
            case .cannotRead(let path, let reason): "cannot read the de-identification key \(path): \(reason)"
            case .malformed(let path, let size): "the de-identification key \(path) holds \(size) bytes, expected 32"
            case .tooOpen(let path, let mode):
                "the de-identification key \(path) is readable by others (mode \(String(mode, radix: 8))): chmod 600 it"
            }
        }
    }

    public static let size = 32

    /// The key at `path`, created (0600, exclusive) if there is none.
    public static func loadOrCreate(at path: URL) throws(KeyError) -> SymmetricKey {
        let file = path.path
        if !FileManager.default.fileExists(atPath: file) {
            try create(at: path)
        }
        var status = stat()
        guard stat(file, &status) == 0 else { throw .cannotRead(path: file, reason: String(cString: strerror(errno))) }
        let mode = UInt32(status.st_mode) & 0o777
        guard mode & 0o077 == 0 else { throw .tooOpen(path: file, mode: mode) }
        guard let bytes = FileManager.default.contents(atPath: file) else {
            throw .cannotRead(path: file, reason: String(cString: strerror(errno)))
        }
        guard bytes.count == size else { throw .malformed(path: file, size: bytes.count) }
        return SymmetricKey(data: bytes)
    }

    private static func create(at path: URL) throws(KeyError) {
        let file = path.path
        if let refusal = FileSystemCalls.makeFolders(path.deletingLastPathComponent().path) {
            throw .cannotCreate(path: file, reason: "\(refusal.path): \(refusal.reason)")
        }
        // O_EXCL: two processes starting at once cannot both write a key.
        let descriptor = open(file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        if descriptor < 0 && errno == EEXIST { return }
        guard descriptor >= 0 else { throw .cannotCreate(path: file, reason: String(cString: strerror(errno))) }
        let key = SymmetricKey(size: .bits256)
        let written = key.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
        let synced = fsync(descriptor) == 0
        close(descriptor)
        guard written == size, synced else {
            unlink(file)
            throw .cannotCreate(path: file, reason: String(cString: strerror(errno)))
        }
    }
}
