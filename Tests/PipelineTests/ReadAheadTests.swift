import CLinux
import Dispatch
import Foundation
import Glibc
@testable import Pipeline
import Synchronization
import Testing

/// The run's read-ahead: which files are asked for and when, and that the kernel really
/// brings them into the page cache before a worker reads them.
struct ReadAheadTests {
    final class Advised: Sendable {
        let calls = Mutex<[(index: Int, length: Int64)]>([])
    }

    /// Records each advice; `cached` says which files the page cache held (none by default).
    static func recorder(_ advised: Advised, paths: [String],
                         cached: @escaping @Sendable (Int) -> Bool = { _ in false }) -> @Sendable (String, Int64) -> Bool {
        { path, length in
            let index = paths.firstIndex(of: path)!
            advised.calls.withLock { $0.append((index, length)) }
            return cached(index)
        }
    }

    /// Each call asks for the files up to `window` past the one being read, never that one,
    /// never one twice, never beyond the window.
    @Test func filesAreAskedForUpToTheWindowAheadEachOnce() {
        let paths = (0..<20).map { "/drop/unit/\($0).dcm" }
        let advised = Advised()
        let readAhead = ReadAhead(paths: paths, sizes: Array(repeating: 1000, count: 20), window: 4,
                                  advise: Self.recorder(advised, paths: paths))
        readAhead.willRead(0)
        readAhead.waitForAdvice()
        #expect(advised.calls.withLock { $0.map(\.index) } == [1, 2, 3, 4])
        readAhead.willRead(1)
        readAhead.waitForAdvice()
        #expect(advised.calls.withLock { $0.map(\.index) } == [1, 2, 3, 4, 5])
        readAhead.willRead(1)  // a second worker on the same job: nothing new
        readAhead.waitForAdvice()
        #expect(advised.calls.withLock { $0.count } == 5)
        // A worker that ran ahead pulls the window with it, and the files it skipped (the
        // other worker's next ones) are asked for too; its own is not.
        readAhead.willRead(10)
        readAhead.waitForAdvice()
        #expect(advised.calls.withLock { $0.map(\.index) } == Array(1...14).filter { $0 != 10 })
        for index in 11..<20 { readAhead.willRead(index) }
        readAhead.waitForAdvice()
        #expect(advised.calls.withLock { $0.map(\.index) } == Array(1..<20).filter { $0 != 10 })
    }

    /// Two workers at once over many files, each taking every other file: no file advised
    /// twice, every one past the first two advised.
    @Test func concurrentWorkersAdviseEveryFileOnce() async {
        let count = 5_000
        let paths = (0..<count).map { "/drop/unit/\($0).dcm" }
        let advised = Advised()
        let readAhead = ReadAhead(paths: paths, sizes: Array(repeating: 10, count: count), window: 16,
                                  advise: Self.recorder(advised, paths: paths))
        await withTaskGroup(of: Void.self) { group in
            for worker in 0..<2 {
                group.addTask {
                    for index in stride(from: worker, to: count, by: 2) { readAhead.willRead(index) }
                }
            }
        }
        readAhead.waitForAdvice()
        let indexes = advised.calls.withLock { $0.map(\.index) }
        #expect(Set(indexes).count == indexes.count, "no file advised twice")
        // Each worker's previous call reached 15 files past its next file, so only the two
        // first files can be reached by their own reader before anyone advised them.
        #expect(Set(indexes).isSuperset(of: 2..<count))
    }

    /// The worker hands the advice over and goes on: a slow `open` (a network mount's round
    /// trip) holds the read-ahead's queue, not the worker.
    @Test func theWorkerDoesNotWaitForTheAdvice() {
        let paths = (0..<4).map { "/nas/study/\($0).dcm" }
        let release = DispatchSemaphore(value: 0)
        let advised = Advised()
        let readAhead = ReadAhead(paths: paths, sizes: [1, 1, 1, 1], window: 4, advise: { path, length in
            // Given in line, this would hold willRead for 15 s and then record the calls.
            _ = release.wait(timeout: .now() + 5)
            advised.calls.withLock { $0.append((paths.firstIndex(of: path)!, length)) }
            return false
        })
        readAhead.willRead(0)
        #expect(advised.calls.withLock { $0.isEmpty })
        for _ in 0..<3 { release.signal() }
        readAhead.waitForAdvice()
        #expect(advised.calls.withLock { $0.map(\.index) } == [1, 2, 3])
    }

