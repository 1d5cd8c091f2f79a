import Crypto
import Foundation
import Ledger
import Testing

/// Plain image datasets through the real binary: a COVID-style dataset (metadata.csv beside
/// images/, one row naming a missing image, one image no row names) made at test time from
/// corpus pixels by scripts/make-plain-dataset, beside a DICOM unit.
@Suite(.serialized) struct PlainImageDatasetTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// Writes the dataset into `folder`.
    private func makeDataset(in folder: URL) throws {
        let made = try ChildProcess.runTool("/usr/bin/env", ["python3", Self.repository.appendingPathComponent("scripts/make-plain-dataset").path,
                                                             Corpus.files.path, folder.path])
        #expect(made.status == 0, "\(made.standardError)")
    }

    /// A query's rows in the sqlite3 shell (`|` between columns, one line per row).
    private func query(_ harness: DaemonHarness, _ sql: String) throws -> String {
        let result = try ChildProcess.runTool("/usr/bin/env", ["sqlite3", "-readonly", harness.database.path, sql])
        #expect(result.status == 0 && result.standardError.isEmpty, "\(result.standardError)")
        return result.standardOutput
    }

    private func sha256(_ url: URL) throws -> String {
        SHA256.hash(data: try Data(contentsOf: url)).map { String(format: "%02x", $0) }.joined()
    }

    /// For each (source, output PNG) pair, whether Pillow reads the same pixels from both:
    /// a PNG's as stored, a JPEG's as libjpeg(-turbo) decodes it (islow DCT, fancy upsampling).
    private func samePixels(_ pairs: [(URL, URL)]) throws -> [Bool] {
        let script = """
            import sys, numpy as np
            from PIL import Image
            args = sys.argv[1:]
            for source, output in zip(args[0::2], args[1::2]):
                a, b = np.asarray(Image.open(source)), np.asarray(Image.open(output))
                print(a.shape == b.shape and bool((a.astype(np.int64) == b.astype(np.int64)).all()))
            """
        let result = try ChildProcess.runTool("/usr/bin/env", ["python3", "-c", script] + pairs.flatMap { [$0.0.path, $0.1.path] })
        #expect(result.status == 0, "\(result.standardError)")
        return result.standardOutput.split(separator: "\n").map { $0 == "True" }
    }

    @Test func aCovidStyleDatasetIsFilteredOnItsCSVBucketedWrittenLosslesslyAndItsMissingAndExtraImagesNamed() throws {
        let harness = try DaemonHarness(extraConfig: "filters:\n  view: [PA, AP, \"AP Supine\"]")
        let unit = harness.drop.appendingPathComponent("covid")
        try makeDataset(in: unit)
        // A DICOM unit beside it: the filter names a column DICOM has not, so its image is excluded.
        try harness.drop(["pydicom/test_files/MR_small.dcm"], into: "dicom")
        let first = try harness.run(["--once"])
        #expect(first.status == 0, "\(first.standardError)")
        #expect(first.standardError.contains("covid: missing_image images/missing.png (covid/metadata.csv line 8): no such image below covid"))
        #expect(first.standardError.contains("covid: extra_image covid/images/extra.png (covid/metadata.csv): no row of covid/metadata.csv names it"))

        // One view over both kinds, and the README's worked example.
        #expect(try query(harness, "SELECT kind, count(*) FROM images GROUP BY kind ORDER BY kind;") == "dicom|1\njpeg|3\npng|4\n")
        let readmeQuery = "SELECT kind, bucket, count(*) AS images FROM images GROUP BY 1, 2 ORDER BY 1, 2;"
        let readme = try String(contentsOf: Self.repository.appendingPathComponent("README.md"), encoding: .utf8)
        #expect(readme.contains("sqlite3 var/dicomdrop.sqlite \"\(readmeQuery)\"\n    jpeg|large|1\n    jpeg|small|2\n    png|excluded|2"))
        #expect(try query(harness, readmeQuery) == "dicom|excluded|1\njpeg|large|1\njpeg|small|2\npng|excluded|2\npng|small|1\npng|suboptimal|1\n")
        #expect(try query(harness, "SELECT source, bucket, rows, columns, reason FROM images WHERE kind != 'dicom' ORDER BY source;") == """
            covid/images/ct.png|small|128|128|
            covid/images/ct16.png|suboptimal|128|128|suboptimal: dynamic range p99-p1 6 < 16
            covid/images/extra.png|excluded|64|64|excluded: filter view: absent, not one of [PA, AP, AP Supine]
            covid/images/large.jpg|large|640|640|
            covid/images/mr.jpg|small|64|64|
            covid/images/rgb.jpg|small|100|100|
            covid/images/rgb.png|excluded|100|100|excluded: filter view: "L", not one of [PA, AP, AP Supine]

            """)
        #expect(try query(harness, "SELECT bucket, reason FROM images WHERE kind = 'dicom';")
                == "excluded|excluded: filter view: absent, not one of [PA, AP, AP Supine]\n")
        #expect(try query(harness, "SELECT kind, bit_depth, color, csv_line, json_extract(columns, '$.finding') FROM plain_images ORDER BY source;") == """
            png|8|gray|2|Pneumonia/Viral/COVID-19
            png|16|gray|3|Pneumonia, viral
            png|8|gray||
            jpeg|8|gray|7|COVID-19
            jpeg|8|gray|4|No Finding
            jpeg|8|rgb|6|COVID-19
            png|8|rgb|5|Pneumonia "bacterial"

            """)
        #expect(try query(harness, "SELECT kind, name, csv, line FROM plain_image_problems ORDER BY kind;")
                == "extra_image|covid/images/extra.png|covid/metadata.csv|\nmissing_image|images/missing.png|covid/metadata.csv|8\n")

        // Named by content (the keyed name, as a DICOM file without a UID); a PNG is its
        // own output byte for byte, a JPEG's output holds libjpeg's decoding of it.
        let placed = try query(harness, "SELECT source, directory, name FROM images WHERE kind != 'dicom' ORDER BY source;")
            .split(separator: "\n").map { $0.split(separator: "|").map(String.init) }
        #expect(placed.count == 7)
        var pairs: [(URL, URL)] = []
        for row in placed {
            let source = harness.drop.appendingPathComponent(row[0])
            #expect(row[2] == DaemonHarness.contentName(try sha256(source)))
            let output = harness.output.appendingPathComponent("\(row[1])/\(row[2]).png")
            if source.pathExtension == "png" { #expect(try Data(contentsOf: output) == Data(contentsOf: source), "\(row[0])") }
            pairs.append((source, output))
        }
        #expect(try samePixels(pairs) == Array(repeating: true, count: 7))
        let outputs = harness.outputs()
        #expect(outputs.count == 16)  // 7 images and the DICOM one, a PNG and a JSON each
        let ct = try #require(placed.first { $0[0] == "covid/images/ct.png" })
        let sidecar = try #require(try JSONSerialization.jsonObject(with: outputs["small/\(ct[2]).json"] ?? Data()) as? [String: Any])
        // The source within its unit: no drop folder name in an output.
        #expect(sidecar["kind"] as? String == "png" && sidecar["source"] as? String == "images/ct.png" && sidecar["csv_line"] as? Int == 2)
        #expect(sidecar["columns"] as? [String: String] == ["patientid": "1", "offset": "0", "sex": "M", "age": "65", "finding": "Pneumonia/Viral/COVID-19",
                                                            "view": "PA", "modality": "X-ray", "folder": "images", "filename": "ct.png", "license": "CC BY 4.0"])

        // The manifests carry the CSV's columns after the DICOM ones (modality renamed: the
        // header has Modality).
        let manifests = harness.manifests()
        #expect(manifests.keys.sorted() == ["excluded/manifest.csv", "large/manifest.csv", "small/manifest.csv", "suboptimal/manifest.csv"])
        let small = String(decoding: manifests["small/manifest.csv"] ?? Data(), as: UTF8.self).components(separatedBy: "\r\n").dropLast()
            .map { $0.components(separatedBy: ",") }
        #expect(small.first?.suffix(12) == ["kind", "source", "patientid", "offset", "sex", "age", "finding", "view", "csv.modality", "folder",
                                            "filename", "license"])
        let smallRows: [String] = small.dropFirst().map { $0.suffix(11).joined(separator: ",") }.sorted()
        let expectedRows: [String] = [
            "images/ct.png,1,0,M,65,Pneumonia/Viral/COVID-19,PA,X-ray,images,ct.png,CC BY 4.0",
            "images/mr.jpg,3,4,M,71,No Finding,AP Supine,X-ray,images,mr.jpg,Apache 2.0",
            "images/rgb.jpg,5,1,M,40,COVID-19,PA,X-ray,images,rgb.jpg,CC BY 4.0",
        ]
        #expect(smallRows == expectedRows)
        #expect(small.dropFirst().allSatisfy { $0[1] == "\($0[0]).json;\($0[0]).png" && $0[7] == $0[8] })  // files; Rows == Columns
        let excluded = String(decoding: manifests["excluded/manifest.csv"] ?? Data(), as: UTF8.self)
        #expect(excluded.contains(",\"Pneumonia \"\"bacterial\"\"\",L,"))  // a DICOM row, then the two plain ones
        #expect(excluded.components(separatedBy: "\r\n").count == 5)

        // dicomdrop export: the DICOM instance and the seven plain images (patientid and
        // modality renamed: the header has PatientID and Modality).
        let export = try harness.run(["export"])
        #expect(export.status == 0, "\(export.standardError)")
        let lines = export.standardOutput.components(separatedBy: "\r\n").dropLast()
        #expect(lines.count == 9 && lines.first?.hasSuffix(",kind,source,csv.patientid,offset,sex,age,finding,view,csv.modality,folder,filename,license") == true)
        let jsonl = try harness.run(["export", "--format", "jsonl", "--bucket", "large"])
        let large = try #require(try JSONSerialization.jsonObject(with: Data(jsonl.standardOutput.utf8)) as? [String: Any])
        #expect(large["kind"] as? String == "jpeg" && large["Rows"] as? Int == 640 && large["view"] as? String == "AP"
                && large["csv.modality"] as? String == "CT" && (large["outputs"] as? [String])?.count == 2)

        let status = try harness.run(["status"])
        #expect(status.standardOutput.contains("""
            plain image datasets: 2 problem(s)
              covid  extra_image  covid/images/extra.png (covid/metadata.csv): no row of covid/metadata.csv names it: processed without CSV columns
              covid  missing_image  images/missing.png (covid/metadata.csv line 8): no such image below covid
            """), "\(status.standardOutput)")

        // A second run has nothing to do.
        #expect(try harness.run(["--once"]).status == 0)
        #expect(try query(harness, "SELECT count(*) FROM runs;") == "2\n")
        #expect(harness.outputs() == outputs)

        // An edited metadata.csv: rgb.png's view becomes PA and extra.png gets a row. Those two
        // are processed again, nothing else is; the extra image is no longer reported.
        let csv = unit.appendingPathComponent("metadata.csv")
        let edited = try String(contentsOf: csv, encoding: .utf8).replacingOccurrences(of: ",L,X-ray,", with: ",PA,X-ray,")
            + "8,0,F,22,No Finding,PA,X-ray,images,extra.png,CC BY 4.0\r\n"
        try edited.write(to: csv, atomically: true, encoding: .utf8)
        let third = try harness.run(["--once"])
        #expect(third.standardError.contains("run done: unit=covid trigger=startup seen=8 new=3 duplicate=0 skipped=5 failed=0"), "\(third.standardError)")
        #expect(try query(harness, "SELECT p.source, i.bucket, p.csv_line FROM images i JOIN plain_images p USING (sha256) WHERE p.source LIKE '%rgb.png' OR p.source LIKE '%extra.png' ORDER BY 1;")
                == "covid/images/extra.png|small|9\ncovid/images/rgb.png|small|5\n")
        #expect(try query(harness, "SELECT kind, name FROM plain_image_problems;") == "missing_image|images/missing.png\n")
        let after = harness.outputs()
        #expect(after.filter { $0.key.hasPrefix("excluded/") }.count == 2)  // the DICOM image's alone
        #expect(after.count == 16 && after.filter { outputs[$0.key] != nil }.count == 12)
    }

    @Test func damagedImagesAndABadlyQuotedCSVAreNamedWithTheirReasonAndTheRestGoesOn() throws {
        let harness = try DaemonHarness()
        let source = harness.root.appendingPathComponent("dataset")
        try makeDataset(in: source)
        let unit = harness.drop.appendingPathComponent("bad")
        try FileManager.default.createDirectory(at: unit, withIntermediateDirectories: true)
        let png = try Data(contentsOf: source.appendingPathComponent("images/ct.png"))
        let jpeg = try Data(contentsOf: source.appendingPathComponent("images/large.jpg"))
        try png.write(to: unit.appendingPathComponent("good.png"))
        try png.prefix(png.count / 2).write(to: unit.appendingPathComponent("truncated.png"))
        try (Data([0xFF, 0xD8, 0xFF, 0xE0]) + Data(repeating: 0x5A, count: 300)).write(to: unit.appendingPathComponent("corrupt.jpg"))
        try jpeg.prefix(jpeg.count / 2).write(to: unit.appendingPathComponent("truncated.jpg"))
        try "filename,view\ngood.png,PA\ntruncated.png,\"AP\n".write(to: unit.appendingPathComponent("metadata.csv"), atomically: true, encoding: .utf8)

        let run = try harness.run(["--once"])
        #expect(run.status == 0, "\(run.standardError)")
        #expect(run.standardError.contains("run done: unit=bad trigger=startup seen=5 new=1 duplicate=0 skipped=0 failed=4"), "\(run.standardError)")
        let reasons = try query(harness, """
            SELECT s.path, c.outcome, c.reason FROM sources s JOIN contents c USING (sha256) ORDER BY s.path;
            """)
        let byPath = Dictionary(uniqueKeysWithValues: reasons.split(separator: "\n").map { line in
            let fields = line.split(separator: "|", maxSplits: 2, omittingEmptySubsequences: false).map(String.init)
            return (fields[0], (fields[1], fields[2]))
        })
        #expect(byPath["bad/good.png"]?.0 == "processed")
        #expect(byPath["bad/metadata.csv"]?.0 == "failed"
                && byPath["bad/metadata.csv"]?.1 == "metadata.csv: line 3: a quoted field is never closed (a quote inside a field must be doubled)")
        #expect(byPath["bad/truncated.png"]?.0 == "failed" && byPath["bad/truncated.png"]?.1.hasPrefix("PNG cannot be decoded: libpng: ") == true)
        #expect(byPath["bad/corrupt.jpg"]?.0 == "failed" && byPath["bad/corrupt.jpg"]?.1.hasPrefix("JPEG cannot be decoded: libjpeg-turbo: ") == true)
        #expect(byPath["bad/truncated.jpg"]?.0 == "failed" && byPath["bad/truncated.jpg"]?.1.hasPrefix("JPEG damaged: ") == true, "\(byPath)")
        for name in ["bad/truncated.png", "bad/corrupt.jpg", "bad/truncated.jpg", "bad/metadata.csv"] {
            #expect(run.standardError.contains("error dicomdrop: [Pipeline] \(name): "), "\(name)")
        }
        #expect(try query(harness, "SELECT kind, name FROM plain_image_problems;") == "bad_csv|bad/metadata.csv\n")
        #expect(try query(harness, "SELECT source, bucket FROM images;") == "bad/good.png|small\n")
        #expect(harness.outputs().count == 2)
    }

    @Test func aFilterOnACSVColumnIsNamedAtStartUpWithTheKeywordItMayMean() throws {
        let harness = try DaemonHarness(extraConfig: "filters:\n  view_position: [PA]\n  finding: {exclude: [Tuberculosis]}")
        let result = try harness.run(["--once"])
        #expect(result.status == 0)
        #expect(result.standardError.contains("filters: view_position is not a DICOM keyword: it is read as a metadata.csv column of plain image datasets, and DICOM images, which lack it, fail it; if the DICOM attribute is meant, write ViewPosition"),
                "\(result.standardError)")
        #expect(result.standardError.contains("filters: finding is not a DICOM keyword: it is read as a metadata.csv column of plain image datasets, and DICOM images, which lack it, pass it\n"))
    }
}
