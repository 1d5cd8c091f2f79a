import DICOM
import Foundation
import Testing

/// The de-identified `.dcm` copies (`write_dicom: true`) read back by pydicom, not only by
/// dicomdrop's own reader: each must open as a Part 10 file, keep the source's SOP Class
/// and transfer syntax family, carry the remapped SOP Instance UID, hold no original
/// Patient's Name or ID, and decode (pydicom with pylibjpeg) to the source's pixels.
@Suite(.serialized) struct DICOMCopyOracleTests {
    static let sources = [
        "pydicom/test_files/CT_small.dcm", "pydicom/test_files/MR_small_bigendian.dcm", "pydicom/test_files/MR_small_RLE.dcm",
        "pydicom/test_files/SC_rgb_rle_2frame.dcm", "pydicom/test_files/SC_rgb_jpeg_dcmtk.dcm", "pydicom/test_files/JPEG2000.dcm",
        "pydicom/test_files/MR_small_jpeg_ls_lossless.dcm", "pydicom/test_files/MR_small_jp2klossless.dcm",
        "pydicom/test_files/image_dfl.dcm",
    ]

    static let oracle = """
        import json, sys, warnings
        import numpy as np
        import pydicom
        warnings.simplefilter("ignore")
        results = {}
        for pair in json.load(open(sys.argv[1])):
            source, copy = pydicom.dcmread(pair["source"]), pydicom.dcmread(pair["copy"])
            problems = []
            if copy.SOPInstanceUID != pair["uid"]:
                problems.append(f"SOP Instance UID {copy.SOPInstanceUID}, expected {pair['uid']}")
            if copy.SOPClassUID != source.SOPClassUID:
                problems.append("SOP Class changed")
            for keyword in ("PatientName", "PatientID"):
                original = str(source.get(keyword, "") or "")
                if original and str(copy.get(keyword, "") or "") == original:
                    problems.append(f"{keyword} kept: {original}")
            if source.file_meta.TransferSyntaxUID.is_compressed != copy.file_meta.TransferSyntaxUID.is_compressed:
                problems.append(f"transfer syntax {source.file_meta.TransferSyntaxUID} became {copy.file_meta.TransferSyntaxUID}")
            before, after = source.pixel_array, copy.pixel_array
            if source.BitsStored < source.BitsAllocated and source.PixelRepresentation == 0:
                before = before & ((1 << source.BitsStored) - 1)
            if before.shape != after.shape or not np.array_equal(before, after):
                problems.append(f"pixels differ: {before.shape} vs {after.shape}, "
                                f"{int(np.count_nonzero(before != after)) if before.shape == after.shape else 'n/a'} values")
            results[pair["source"]] = problems
        json.dump(results, sys.stdout)
        """

    @Test func deidentifiedCopiesOpenInPydicomWithTheSourcesPixels() async throws {
        let harness = try DaemonHarness(extraConfig: "deidentify:\n  write_dicom: true")
        try harness.drop(Self.sources, into: "study")
        let run = try harness.run(["--once"])
        #expect(run.status == 0, "\(run.standardError)")
        // Several sources share a SOP Instance UID (one image in several syntaxes): the
        // ledger says which copy is whose.
        let ledger = try harness.ledger()
        let recorded = try ledger.sources(inUnit: "study")
        var pairs: [[String: String]] = []
        for source in Self.sources {
            let uid = try #require(try DICOMFile.read(path: Corpus.path(source)).dataSet.string(.sopInstanceUID))
            let remapped = DaemonHarness.remapped(uid)
            let sha = try #require(recorded["study/" + (source as NSString).lastPathComponent]?.sha256, "\(source) not recorded")
            let copy = try #require(try ledger.content(sha)?.outputs.first { $0.hasSuffix(".dcm") }, "no copy of \(source)")
            pairs.append(["source": Corpus.path(source), "copy": harness.output.appendingPathComponent(copy).path, "uid": remapped])
        }
        let list = harness.root.appendingPathComponent("pairs.json")
        try JSONSerialization.data(withJSONObject: pairs).write(to: list)
        let result = try ChildProcess.runTool("/usr/bin/env", ["python3", "-c", Self.oracle, list.path])
        #expect(result.status == 0, "\(result.standardError)")
        let problems = try #require(try JSONSerialization.jsonObject(with: Data(result.standardOutput.utf8)) as? [String: [String]])
        #expect(problems.count == Self.sources.count)
        for (source, found) in problems.sorted(by: { $0.key < $1.key }) {
            #expect(found.isEmpty, "\((source as NSString).lastPathComponent): \(found)")
        }
    }
}
