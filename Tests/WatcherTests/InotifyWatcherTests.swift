import Foundation
import Testing
@testable import Watcher

/// Real inotify on a temporary directory. libinotifytools is process-wide, so these tests
/// run one at a time and no other suite starts a watcher.
@Suite(.serialized) struct InotifyWatcherTests {
    /// Collects events until `predicate` holds or `seconds` pass: a bounded poll, no bare sleep.
    private func collect(_ watcher: InotifyWatcher, seconds: Double, until predicate: @escaping @Sendable ([WatchEvent]) -> Bool) async -> [WatchEvent] {
        let timeout = Task {
            try? await Task.sleep(for: .seconds(seconds))
            watcher.stop()   // ends the stream within a second
        }
        defer { timeout.cancel() }
        var seen: [WatchEvent] = []
        for await event in watcher.events {
            seen.append(event)
            if predicate(seen) { break }
        }
        watcher.stop()
        return seen
    }

    private func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("watch-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    @Test func filesInNewSubfoldersAreReportedUnderTheirTopLevelUnit() async throws {
        let root = try temporaryDirectory()
        let watcher = try InotifyWatcher(root: root)
        let nested = root.appendingPathComponent("study1/series2")
        try FileManager.default.createDirectory(at: nested, withIntermediateDirectories: true)
        // Give the watcher a moment to add the new folders' watches, then write deep inside.
        let events = await collect(watcher, seconds: 10) { seen in
            if seen.count == 1 {
                try? Data("x".utf8).write(to: nested.appendingPathComponent("a.dcm"))
                try? Data("y".utf8).write(to: root.appendingPathComponent("loose.dcm"))
            }
            return seen.contains(.touched(unit: "loose.dcm")) && seen.filter { $0 == .touched(unit: "study1") }.count >= 2
        }
        #expect(events.contains(.touched(unit: "study1")))
        #expect(events.contains(.touched(unit: "loose.dcm")))
    }

    @Test func unitOfAPathIsItsTopLevelEntry() {
        #expect(InotifyWatcher.unit(of: "/drop/study/a/b.dcm", rootPath: "/drop") == "study")
        #expect(InotifyWatcher.unit(of: "/drop/loose.dcm", rootPath: "/drop/") == "loose.dcm")
        #expect(InotifyWatcher.unit(of: "/drop/.hidden/x", rootPath: "/drop") == nil)
        #expect(InotifyWatcher.unit(of: "/elsewhere/x", rootPath: "/drop") == nil)
    }
}
