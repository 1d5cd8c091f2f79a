@preconcurrency import Glibc
import DICOM
import Foundation
import Testing

/// Issue 12, "Bad input and security": output names never come from a value a file could
/// plant (`../`, `/`, NUL, very long values), even when `retain_uids` keeps the UIDs; and no
/// output carries the source folder's or file's name, which hospitals make of patients'.
@Suite(.serialized) struct HostileNameTests {
    static let hostileValues = ["../../../../../tmp/dicomdrop-escape", "/etc/passwd", "1.2.3\u{0}/../4",
                                String(repeating: "9", count: 5000), "1.2.840..", ".", ""]

    @Test func plantedValuesNeverShapeAnOutputPathAndSourceNamesReachNoOutput() async throws {
        for options in ["[]", "[retain_uids]"] {
            let harness = try DaemonHarness(extraConfig: "deidentify:\n  options: \(options)\n  write_dicom: true")
            let folderName = "Doe John 1960-01-02 MRN4711"
            let folder = harness.drop.appendingPathComponent(folderName)
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            let source = try DICOMFile.read(path: Corpus.path("pydicom/test_files/CT_small.dcm"))
            for (index, value) in Self.hostileValues.enumerated() {
                var dataSet = source.dataSet
                // Every UID and every short text a name could be made of, the same value.
                for element in dataSet.elements where [.UI, .LO, .SH, .PN, .CS].contains(element.vr) && element.tag.group != 0x0028 {
                    var bytes = Array(value.utf8)
                    if bytes.count % 2 == 1 { bytes.append(element.vr == .UI ? 0 : 0x20) }
                    dataSet.set(DataElement(tag: element.tag, vr: element.vr, value: .bytes(Data(bytes))))
                }
                try DICOMWriter.part10(dataSet).write(to: folder.appendingPathComponent("Doe-John-chest-\(index).dcm"))
            }
            // And one without a SOP Instance UID at all (our writer refuses to make one: the
            // element is cut from the bytes): named by the keyed hash of its content.
            var bytes = try DICOMWriter.part10(source.dataSet)
            let header = Data([0x08, 0x00, 0x18, 0x00, 0x55, 0x49])
            let found = try #require(bytes.range(of: header))
            let length = Int(bytes[found.upperBound]) | Int(bytes[found.upperBound + 1]) << 8
            bytes.removeSubrange(found.lowerBound..<(found.upperBound + 2 + length))
            try bytes.write(to: folder.appendingPathComponent("Doe-John-chest-no-uid.dcm"))
            let run = try harness.run(["--once"])
            #expect(run.status == 0, "\(run.standardError)")
            let outputs = harness.outputs()
            #expect(outputs.keys.filter { $0.hasSuffix(".json") }.count == Self.hostileValues.count + 1, "\(options): \(outputs.keys.sorted())")
            // The keyed name: 16 bytes of HMAC of the content hash, in hexadecimal.
            let ledger = try harness.ledger()
            let noUIDSource = try #require(try ledger.sources()["\(folderName)/Doe-John-chest-no-uid.dcm"])
            let keyedName = DaemonHarness.contentName(noUIDSource.sha256)
            let noUIDContent = try ledger.content(noUIDSource.sha256)
            #expect(noUIDContent?.outputs.contains { $0.hasSuffix("/\(keyedName).json") } == true,
                    "\(options): \(String(describing: noUIDContent?.outcome)) \(noUIDContent?.reason ?? "") \(noUIDContent?.outputs ?? [])")
            // Its image and metadata are kept; the copy, which needs the UID, is not made.
            #expect(noUIDContent?.outcome == .processed && noUIDContent?.reason?.contains("no .dcm copy: the dataset has no (0008,0018) SOPInstanceUID") == true)
            #expect(noUIDContent?.outputs.contains { $0.hasSuffix(".dcm") } == false)
            for (path, bytes) in outputs {
                let parts = path.split(separator: "/", omittingEmptySubsequences: false)
                #expect(parts.count == 2 && ["small", "large"].contains(parts[0]), "\(options): \(path)")
                let name = String(parts.last ?? "")
                // A remapped or kept UID (digits and dots), maybe a keyed suffix or a frame
                // number, or a keyed hash: nothing else.
                #expect(name.utf8.count <= 120 && !name.hasPrefix(".") && !name.contains("..")
                        && name.allSatisfy { $0.isASCII && ($0.isNumber || $0.isLetter || $0 == "." || $0 == "-") },
                        "\(options): \(path)")
                for planted in ["Doe John", "MRN4711", "Doe-John-chest", "1960-01-02"] {
                    #expect(bytes.range(of: Data(planted.utf8)) == nil, "\(options): \(path) holds \(planted)")
                }
            }
            #expect(!FileManager.default.fileExists(atPath: "/tmp/dicomdrop-escape.json"))
            #expect(!FileManager.default.fileExists(atPath: "/tmp/dicomdrop-escape.png"))
            let root = try FileManager.default.contentsOfDirectory(atPath: harness.root.path)
            #expect(Set(root).isSubset(of: ["drop", "out", "var", "watch.yaml", "ledger.sqlite", "ledger.sqlite-wal", "ledger.sqlite-shm",
                                              "ledger.sqlite.lock", "ledger.sqlite.manifests.lock", "daemon.log"]), "\(root)")
        }
    }
}
