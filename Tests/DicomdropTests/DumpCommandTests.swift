import Foundation
import Testing

@Suite struct DumpCommandTests {
    @Test func printsEachReadableFileAndNamesEachUnreadableOneWithItsReason() throws {
        let good = Corpus.path("pydicom/test_files/CT_small.dcm")
        let text = Corpus.path("pydicom/test_files/README.txt")
        let truncated = Corpus.path("pydicom/test_files/rtplan_truncated.dcm")
        let missing = Corpus.path("no/such/file.dcm")
        let result = try ChildProcess.run(["dump", text, good, truncated, missing, good])

        #expect(result.status == 1)
        let documents = result.standardOutput.split(separator: "\n")
        #expect(documents.count == 2)
        let json = try #require(try JSONSerialization.jsonObject(with: Data(documents[0].utf8)) as? [String: Any])
        let modality = (json["00080060"] as? [String: Any])?["Value"] as? [String]
        #expect(modality == ["CT"])
        #expect(json["7FE00010"] == nil)

        let errors = result.standardError.split(separator: "\n").map(String.init)
        #expect(errors == [
            "dicomdrop: \(text): not a DICOM file: no DICM prefix at offset 128 and no recognisable first data element",
            "dicomdrop: \(truncated): truncated at offset 1418 while reading element (300A,00B0) BeamSequence: needed 976 bytes, 711 left",
            "dicomdrop: \(missing): cannot be read: No such file or directory",
        ])
    }

    @Test func prettyOutputIsTheSameDocument() throws {
        let file = Corpus.path("pydicom/test_files/MR_small.dcm")
        let compact = try ChildProcess.run(["dump", file])
        let pretty = try ChildProcess.run(["dump", "--pretty", file])
        #expect(compact.status == 0 && pretty.status == 0)
        let a = try JSONSerialization.jsonObject(with: Data(compact.standardOutput.utf8)) as? NSDictionary
        let b = try JSONSerialization.jsonObject(with: Data(pretty.standardOutput.utf8)) as? NSDictionary
        #expect(a != nil && a == b)
        #expect(pretty.standardOutput.split(separator: "\n").count > 100)
    }
}
