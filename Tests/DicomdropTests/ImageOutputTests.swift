import DICOM
import Foundation
import Imaging
import Ledger
import Testing

/// Images as the daemon writes them: every frame of a multi-frame image, colour, RLE,
/// `png.*` settings, and an image it cannot decode (metadata kept, reason recorded).
@Suite(.serialized) struct ImageOutputTests {
    static let multiFrameRLE = "pydicom-data/emri_small_RLE.dcm"             // 10 frames, MR
    static let colourRLE = "pydicom/test_files/SC_rgb_rle_2frame.dcm"         // 2 frames, RGB
    static let jpeg2000 = "pydicom/test_files/JPEG2000.dcm"
    static let brokenJPEG2000 = "pydicom/test_files/JPEG2000-embedded-sequence-delimiter.dcm"
    /// Made by scripts/make-compressed-corpus: 10 JPEG Lossless frames, the fifth garbled.
    static let corruptFrame = "generated/emri_framing_corrupt_frame4.dcm"

    @Test func everyFrameBecomesAPNGAndAnUndecodableImageKeepsItsMetadata() throws {
        let harness = try DaemonHarness()
        try harness.drop([Self.multiFrameRLE, Self.colourRLE, Self.jpeg2000, Self.brokenJPEG2000, Self.corruptFrame], into: "frames")
        let run = try harness.run(["--once"])
        #expect(run.status == 0, "\(run.standardError)")
        let outputs = harness.outputs()
        let ledger = try harness.ledger()
        let sources = try ledger.sources(inUnit: "frames")
        func content(_ corpusPath: String) throws -> ContentRecord {
            let name = "frames/" + (corpusPath as NSString).lastPathComponent
            let source = try #require(sources[name], "\(name)")
            return try #require(try ledger.content(source.sha256))
        }
        let mr = try content(Self.multiFrameRLE).outputs.filter { $0.hasSuffix(".png") }.sorted()
        #expect(mr.count == 10, "\(outputs.keys.sorted())")
        #expect(mr.first?.hasSuffix("-f0001.png") == true && mr.last?.hasSuffix("-f0010.png") == true)
        for path in mr {
            let raster = try PNGCodec.decode(try #require(outputs[path]))
            #expect(raster.channels == 1 && raster.bitDepth == 8 && raster.width == 64 && raster.height == 64)
        }
        // SC without Burned In Annotation: review, both frames, in colour.
        let colour = try content(Self.colourRLE).outputs.filter { $0.hasSuffix(".png") }
        #expect(colour.count == 2 && colour.allSatisfy { $0.hasPrefix("review/") })
        for path in colour { #expect(try PNGCodec.decode(try #require(outputs[path])).channels == 3) }
        // JPEG 2000 decodes (OpenJPEG) to one PNG beside its JSON.
        #expect(try content(Self.jpeg2000).outputs.filter { $0.hasSuffix(".png") }.count == 1)
        // A codestream no decoder reads: the JSON is written, the reason is in the ledger.
        let broken = try content(Self.brokenJPEG2000)
        #expect(broken.outcome == .processed)
        #expect(broken.reason?.contains("no PNG: undecodable frame: OpenJPEG: cannot read the main header") == true, "\(broken.reason ?? "")")
        #expect(broken.outputs.count == 1 && broken.outputs[0].hasSuffix(".json"))
        // One damaged frame of ten: the nine others are written, the gap is named.
        let damaged = try content(Self.corruptFrame)
        let pngs = damaged.outputs.filter { $0.hasSuffix(".png") }.sorted()
        #expect(pngs.count == 9 && !pngs.contains { $0.hasSuffix("-f0005.png") } && pngs.contains { $0.hasSuffix("-f0010.png") }, "\(pngs)")
        #expect(damaged.reason?.contains("1 of 10 frames not decoded (frame 5: undecodable frame: JPEG:") == true, "\(damaged.reason ?? "")")
    }

    @Test func pngSettingsChooseBitDepthAndFrames() throws {
        let harness = try DaemonHarness(extraConfig: "png:\n  bit_depth: 16\n  frames: first\n  level: 6")
        try harness.drop([Self.multiFrameRLE], into: "deep")
        #expect(try harness.run(["--once"]).status == 0)
        let pngs = harness.outputs().filter { $0.key.hasSuffix(".png") }
        #expect(pngs.count == 1 && pngs.keys.first?.hasSuffix("-f0001.png") == true)
        let raster = try PNGCodec.decode(try #require(pngs.values.first))
        #expect(raster.bitDepth == 16 && raster.channels == 1)
        // 16 bits keep levels that 8 bits merge.
        let words = raster.pixels.withUnsafeBytes { Array($0.bindMemory(to: UInt16.self)) }
        #expect(Set(words).count > 256)
    }

    /// A changed watch.yaml applies to new content; the start-up says what it left as it was.
    @Test func aChangedConfigurationNamesTheUnitsItDidNotRedo() throws {
        let harness = try DaemonHarness()
        try harness.drop(["pydicom/test_files/CT_small.dcm", "pydicom/test_files/MR_small.dcm"], into: "before")
        #expect(try harness.run(["--once"]).status == 0)
        let unchanged = try harness.run(["--once"])
        #expect(!unchanged.standardError.contains("another configuration"), "\(unchanged.standardError)")
        let config = try String(contentsOfFile: harness.configPath, encoding: .utf8)
        try (config + "\npng:\n  level: 6\n").write(toFile: harness.configPath, atomically: true, encoding: .utf8)
        let changed = try harness.run(["--once"])
        #expect(changed.status == 0)
        #expect(changed.standardError.contains("2 file(s) in 1 unit(s) were processed under another configuration"), "\(changed.standardError)")
        #expect(changed.standardError.contains("before (2)"))
        // Reprocessing brings the unit up to date, and the warning goes.
        #expect(try harness.run(["--reprocess", "before"]).status == 0)
        #expect(!(try harness.run(["--once"]).standardError.contains("another configuration")))
    }

    /// `--reprocess` removes the outputs its unit no longer produces (README), from the disk
    /// and from the ledger, and keeps the ones it still does.
    @Test func reprocessRemovesTheOutputsNoLongerProduced() throws {
        let harness = try DaemonHarness(extraConfig: "deidentify:\n  write_dicom: true\n")
        try harness.drop(["pydicom/test_files/CT_small.dcm", "pydicom/test_files/MR_small.dcm"], into: "study")
        #expect(try harness.run(["--once"]).status == 0)
        let before = harness.outputs().keys
        #expect(before.filter { $0.hasSuffix(".dcm") }.count == 2 && before.filter { $0.hasSuffix(".png") }.count == 2, "\(before)")

        let config = try String(contentsOfFile: harness.configPath, encoding: .utf8)
        try config.replacingOccurrences(of: "write_dicom: true", with: "write_dicom: false")
            .write(toFile: harness.configPath, atomically: true, encoding: .utf8)
        #expect(try harness.run(["--reprocess", "study"]).status == 0)
        let after = Set(harness.outputs().keys)
        #expect(after == Set(before.filter { !$0.hasSuffix(".dcm") }), "\(after)")
        let recorded = Set(try harness.ledger().outputs().map(\.path))
        #expect(recorded == after, "\(recorded)")
    }
}
