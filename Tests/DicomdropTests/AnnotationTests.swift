import Foundation
import Imaging
import Ledger
import Testing

/// Labels and boxes through the real binary: files that arrive before and after their
/// images, edited and deleted, original UIDs that never reach the ledger, the manifests'
/// and the export's `labels`, `status`, and boxes drawn by `render-boxes` checked by pixel.
@Suite(.serialized) struct AnnotationTests {
    static let ctUID = "1.3.6.1.4.1.5962.1.1.1.1.1.20040119072730.12322"
    static let mrUID = "1.3.6.1.4.1.5962.1.1.4.1.1.20040826185059.5457"
    var ctName: String { DaemonHarness.remapped(Self.ctUID) }
    var mrName: String { DaemonHarness.remapped(Self.mrUID) }

    func writeLabels(_ text: String, in harness: DaemonHarness, file: String = "annotations/labels.csv") throws {
        let url = harness.drop.appendingPathComponent(file)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try text.write(to: url, atomically: true, encoding: .utf8)
    }

    /// `labels` of each image in a manifest, by name.
    func manifestLabels(_ harness: DaemonHarness, directory: String = "small") -> [String: String] {
        let text = String(decoding: harness.manifests()["\(directory)/manifest.csv"] ?? Data(), as: UTF8.self)
        let lines = text.components(separatedBy: "\r\n").dropLast().map { $0.components(separatedBy: ",") }
        guard let header = lines.first, let column = header.firstIndex(of: "labels") else { return [:] }
        return Dictionary(uniqueKeysWithValues: lines.dropFirst().map { ($0[0], $0[column]) })
    }

