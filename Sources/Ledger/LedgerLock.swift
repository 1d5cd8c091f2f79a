@preconcurrency import Glibc
import Foundation

/// An advisory lock beside the ledger (`<ledger>.lock`, flock(2)). Every process that runs
/// units (the daemon, `--once`, `--reprocess`) holds it shared for its lifetime;
/// `dicomdrop check --repair`, which deletes rows and files that a run in progress may be
/// about to commit, takes it exclusively and refuses while anyone else holds it. The kernel
/// drops a dead process's lock, so a crash never leaves it taken.
public final class LedgerLock: Sendable {
    public enum Mode: Sendable {
        case shared, exclusive
    }

    public enum LockError: Error, Sendable, CustomStringConvertible {
        /// Another process holds the lock in a way that excludes this one.
        case held(path: String)
        case cannotOpen(path: String, reason: String)

        public var description: String {
            switch self {
            case .held(let path): "another dicomdrop process is using this ledger (it holds \(path)); stop it first"
            case .cannotOpen(let path, let reason): "cannot open the ledger's lock file \(path): \(reason)"
            }
        }
    }

    private let descriptor: Int32

    /// Takes the lock without waiting.
    public init(beside ledger: URL, mode: Mode) throws(LockError) {
        let path = ledger.path + ".lock"
        descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw .cannotOpen(path: path, reason: String(cString: strerror(errno))) }
        guard flock(descriptor, (mode == .shared ? LOCK_SH : LOCK_EX) | LOCK_NB) == 0 else {
            let error = errno
            close(descriptor)
            if error == EWOULDBLOCK { throw .held(path: path) }
            throw .cannotOpen(path: path, reason: String(cString: strerror(error)))
        }
    }

    deinit { close(descriptor) }
}