    /// A warm run: after `warmStreak` files in a row found in the page cache, only every
    /// `sampleEvery`-th file is asked about; the first one found missing brings back the
    /// advice for every file after it.
    @Test func aWarmRunIsOnlySampledUntilAFileIsMissing() {
        let count = 400
        let paths = (0..<count).map { "/drop/unit/\($0).dcm" }
        let advised = Advised()
        // Every file is cached except 200 and those after it (an eviction in mid-run).
        let readAhead = ReadAhead(paths: paths, sizes: Array(repeating: 10, count: count), window: 4,
                                  advise: Self.recorder(advised, paths: paths, cached: { $0 < 200 }))
        for index in 0..<count {
            readAhead.willRead(index)
            // One worker that waits for the advice each time: the streak is known at once.
            readAhead.waitForAdvice()
        }
        let indexes = advised.calls.withLock { $0.map(\.index) }
        #expect(Set(indexes).count == indexes.count, "no file asked about twice")
        // Every file up to the streak's end is asked about (the 32nd cached one is file 32,
        // asked for when file 28 was read; the windows already claimed run to file 32).
        #expect(Array(1...(ReadAhead.warmStreak)).allSatisfy(indexes.contains))
        // Then one in eight, up to the missing file 200, which is a multiple of eight.
        let sampled = indexes.filter { $0 > ReadAhead.warmStreak && $0 <= 200 }
        let firstSampled = (ReadAhead.warmStreak / ReadAhead.sampleEvery + 1) * ReadAhead.sampleEvery
        #expect(sampled == Array(stride(from: firstSampled, through: 200, by: ReadAhead.sampleEvery)), "\(sampled)")
        // After it, every file again.
        #expect(indexes.filter { $0 > 200 } == Array(201..<count))
    }

    /// A large file is asked for only up to `bytesPerFile`; a small one whole.
    @Test func onlyTheHeadOfALargeFileIsAskedFor() {
        let paths = ["/a", "/b", "/c"]
        let advised = Advised()
        let readAhead = ReadAhead(paths: paths, sizes: [5, 3 * ReadAhead.bytesPerFile, 700], window: 4,
                                  advise: Self.recorder(advised, paths: paths))
        readAhead.willRead(0)
        readAhead.waitForAdvice()
        #expect(advised.calls.withLock { $0.map(\.length) } == [ReadAhead.bytesPerFile, 700])
    }

    /// The real system call: files evicted from the page cache are coming back into it,
    /// without anyone reading them, soon after the worker before them asked; the file being
    /// read is left to its own read. The kernel's read-ahead is best effort (on a busy disk
    /// it may drop part of a request: 81-94% of the pages had arrived in one CI run under
    /// the whole suite's load), so each advised file is asked to have pages in the cache,
    /// not all of them; without the advice none has any. Needs a filesystem whose clean pages
    /// `POSIX_FADV_DONTNEED` drops (ext4, xfs: the temporary directory here; not tmpfs, where
    /// pages are the file).
    @Test(.enabled(if: PageCache.canEvict(in: FileManager.default.temporaryDirectory)))
    func theNextFilesReachThePageCacheBeforeTheyAreRead() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("read-ahead-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        var generator = SystemRandomNumberGenerator()
        let paths = (0..<5).map { folder.appendingPathComponent("\($0).dcm").path }
        for path in paths {
            try Data((0..<(256 << 10)).map { _ in UInt8.random(in: 0...255, using: &generator) }).write(to: URL(fileURLWithPath: path))
            PageCache.evict(path)
        }
        #expect(paths.map(PageCache.residentFraction) == Array(repeating: 0, count: 5), "evicted before the test")
        let readAhead = ReadAhead(paths: paths, sizes: Array(repeating: 256 << 10, count: 5))
        readAhead.willRead(0)
        // Bounded poll: the reads were queued, not waited for.
        let deadline = Date().addingTimeInterval(10)
        while paths[1...].contains(where: { PageCache.residentFraction($0) < 1 }) && Date() < deadline {
            try await Task.sleep(for: .milliseconds(5))
        }
        let resident = paths[1...].map(PageCache.residentFraction)
        #expect(resident.allSatisfy { $0 > 0 }, "\(resident)")
        #expect(PageCache.residentFraction(paths[0]) == 0)
    }
}

