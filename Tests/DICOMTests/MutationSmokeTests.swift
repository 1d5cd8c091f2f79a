import DICOM
import Foundation
import Testing
import TestSupport

/// A short, deterministic smoke run of what scripts/fuzz-reader does at length: corrupted
/// corpus files must give an error or a dataset, never a crash or a hang.
@Suite struct MutationSmokeTests {
    static let seeds = [
        "pydicom/test_files/CT_small.dcm", "pydicom/test_files/MR_small_implicit.dcm",
        "pydicom/test_files/MR_small_bigendian.dcm", "pydicom/test_files/image_dfl.dcm",
        "pydicom/test_files/rtplan.dcm", "pydicom/test_files/MR_small_RLE.dcm",
        "pydicom/charset_files/chrJapMulti.dcm", "pydicom/test_files/nested_priv_SQ.dcm",
        "pydicom-data/explicit_VR-UN.dcm", "pydicom/test_files/dicomdirtests/DICOMDIR",
    ]

    @Test(arguments: seeds)
    func corruptedFilesNeverCrashTheReader(_ path: String) throws {
        let original = try #require(FileManager.default.contents(atPath: Corpus.files.appendingPathComponent(path).path))
        var generator = SeededGenerator(seed: path)
        let encoder = DICOMJSONEncoder()
        var outcomes = (read: 0, rejected: 0)
        var firstRejected: (bytes: [UInt8], error: DICOMError)?
        for _ in 0..<200 {
            var bytes = [UInt8](original)
            switch Int.random(in: 0..<4, using: &generator) {
            case 0:  // flip a few bytes anywhere
                for _ in 0..<Int.random(in: 1...8, using: &generator) {
                    bytes[Int.random(in: 0..<bytes.count, using: &generator)] = UInt8.random(in: 0...255, using: &generator)
                }
            case 1:  // cut the file short
                bytes.removeLast(Int.random(in: 1..<bytes.count, using: &generator))
            case 2:  // make a length field huge or undefined
                let at = Int.random(in: 132..<max(133, min(bytes.count - 4, 4096)), using: &generator)
                let value: [UInt8] = Bool.random(using: &generator) ? [0xFF, 0xFF, 0xFF, 0xFF] : [0xF0, 0xFF, 0xFF, 0x7F]
                for offset in 0..<4 where at + offset < bytes.count { bytes[at + offset] = value[offset] }
            default:  // splice in a sequence delimiter or item tag
                let at = Int.random(in: 0..<bytes.count, using: &generator)
                bytes.insert(contentsOf: Bool.random(using: &generator) ? [0xFE, 0xFF, 0xDD, 0xE0, 0, 0, 0, 0] : [0xFE, 0xFF, 0x00, 0xE0, 0xFF, 0xFF, 0xFF, 0xFF], at: at)
            }
            do throws(DICOMError) {
                let file = try DICOMFile(data: Data(bytes))
                _ = encoder.encode(file.dataSet)
                _ = try? file.dataSet.encapsulatedFrames()
                outcomes.read += 1
            } catch {
                #expect(Self.saysWhereAndWhy(error), "\(error)")
                if firstRejected == nil { firstRejected = (bytes, error) }
                outcomes.rejected += 1
            }
        }
        // Both outcomes occur: the mutations reach the parser's error paths and its value paths.
        #expect(outcomes.read > 0 && outcomes.rejected > 0, "read \(outcomes.read), rejected \(outcomes.rejected)")

        // Read from a file, the same refusal names the file and carries the reason unchanged.
        let rejected = try #require(firstRejected)
        let temporary = FileManager.default.temporaryDirectory.appendingPathComponent("mutation-\(UUID().uuidString).dcm")
        try Data(rejected.bytes).write(to: temporary)
        defer { try? FileManager.default.removeItem(at: temporary) }
        do throws(DICOMFileError) {
            _ = try DICOMFile.read(path: temporary.path)
            Issue.record("\(temporary.path) was read, but its bytes were refused: \(rejected.error)")
        } catch {
            #expect(error.path == temporary.path)
            #expect(error.reason == .dicom(rejected.error))
            #expect(error.description == "\(temporary.path): \(rejected.error)")
        }
    }

    /// A refusal says where in the stream it happened (an offset, for the errors that have
    /// one) and why, and its description says the same.
    static func saysWhereAndWhy(_ error: DICOMError) -> Bool {
        switch error {
        case .truncated(let offset, _, let needed, let available):
            return offset >= 0 && needed > available
                && error.description.hasPrefix("truncated at offset \(offset) while reading ")
                && error.description.hasSuffix(": needed \(needed) bytes, \(available) left")
        case .malformed(let offset, _, let reason):
            return offset >= 0 && !reason.isEmpty
                && error.description.hasPrefix("malformed at offset \(offset)") && error.description.hasSuffix(": \(reason)")
        case .notDICOM(let reason):
            return !reason.isEmpty && error.description == "not a DICOM file: \(reason)"
        case .inflateFailed(let reason):
            return !reason.isEmpty && error.description == "the deflated dataset cannot be inflated: \(reason)"
        }
    }
}
