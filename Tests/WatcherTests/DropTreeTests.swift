import Foundation
import Shared
import Testing
@testable import Watcher

/// The walk on a real directory: what it lists, what it leaves out, and that each file's
/// stamp is its own `lstat`.
@Suite struct DropTreeTests {
    private func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("droptree-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    private func cPath(_ bytes: [UInt8]) -> [CChar] { bytes.map { CChar(bitPattern: $0) } + [0] }

    @Test func theWalkListsRegularFilesAtEveryDepthAndNothingElse() throws {
        let root = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let path = root.path
        let files = ["study/a.dcm", "study/series1/b.dcm", "study/series1/deeper/c.dcm", "study/series2/d.dcm", "loose.dcm"]
        for file in files {
            try FileManager.default.createDirectory(atPath: (path + "/" + file as NSString).deletingLastPathComponent,
                                                    withIntermediateDirectories: true)
            try Data(file.utf8).write(to: URL(fileURLWithPath: path + "/" + file))
        }
        // A name that is not UTF-8 (Latin-1 "\u{FC}"), kept byte for byte by RawPath.
        let latin1: [UInt8] = Array("study/series2/".utf8) + [0x47, 0x72, 0xFC, 0x6E, 0x2E, 0x64, 0x63, 0x6D]
        let descriptor = open(cPath(Array(path.utf8) + [0x2F] + latin1), O_WRONLY | O_CREAT, 0o644)
        #expect(descriptor >= 0)
        close(descriptor)
        // Left out: copies in progress, a FIFO, links to a file and to a directory (never
        // followed, even where they lead inside the drop), an empty directory's nothing.
        for temporary in ["study/.a.dcm.XXXXXX", "study/series1/e.dcm.part", "study/series1/f.tmp"] {
            try Data().write(to: URL(fileURLWithPath: path + "/" + temporary))
        }
        #expect(mkfifo(path + "/study/series1/pipe.dcm", 0o644) == 0)
        #expect(symlink(path + "/study/a.dcm", path + "/study/link.dcm") == 0)
        #expect(symlink(path + "/study/series1", path + "/study/linkdir") == 0)
        try FileManager.default.createDirectory(atPath: path + "/study/empty", withIntermediateDirectories: true)

        let tree = DropTree(root: root)
        let found = tree.files(inUnit: "study")
        let latinName = RawPath.string(fromBytes: latin1)
        #expect(found.map(\.path) == ["study/a.dcm", "study/series1/b.dcm", "study/series1/deeper/c.dcm", "study/series2/d.dcm",
                                      latinName].sorted())
        #expect(found.allSatisfy { $0.unit == "study" })
        for file in found {
            var status = stat()
            #expect(RawPath.withSystemPath(path + "/" + file.path) { lstat($0, &status) } == 0)
            #expect(file.stamp == FileStamp(status), "\(file.path)")
        }
        #expect(tree.files(inUnit: "loose.dcm").map(\.path) == ["loose.dcm"])
        #expect(tree.files(inUnit: "gone").isEmpty)
        #expect(tree.allFiles().map(\.path) == ["loose.dcm"] + found.map(\.path))
    }
}
