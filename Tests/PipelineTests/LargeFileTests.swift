import Config
import DICOM
import Foundation
import Ledger
import Logging
@testable import Pipeline
import Testing

/// Files too large to hold take another path: hashed in chunks, parsed with Pixel Data left
/// in the file, each frame read by offset, PNGs rendered again when written, the DICOM copy
/// streamed from the source. The corpus goes down both paths (the in-memory limit
/// lowered to 0 bytes for the second) and must come out the same, file for file and byte
/// for byte, with the same ledger records. scripts/bench-large measures memory on 2 GB.
@Suite struct LargeFileTests {
    private let root = FileManager.default.temporaryDirectory.appendingPathComponent("large-\(UUID().uuidString)")
    private static let corpus = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("corpus/files")

    /// One worker: the corpus holds different files with one SOP Instance UID, and which of
    /// them keeps the plain name (the others get the hash appended) follows the order they
    /// finish in, which two workers would make differ between the runs.
    private func configuration(_ name: String) -> WatchConfiguration {
        var configuration = WatchConfiguration(drop: root.appendingPathComponent("drop"), output: root.appendingPathComponent("out-\(name)"),
                                               database: root.appendingPathComponent("ledger-\(name).sqlite"),
                                               deidentification: DeidentificationConfiguration(defaultsIn: root), workers: 1)
        configuration.deidentification.writeDICOM = true
        return configuration
    }

    private func files(under folder: URL) throws -> [String: Data] {
        var found: [String: Data] = [:]
        let enumerator = try #require(FileManager.default.enumerator(at: folder, includingPropertiesForKeys: [.isRegularFileKey]))
        for case let url as URL in enumerator where try url.resourceValues(forKeys: [.isRegularFileKey]).isRegularFile == true {
            found[String(url.path.dropFirst(folder.path.count + 1))] = try Data(contentsOf: url)
        }
        return found
    }

    @Test func theLargeFilePathWritesWhatTheInMemoryPathWrites() async throws {
        defer { try? FileManager.default.removeItem(at: root) }
        // `make test` fetches the corpus; without it this fails rather than proving nothing.
        // Every corpus file under 512 KiB: all the odd encodings (big endian, 1-bit, odd
        // lengths, implicit VR, every offset-table layout and codec, truncated files) and
        // none of the 22 large plain images, which take 80% of the time and add no case.
        let drop = root.appendingPathComponent("drop/corpus")
        for (relative, bytes) in try files(under: Self.corpus) where bytes.count < 512 << 10 {
            let target = drop.appendingPathComponent(relative)
            try FileManager.default.createDirectory(at: target.deletingLastPathComponent(), withIntermediateDirectories: true)
            try bytes.write(to: target)
        }

        var summaries: [RunSummary] = []
        var ledgers: [Ledger] = []
        for (name, limit) in [("memory", ContentHasher.inMemoryLimit), ("file", 0)] {
            let configuration = configuration(name)
            let ledger = try Ledger(path: configuration.database)
            let processor = try UnitProcessor(configuration: configuration, ledger: ledger, logger: Logger(label: "test"), inMemoryLimit: limit)
            summaries.append(try await processor.process(unit: "corpus", trigger: .startup))
            ledgers.append(ledger)
        }
        #expect(summaries[0].counts == summaries[1].counts)
        #expect(summaries[0].counts.new > 280, "the corpus is there and was processed")

        let inMemory = try files(under: configuration("memory").output), inFile = try files(under: configuration("file").output)
        #expect(inMemory.keys.sorted() == inFile.keys.sorted())
        #expect(inMemory.keys.filter { $0.hasSuffix(".png") }.count > 250)
        #expect(inMemory.keys.filter { $0.hasSuffix(".dcm") }.count > 150)
        for (path, bytes) in inMemory where inFile[path] != bytes {
            Issue.record("\(path) differs between the in-memory and the in-file path")
        }
        let sources = try ledgers[0].sources()
        #expect(sources.keys.sorted() == (try ledgers[1].sources()).keys.sorted())
        for (path, source) in sources {
            let expected = try ledgers[0].content(source.sha256), actual = try ledgers[1].content(source.sha256)
            #expect(expected?.outcome == actual?.outcome, "\(path)")
            #expect(expected?.reason == actual?.reason, "\(path)")
            #expect(expected?.bucket == actual?.bucket, "\(path)")
            #expect(expected?.outputs == actual?.outputs, "\(path)")
        }
    }
}
