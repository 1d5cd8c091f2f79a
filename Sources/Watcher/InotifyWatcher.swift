@preconcurrency import Glibc
import CInotifyTools
import CLinux
import Foundation
import Shared

/// Something happened under the drop directory.
public enum WatchEvent: Sendable, Equatable {
    /// A file or folder of this unit (top-level entry of the drop directory) was created,
    /// written, moved, deleted or had its attributes changed.
    case touched(unit: String)
    /// The kernel's event queue overflowed: events were lost, a full rescan is due.
    case overflow
    /// A new folder could not be watched: the user's inotify watch limit is reached, and
    /// changes below it are seen only by poll passes and rescans.
    case watchLimitReached(path: String)
}

/// Where changes under the drop directory come from: kernel events (inotify) or a periodic
/// walk compared with an index (poll). Either way they only say *where to look*; the ledger
/// decides what is new.
public protocol ChangeSource: Sendable {
    /// Reports changes until the calling task is cancelled.
    func run(report: @escaping @Sendable (WatchEvent) -> Void) async
}

/// What to tell the user when the kernel's inotify limits are too low for the tree.
public enum InotifyRemedy {
    public static let overflow = "inotify's event queue overflowed and events were lost; a poll pass finds what they said. If it recurs, raise the queue: sysctl fs.inotify.max_queued_events=131072 (or set watch.mode: poll)"
    public static let watchLimit = "inotify's watch limit is reached, so new folders are not watched; poll passes find what is dropped there. Raise it: sysctl fs.inotify.max_user_watches=1048576 (or set watch.mode: poll)"
}

/// Recursive inotify on the drop directory through libinotifytools.
///
/// libinotifytools keeps process-wide, non-thread-safe state and its wait blocks, so one
/// dedicated thread owns it for the watcher's whole life and hands events over through an
/// AsyncStream; only one watcher may exist per process.
public final class InotifyWatcher: ChangeSource {
    public let root: URL
    public let events: AsyncStream<WatchEvent>
    private let continuation: AsyncStream<WatchEvent>.Continuation
    private let stopping = Stopping()

    public enum WatchError: Error, Sendable, CustomStringConvertible {
        case cannotInitialise(String)
        case cannotWatch(path: String, reason: String, watchLimit: Bool)

        /// The user's watch limit is too low for the tree (ENOSPC from inotify_add_watch).
        public var isWatchLimit: Bool {
            if case .cannotWatch(_, _, true) = self { return true }
            return false
        }

        public var description: String {
            switch self {
            case .cannotInitialise(let reason): "inotify cannot be initialised: \(reason)"
            case .cannotWatch(let path, let reason, let watchLimit):
                "cannot watch \(path): \(reason)" + (watchLimit ? " (\(InotifyRemedy.watchLimit))" : "")
            }
        }
    }

    static func bits(_ value: some BinaryInteger) -> UInt32 { UInt32(truncatingIfNeeded: value) }
    static let mask = Int32(bitPattern: bits(IN_CREATE) | bits(IN_CLOSE_WRITE) | bits(IN_MOVED_TO) | bits(IN_MOVED_FROM)
                                        | bits(IN_DELETE) | bits(IN_ATTRIB))

    /// Starts watching `root` recursively; returns once every existing folder is watched.
    public init(root: URL) throws(WatchError) {
        self.root = root.standardizedFileURL
        (events, continuation) = AsyncStream.makeStream(of: WatchEvent.self)
        let ready = DispatchSemaphore(value: 0)
        let failure = Mutexed<WatchError?>(nil)
        let rootPath = self.root.path
        let continuation = self.continuation
        let stopping = self.stopping
        let thread = Thread {
            // Named as `top -H` shows it; Thread.name would pass the kernel's 15-byte limit
            // and leave the thread unnamed.
            _ = dd_name_this_thread("inotify")
            guard inotifytools_initialize() != 0 else {
                failure.set(.cannotInitialise(String(cString: strerror(inotifytools_error()))))
                ready.signal()
                return
            }
            defer { inotifytools_cleanup() }
            guard inotifytools_watch_recursively(rootPath, Self.mask) != 0 else {
                let code = inotifytools_error()
                failure.set(.cannotWatch(path: rootPath, reason: String(cString: strerror(code)), watchLimit: code == ENOSPC))
                ready.signal()
                return
            }
            ready.signal()
            Self.pump(rootPath: rootPath, continuation: continuation, stopping: stopping)
            continuation.finish()
        }
        thread.start()
        ready.wait()
        if let error = failure.value { throw error }
    }

    /// Forwards events until the task is cancelled, then stops the watcher thread.
    public func run(report: @escaping @Sendable (WatchEvent) -> Void) async {
        await withTaskCancellationHandler {
            for await event in events { report(event) }
        } onCancel: {
            stop()
        }
    }

    /// Stops the watcher thread (within a second) and ends the event stream.
    public func stop() {
        stopping.set()
    }

    deinit { stopping.set() }

    private static func pump(rootPath: String, continuation: AsyncStream<WatchEvent>.Continuation, stopping: Stopping) {
        while !stopping.isSet {
            // A one-second timeout lets the thread notice stop() without a signal.
            guard let event = inotifytools_next_event(1) else { continue }
            let mask = event.pointee.mask
            if mask & bits(IN_Q_OVERFLOW) != 0 {
                continuation.yield(.overflow)
                continue
            }
            guard let directory = inotifytools_filename_from_wd(event.pointee.wd).map({ RawPath.string(fromBytes: UnsafeRawBufferPointer(start: $0, count: strlen($0))) }) else { continue }
            // The name is a flexible array member right after the struct, in libinotifytools' buffer.
            let name: String
            if event.pointee.len > 0 {
                let start = UnsafeRawPointer(event).advanced(by: MemoryLayout<inotify_event>.size).assumingMemoryBound(to: CChar.self)
                name = RawPath.string(fromBytes: UnsafeRawBufferPointer(start: start, count: strlen(start)))
            } else {
                name = ""
            }
            let path = directory.hasSuffix("/") ? directory + name : directory + "/" + name
            if mask & bits(IN_ISDIR) != 0 && mask & (bits(IN_CREATE) | bits(IN_MOVED_TO)) != 0 {
                // inotify does not follow new folders by itself; files that land before this
                // watch exists are found by the stat pass of the unit, which this event triggers.
                if inotifytools_watch_recursively(path, Self.mask) == 0 && inotifytools_error() == ENOSPC {
                    continuation.yield(.watchLimitReached(path: path))
                }
            }
            guard let unit = unit(of: path, rootPath: rootPath) else { continue }
            continuation.yield(.touched(unit: unit))
        }
    }

    /// The top-level entry of the drop directory that `path` lies in.
    static func unit(of path: String, rootPath: String) -> String? {
        let prefix = rootPath.hasSuffix("/") ? rootPath : rootPath + "/"
        guard path.hasPrefix(prefix) else { return nil }
        let relative = path.dropFirst(prefix.count)
        guard let first = relative.split(separator: "/").first, !first.hasPrefix(".") else { return nil }
        return String(first)
    }
}

/// A flag set once, read from another thread.
final class Stopping: @unchecked Sendable {
    private let lock = NSLock()
    private var flag = false
    var isSet: Bool { lock.withLock { flag } }
    func set() { lock.withLock { flag = true } }
}

final class Mutexed<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: Value
    init(_ value: Value) { stored = value }
    var value: Value { lock.withLock { stored } }
    func set(_ value: Value) { lock.withLock { stored = value } }
}
