import Crypto
import Deidentify
import DICOM
import Foundation
import Testing
import TestSupport

/// Corrupted corpus files that the reader still accepts go through de-identification,
/// the JSON encoder and the writer as the daemon would send them: an error or a result,
/// never a crash. Deterministic mutations (SplitMix64), so a failure is reproducible.
@Suite struct DeidentifyMutationSmokeTests {
    static let seeds = [
        "pydicom/test_files/CT_small.dcm", "pydicom/test_files/rtplan.dcm", "pydicom/test_files/MR_small_bigendian.dcm",
        "pydicom/charset_files/chrJapMulti.dcm", "pydicom/test_files/nested_priv_SQ.dcm", "pydicom-data/explicit_VR-UN.dcm",
        "pydicom/test_files/SC_rgb_jpeg_dcmtk.dcm", "pydicom/test_files/JPEG2000.dcm",
    ]

    @Test(arguments: seeds)
    func corruptedFilesNeverCrashDeidentification(_ path: String) throws {
        let corpus = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("corpus/files")
        let original = try #require(FileManager.default.contents(atPath: corpus.appendingPathComponent(path).path))
        var generator = SeededGenerator(seed: path)
        let deidentifier = Deidentifier(settings: DeidentificationSettings(options: [.retainLongitudinalModifiedDates]),
                                        pseudonyms: Pseudonymizer(key: SymmetricKey(data: Data(repeating: 3, count: 32))))
        // What the unmutated file identifies its patient and instance with: it may never come
        // out, neither under its own tag nor under a tag number the mutation corrupted (an
        // element the dictionary does not define is removed, like a private one).
        let clean = try DICOMFile(data: original).dataSet
        let identifying = [Tag(0x0010, 0x0010), Tag(0x0010, 0x0020)].compactMap { tag in clean.string(tag).map { (tag, $0) } }
            .filter { $0.1.count >= 4 }
        let originalUID = clean.string(.sopInstanceUID)
        var deidentified = 0
        for _ in 0..<150 {
            var bytes = [UInt8](original)
            for _ in 0..<Int.random(in: 1...12, using: &generator) {
                bytes[Int.random(in: 132..<bytes.count, using: &generator)] = UInt8.random(in: 0...255, using: &generator)
            }
            guard let file = try? DICOMFile(data: Data(bytes)) else { continue }
            let result = deidentifier.deidentify(file.dataSet)
            let json = String(decoding: DICOMJSONEncoder().encodedData(result.dataSet), as: UTF8.self)
            for (tag, value) in identifying {
                #expect(result.dataSet.string(tag) != value, "\(path): \(value) survived de-identification in \(tag)")
                #expect(!json.contains(value), "\(path): \(value) survived de-identification of a corrupted copy")
            }
            if let originalUID, let uid = result.dataSet.string(.sopInstanceUID) {
                #expect(uid != originalUID, "\(path): the SOP Instance UID was not remapped")
            }
            let syntax = file.transferSyntax.isEncapsulated ? file.transferSyntax.asLabelled : .explicitVRLittleEndian
            _ = CompressedTextRemover.cleaned(result.dataSet, transferSyntax: syntax)
            _ = try? DICOMWriter.part10(result.dataSet, transferSyntax: syntax)
            deidentified += 1
        }
        print("deidentify smoke \(path): \(deidentified) of 150 corrupted files read and de-identified")
        // Most mutations leave the file readable (1 to 12 bytes changed in 150 copies; 20 to 146 seen): far
        // fewer means the mutations or the reader changed, and this test checks little.
        #expect(deidentified >= 15)
    }
}
