import Foundation
import Testing
@testable import Watcher

/// Real inotify on a temporary directory. libinotifytools is process-wide, so these tests
/// run one at a time and no other suite starts a watcher.
@Suite(.serialized) struct InotifyWatcherTests {
    /// Collects events until `predicate` holds or `seconds` pass: a bounded poll, no bare
    /// sleep. `satisfied` says which: a test must not pass by timing out.
    private func collect(_ watcher: InotifyWatcher, seconds: Double,
                         until predicate: ([WatchEvent]) -> Bool) async -> (events: [WatchEvent], satisfied: Bool) {
        let timeout = Task {
            try? await Task.sleep(for: .seconds(seconds))
            watcher.stop()   // ends the stream within a second
        }
        defer { timeout.cancel() }
        var seen: [WatchEvent] = []
        var satisfied = false
        for await event in watcher.events {
            seen.append(event)
            if predicate(seen) {
                satisfied = true
                break
            }
        }
        watcher.stop()
        return (seen, satisfied)
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
        // The creation reports study1. A loose file then reports itself: inotify keeps one
        // queue in order, so every event of the creation has come by then. A file written
        // into study1/series2 after that can only be reported through a watch on
        // series2, the folder that did not exist when the watcher started.
        var written = false
        var looseAt: Int?
        let (events, satisfied) = await collect(watcher, seconds: 20) { seen in
            if !written, seen.contains(.touched(unit: "study1")) {
                try? Data("y".utf8).write(to: root.appendingPathComponent("loose.dcm"))
                written = true
            }
            if looseAt == nil, let index = seen.firstIndex(of: .touched(unit: "loose.dcm")) {
                looseAt = index
                try? Data("x".utf8).write(to: nested.appendingPathComponent("a.dcm"))
            }
            guard let looseAt else { return false }
            return seen[(looseAt + 1)...].contains(.touched(unit: "study1"))
        }
        #expect(satisfied, "the nested write was never reported: \(events)")
        #expect(events.first == .touched(unit: "study1"))
    }

    @Test func unitOfAPathIsItsTopLevelEntry() {
        #expect(InotifyWatcher.unit(of: "/drop/study/a/b.dcm", rootPath: "/drop") == "study")
        #expect(InotifyWatcher.unit(of: "/drop/loose.dcm", rootPath: "/drop/") == "loose.dcm")
        #expect(InotifyWatcher.unit(of: "/drop/.hidden/x", rootPath: "/drop") == nil)
        #expect(InotifyWatcher.unit(of: "/elsewhere/x", rootPath: "/drop") == nil)
    }
}
