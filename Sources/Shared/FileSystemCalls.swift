import Foundation

/// The two system calls the daemon needs the raw error number of, which Foundation's errors
/// do not always carry: ENOSPC must pause processing where other errors fail one file, and
/// a start-up refusal names the folder that is in the way.
public enum FileSystemCalls {
    /// Why a folder could not be made.
    public struct FolderRefusal: Error, Equatable, Sendable {
        /// The folder that could not be made: the one asked for or one of its parents.
        public let path: String
        /// The error number; ENOTDIR when a file of that name is in the way.
        public let code: Int32

        public var reason: String {
            code == ENOTDIR ? "a file of that name is in the way" : String(cString: strerror(code))
        }
    }

    /// Makes `path` and its missing parents, as `mkdir -p` does; nil once it is a folder.
    public static func makeFolders(_ path: String, mode: mode_t = 0o755) -> FolderRefusal? {
        if mkdir(path, mode) == 0 { return nil }
        var error = errno
        if error == ENOENT, let slash = path.lastIndex(of: "/"), slash != path.startIndex {
            if let parent = makeFolders(String(path[..<slash]), mode: mode) { return parent }
            if mkdir(path, mode) == 0 { return nil }
            error = errno
        }
        switch error {
        case EEXIST:
            return isFolder(path) ? nil : FolderRefusal(path: path, code: ENOTDIR)
        case ENOTDIR:
            // Some parent is a file: name that one.
            var parent = (path as NSString).deletingLastPathComponent
            while !parent.isEmpty, parent != "/" {
                if exists(parent) && !isFolder(parent) { return FolderRefusal(path: parent, code: ENOTDIR) }
                parent = (parent as NSString).deletingLastPathComponent
            }
            return FolderRefusal(path: path, code: ENOTDIR)
        default:
            return FolderRefusal(path: path, code: error)
        }
    }

    /// Writes every byte to `descriptor`, retrying short writes and EINTR; nil, or the error
    /// number that stopped it.
    public static func writeAll(_ bytes: UnsafeRawBufferPointer, to descriptor: Int32) -> Int32? {
        var offset = 0
        while offset < bytes.count {
            let written = write(descriptor, bytes.baseAddress! + offset, bytes.count - offset)
            if written < 0 {
                if errno == EINTR { continue }
                return errno
            }
            offset += written
        }
        return nil
    }

    private static func exists(_ path: String) -> Bool {
        var status = stat()
        return lstat(path, &status) == 0
    }

    private static func isFolder(_ path: String) -> Bool {
        var status = stat()
        return stat(path, &status) == 0 && status.st_mode & S_IFMT == S_IFDIR
    }
}