    @Test func labelsArrivingBeforeAndAfterTheirImagesAreTiedToThemAndOriginalUIDsAreNeverStored() async throws {
        let harness = try DaemonHarness()
        try harness.drop(["pydicom/test_files/CT_small.dcm"], into: "ct")
        #expect(try harness.run(["--once"]).status == 0)

        // After the CT (by its original UID, and by its output name with a normalized box),
        // before the MR (whose image comes next), and one row that will never match.
        try writeLabels("""
            sop_instance_uid,image,label,x,y,width,height,units,annotator,source,reader_note
            \(Self.ctUID),,nodule,10,20,30,40,,dr a,radiologist,small
            ,small/\(ctName).png,opacity,0.5,0.5,0.25,0.25,normalized,,model:retinanet-v3,
            \(Self.mrUID),,effusion,,,,,,dr b,radiologist,
            1.2.3.4.5.6,,ghost,,,,,,,,
            """, in: harness)
        #expect(try harness.run(["--once"]).status == 0)
        let ledger = try harness.ledger()
        var reports = try ledger.annotationReports()
        #expect(reports.map(\.path) == ["annotations/labels.csv"])
        #expect(reports.first.map { ($0.labels, $0.matched, $0.unmatchedLines) } ?? (0, 0, []) == (4, 2, [4, 5]))
        let ctBoxes = try #require(try ledger.boxes(ofImage: ctName))
        #expect(ctBoxes.boxes.map(\.label) == ["nodule", "opacity"])
        #expect(manifestLabels(harness)[ctName] == "nodule;opacity")
        let status = try harness.run(["status"])
        #expect(status.standardOutput.contains("annotations/labels.csv  4       2        4,5"), "\(status.standardOutput)")

        // The MR arrives: its label, waiting since, is tied to it.
        try harness.drop(["pydicom/test_files/MR_small.dcm"], into: "mr")
        #expect(try harness.run(["--once"]).status == 0)
        reports = try ledger.annotationReports()
        #expect(reports.first?.matched == 3 && reports.first?.unmatchedLines == [5])
        #expect(manifestLabels(harness)[mrName] == "effusion")
        let export = try harness.run(["export", "--format", "jsonl"])
        #expect(export.standardOutput.contains(#""labels":"effusion""#) && export.standardOutput.contains(#""labels":"nodule;opacity""#))

        // The originals are in the pseudonym map only: not in the ledger, not in any output.
        for file in [harness.database.path, harness.database.path + "-wal"] {
            let bytes = FileManager.default.contents(atPath: file) ?? Data()
            for uid in [Self.ctUID, Self.mrUID] { #expect(bytes.range(of: Data(uid.utf8)) == nil, "\(uid) in \(file)") }
        }
        for (path, bytes) in harness.outputs().merging(harness.manifests(), uniquingKeysWith: { $1 }) {
            for uid in [Self.ctUID, Self.mrUID] { #expect(bytes.range(of: Data(uid.utf8)) == nil, "\(uid) in \(path)") }
        }
    }

    @Test func anEditedFileReplacesItsLabelsAndADeletedOneIsWithdrawnNotDeleted() async throws {
        let harness = try DaemonHarness()
        try harness.drop(["pydicom/test_files/CT_small.dcm"], into: "ct")
        // Inside the unit, beside its image: `*.annotations.csv`.
        try writeLabels("sop_instance_uid,label,x,y,width,height\n\(Self.ctUID),nodule,1,2,3,4\n", in: harness,
                        file: "ct/reads.annotations.csv")
        #expect(try harness.run(["--once"]).status == 0)
        #expect(manifestLabels(harness)[ctName] == "nodule")

        try writeLabels("sop_instance_uid,label\n\(Self.ctUID),mass\n\(Self.ctUID),calcification\n", in: harness, file: "ct/reads.annotations.csv")
        #expect(try harness.run(["--once"]).status == 0)
        #expect(manifestLabels(harness)[ctName] == "calcification;mass")
        let ledger = try harness.ledger()
        #expect(try ledger.boxes(ofImage: ctName)?.boxes == [], "the old file's box is withdrawn with its label")
        let withdrawn = try ledger.annotationReports(includingWithdrawn: true)
        #expect(withdrawn.map(\.withdrawn) == [false, true], "the first version's rows are kept, withdrawn")
        #expect(withdrawn.map(\.labels) == [2, 1])

        try FileManager.default.removeItem(at: harness.drop.appendingPathComponent("ct/reads.annotations.csv"))
        #expect(try harness.run(["--once"]).status == 0)
        #expect(manifestLabels(harness)[ctName] == "")
        #expect(try ledger.annotationReports().isEmpty)
        #expect(try ledger.annotationReports(includingWithdrawn: true).map(\.labels) == [2, 1])

        // The same bytes back: restored, not processed again.
        try writeLabels("sop_instance_uid,label\n\(Self.ctUID),mass\n\(Self.ctUID),calcification\n", in: harness, file: "ct/again.annotations.csv")
        #expect(try harness.run(["--once"]).status == 0)
        #expect(manifestLabels(harness)[ctName] == "calcification;mass")
        #expect(try ledger.runs(of: "ct").last?.counts.duplicate == 1)
    }

    @Test func aCSVFirstDroppedAsAnyFileIsReadAsLabelsWhenItComesAsAnAnnotationFile() async throws {
        let harness = try DaemonHarness()
        try harness.drop(["pydicom/test_files/CT_small.dcm"], into: "ct")
        let text = "sop_instance_uid,label\n\(Self.ctUID),nodule\n"
        try writeLabels(text, in: harness, file: "ct/labels.csv")
        #expect(try harness.run(["--once"]).status == 0)
        #expect(try harness.ledger().annotationReports().isEmpty, "ct/labels.csv is no annotation file: recorded as not DICOM")
        try writeLabels(text, in: harness)
        #expect(try harness.run(["--once"]).status == 0)
        #expect(try harness.ledger().annotationReports().map(\.matched) == [1], "the same bytes, read as labels this time")
        #expect(manifestLabels(harness)[ctName] == "nodule")
    }

    @Test func aFileThatIsNotAnnotationsFailsWithItsReasonAndTheRestGoesOn() async throws {
        let harness = try DaemonHarness()
        try harness.drop(["pydicom/test_files/CT_small.dcm"], into: "ct")
        try writeLabels("image,finding\nA,B\n", in: harness)
        #expect(try harness.run(["--once"]).status == 0)
        let failures = try harness.ledger().recentFailures(limit: 10)
        #expect(failures.map(\.path) == ["annotations/labels.csv"])
        #expect(failures.first?.reason?.contains("has no label column") == true)
        #expect(harness.outputs().keys.contains("small/\(ctName).png"))
    }

    @Test func renderBoxesDrawsEachBoxOverThePNGWherePixelsSayItIs() async throws {
        let harness = try DaemonHarness()
        try harness.drop(["pydicom/test_files/CT_small.dcm"], into: "ct")
        try writeLabels("""
            sop_instance_uid,label,x,y,width,height,units
            \(Self.ctUID),nodule,10,20,30,40,
            \(Self.ctUID),mass,0.5,0.5,0.25,0.125,normalized
            """, in: harness)
        #expect(try harness.run(["--once"]).status == 0)
        let folder = harness.root.appendingPathComponent("drawn")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let result = try harness.run(["render-boxes", ctName, "--output", folder.path])
        #expect(result.status == 0, "\(result.standardError)")
        #expect(result.standardOutput.contains("mass: rgb(255, 0, 0)") && result.standardOutput.contains("nodule: rgb(0, 255, 0)"))
        let original = try PNGCodec.decode(try Data(contentsOf: harness.output.appendingPathComponent("small/\(ctName).png")))
        let drawn = try PNGCodec.decode(try Data(contentsOf: folder.appendingPathComponent("\(ctName).boxes.png")))
        #expect((drawn.width, drawn.height, drawn.channels, drawn.bitDepth) == (128, 128, 3, 8))
        func pixel(_ x: Int, _ y: Int) -> [UInt8] { Array(drawn.pixels[(y * 128 + x) * 3..<(y * 128 + x) * 3 + 3]) }
        func grey(_ x: Int, _ y: Int) -> [UInt8] { Array(repeating: original.pixels[y * 128 + x], count: 3) }
        // nodule: columns 10...39, rows 20...59, in green.
        for (x, y) in [(10, 20), (39, 20), (10, 59), (39, 59), (25, 20), (10, 40)] { #expect(pixel(x, y) == [0, 255, 0], "\(x),\(y)") }
        for (x, y) in [(25, 40), (9, 20), (40, 59), (10, 60), (11, 21)] { #expect(pixel(x, y) == grey(x, y), "\(x),\(y)") }
        // mass: normalized, columns 64...95, rows 64...79, in red.
        for (x, y) in [(64, 64), (95, 64), (64, 79), (95, 79)] { #expect(pixel(x, y) == [255, 0, 0], "\(x),\(y)") }
        for (x, y) in [(80, 72), (96, 64), (64, 80)] { #expect(pixel(x, y) == grey(x, y), "\(x),\(y)") }
        #expect(try harness.run(["render-boxes", "no-such-image"]).status == 2)
    }
}
