import CLinux
import Dispatch
@preconcurrency import Glibc
import Shared
import Synchronization

/// Asks the kernel to start reading a run's next files while the workers process the
/// current ones (`posix_fadvise(WILLNEED)`: the reads are queued and the call returns).
///
/// A worker reads its file whole before it can hash it, so a file not in the page cache
/// (a drop copied in a while ago and evicted since, a NAS mount, a restart's catch-up) kept
/// a worker waiting on the disk with nothing else to do: on two cores, a 2,000-file drop
/// read cold took 1.5x the wall of the same drop read warm (docs/PERFORMANCE.md). With the
/// next files already on their way, the disk and the workers overlap.
///
/// Files are advised in the run's order, each once, up to `window` files past the one a
/// worker is about to read; workers take files roughly in order, so the window stays just
/// ahead of them. Only the first `bytesPerFile` of a file are asked for: the kernel's own
/// read-ahead follows a sequential read, and a large file's whole length would crowd the
/// page cache long before its turn. The advice is given on a queue of its own, not by the
/// worker: on a network mount each `open` is a round trip to the server, which the worker
/// would otherwise wait for once more per file.
///
/// A run whose files are all in the page cache (a drop just copied in, a warm rerun) needs
/// none of this, and asking cost four system calls and a hand-over per file (1.2% of a warm
/// CT/MR run's CPU in perf). So after `warmStreak` files in a row found already cached,
/// only every `sampleEvery`-th file is asked about; the first one found missing brings
/// back the advice for every file. A drop is cached or evicted as a whole, nearly always;
/// at worst a few files past an eviction are read without advice, as any file is read
/// without it (the kernel's own read-ahead still follows each read).
final class ReadAhead: Sendable {
    /// Files advised ahead of the one being read: at about a millisecond of CPU per file and
    /// two workers, 16 files are some 8 ms of lead, several disk or network round trips.
    static let window = 16
    static let bytesPerFile: Int64 = 8 << 20
    /// After this many files in a row found in the page cache, the advice samples the files.
    static let warmStreak = 32
    /// While sampling, the files asked about: one in this many.
    static let sampleEvery = 8

    private let paths: [String]
    private let sizes: [Int64]
    private let window: Int
    /// Asks for the file's first `length` bytes; true when they were in the page cache already.
    private let advise: @Sendable (_ path: String, _ length: Int64) -> Bool
    /// Files `0..<advised` have been handed to the queue (by one worker or another).
    private let advised = Atomic<Int>(0)
    /// Files in a row that `advise` found in the page cache (the queue writes it, workers read it).
    private let cachedInARow = Atomic<Int>(0)
    private let queue = DispatchQueue(label: "dicomdrop.read-ahead", qos: .utility)

    /// `paths` absolute, in the order the run hands them to the workers; `advise` is the
    /// system call by default.
    init(paths: [String], sizes: [Int64], window: Int = ReadAhead.window,
         advise: @escaping @Sendable (_ path: String, _ length: Int64) -> Bool = ReadAhead.adviseWillNeed) {
        precondition(paths.count == sizes.count, "a size for every path")
        self.paths = paths
        self.sizes = sizes
        self.window = window
        self.advise = advise
    }

    /// A worker is about to read file `index`: the files after it, up to the window, that no
    /// caller has handed over yet are handed to the queue, which advises them in order. Each
    /// file is handed over by exactly one caller; the worker does not wait for the advice.
    func willRead(_ index: Int) {
        let target = min(index + 1 + window, paths.count)
        let sampling = cachedInARow.load(ordering: .relaxed) >= Self.warmStreak
        var claimed: [Int] = []
        while true {
            let next = advised.load(ordering: .relaxed)
            guard next < target else { break }
            if advised.compareExchange(expected: next, desired: next + 1, ordering: .relaxed).exchanged {
                // The file being read now gets no advice: its read starts at once anyway.
                // Files before it that nobody advised yet (another worker's, a job
                // behind) still do: they are next for someone.
                if next != index && (!sampling || next % Self.sampleEvery == 0) { claimed.append(next) }
            }
        }
        guard !claimed.isEmpty else { return }
        queue.async { [self, claimed] in
            for file in claimed {
                if advise(paths[file], min(sizes[file], Self.bytesPerFile)) {
                    cachedInARow.wrappingAdd(1, ordering: .relaxed)
                } else {
                    cachedInARow.store(0, ordering: .relaxed)
                }
            }
        }
    }

    /// Returns once every advice handed over so far has been given (for tests).
    func waitForAdvice() {
        queue.sync {}
    }

    /// `posix_fadvise(WILLNEED)` on the file's first `length` bytes. Advice only: a file that
    /// cannot be opened (gone, no permission) or a filesystem that ignores it changes
    /// nothing, and the worker's own read reports what is wrong. Opened without blocking, so
    /// that a FIFO put in a file's place does not hold the read-ahead's queue.
    ///
    /// A file whose first and last advised bytes are already in the page cache (a drop just
    /// copied in, a warm rerun) is left alone: WILLNEED looks every page of it up again in
    /// the cache, 0.4-1.7% of a warm CT/MR run's CPU in two profiles, where two one-byte
    /// reads that never wait for the disk (`RWF_NOWAIT`) took 0.2%. (On a miss such a read
    /// starts the kernel's read-ahead of that spot and returns; the advice follows.) A file read in order
    /// is cached or evicted as a whole, nearly always; one with a hole in the middle is read
    /// by the worker as before.
    ///
    /// True when the file was found in the page cache (nothing asked); false when it was
    /// advised, or could not be opened.
    @discardableResult
    @Sendable static func adviseWillNeed(_ path: String, length: Int64) -> Bool {
        let descriptor = RawPath.withSystemPath(path) { open($0, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC) }
        guard descriptor >= 0 else { return false }
        defer { close(descriptor) }
        if length > 0 && dd_page_is_cached(descriptor, 0) == 1 && dd_page_is_cached(descriptor, length - 1) == 1 { return true }
        _ = posix_fadvise(descriptor, 0, off_t(length), POSIX_FADV_WILLNEED)
        return false
    }
}