extension ReadAheadTests {
    /// Whether a byte's page is in the page cache, as the read-ahead asks before it advises: yes
    /// for a file just written, no once its pages are dropped or past its end.
    @Test(.enabled(if: PageCache.canEvict(in: FileManager.default.temporaryDirectory)))
    func aFilesPagesAreSeenInThePageCacheAndOutOfIt() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("cached-\(UUID().uuidString)").path
        defer { unlink(path) }
        try Data(repeating: 3, count: 300 << 10).write(to: URL(fileURLWithPath: path))
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        try #require(descriptor >= 0)
        defer { close(descriptor) }
        #expect(dd_page_is_cached(descriptor, 0) == 1 && dd_page_is_cached(descriptor, (300 << 10) - 1) == 1)
        #expect(dd_page_is_cached(descriptor, 300 << 10) == 0, "past the end")
        PageCache.evict(path)
        #expect(dd_page_is_cached(descriptor, 0) == 0 && dd_page_is_cached(descriptor, (300 << 10) - 1) == 0)
        // The read-ahead's own advice brings them back (bounded poll: it is queued, not waited for).
        ReadAhead.adviseWillNeed(path, length: 300 << 10)
        let deadline = Date().addingTimeInterval(10)
        while dd_page_is_cached(descriptor, (300 << 10) - 1) == 0 && Date() < deadline { usleep(2_000) }
        #expect(dd_page_is_cached(descriptor, 0) == 1 && dd_page_is_cached(descriptor, (300 << 10) - 1) == 1)
    }
}

/// What of a file is in the page cache, and dropping it from there.
enum PageCache {
    /// Writes a file, syncs it and drops its pages: true when they are gone.
    static func canEvict(in folder: URL) -> Bool {
        let path = folder.appendingPathComponent("evict-probe-\(UUID().uuidString)").path
        defer { unlink(path) }
        guard FileManager.default.createFile(atPath: path, contents: Data(repeating: 7, count: 64 << 10)) else { return false }
        evict(path)
        return residentFraction(path) == 0
    }

    /// Syncs the file (only clean pages can be dropped) and asks the kernel to drop them.
    static func evict(_ path: String) {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return }
        defer { close(descriptor) }
        fdatasync(descriptor)
        _ = posix_fadvise(descriptor, 0, 0, POSIX_FADV_DONTNEED)
    }

    /// The fraction of the file's pages in the page cache (`mincore` of a mapping, which
    /// reads nothing).
    static func residentFraction(_ path: String) -> Double {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return -1 }
        defer { close(descriptor) }
        var status = stat()
        guard fstat(descriptor, &status) == 0, status.st_size > 0 else { return -1 }
        let length = Int(status.st_size)
        guard let mapping = mmap(nil, length, PROT_READ, MAP_SHARED, descriptor, 0), mapping != MAP_FAILED else { return -1 }
        defer { munmap(mapping, length) }
        let pageSize = Int(sysconf(Int32(_SC_PAGESIZE)))
        var pages = [UInt8](repeating: 0, count: (length + pageSize - 1) / pageSize)
        guard mincore(mapping, length, &pages) == 0 else { return -1 }
        return Double(pages.filter { $0 & 1 == 1 }.count) / Double(pages.count)
    }
}
