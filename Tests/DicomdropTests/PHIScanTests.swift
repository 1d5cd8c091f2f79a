import DICOM
import Deidentify
import Foundation
import Testing

/// Identifying values planted in every attribute of PS3.15 Table E.1-1 that has a text VR,
/// in real corpus files, run through the real daemon; then every byte of every output file,
/// of the ledger and of the log is searched for each value, as written, case-folded, and
/// as its PN components. The pseudonym map is the one place allowed to hold them.
@Suite(.serialized) struct PHIScanTests {
    static let sources = ["pydicom/test_files/CT_small.dcm", "pydicom/test_files/MR_small.dcm",
                          "pydicom/test_files/SC_rgb_jpeg_dcmtk.dcm"]
    /// Ages (AS), sizes and weights (DS), counts (IS) and URLs (UR) too: identifying numbers
    /// leak as easily as names.
    static let textVRs: Set<VR> = [.AE, .CS, .LO, .LT, .PN, .SH, .ST, .UC, .UT, .DA, .DT, .TM, .AS, .DS, .IS, .UR]

    static func element(_ tag: DICOM.Tag, _ vr: VR, _ value: String) -> DataElement {
        var bytes = Array(value.utf8)
        if bytes.count % 2 == 1 { bytes.append(vr == .UI ? 0 : 0x20) }
        return DataElement(tag: tag, vr: vr, value: .bytes(Data(bytes)))
    }

    /// Values no output could hold by chance, fitting each VR's length and characters.
    static func planted(_ tag: DICOM.Tag, _ vr: VR, file: Int) -> String {
        let mark = "\(file)\(tag.jsonKey.suffix(5))"
        switch vr {
        // Under the DICOM root, as some test files' instance UIDs are: still remapped.
        case .UI: return "1.2.840.10008.99.\(file).\(tag.group).\(tag.element)"
        case .DA: return "1971020\(file)"
        case .DT: return "1971020\(file)101112"
        case .TM: return "2358\(file)7.61803\(file)"
        case .CS, .AE: return "QZ\(mark)"
        case .AS: return "0\(file)7Y"
        case .DS: return "71.23\(file)\(tag.element % 97)"
        case .IS: return "73\(file)\(tag.element % 97)1"
        case .UR: return "https://planted.example/\(mark)"
        case .SH: return "SHQ\(mark)"
        case .PN: return "Plantfam\(mark)^Plantgiven\(mark)^Plantmid\(mark)"
        default: return "Planted value \(mark) Elm Street"
        }
    }

    @Test func noPlantedValueReachesAnyOutputTheLedgerOrTheLog() async throws {
        // Expectations that fail: the verdict's report is read below.
        let harness = try DaemonHarness(extraConfig: """
            deidentify:
              write_dicom: true
            http:
              listen: 127.0.0.1:0
            expectations:
              rules:
                - {name: never, regex: {Modality: "^XX$"}}
            """)
        let folder = harness.drop.appendingPathComponent("batch-1")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        var values: Set<String> = []
        for (index, source) in Self.sources.enumerated() {
            let file = try DICOMFile.read(path: Corpus.path(source))
            var dataSet = file.dataSet
            for rule in ConfidentialityProfileRows.tags where rule.group != 0x0002 {
                guard case .single(let vr)? = StandardDictionary.entry(for: rule)?.vr, Self.textVRs.contains(vr) || vr == .UI else { continue }
                let value = Self.planted(rule, vr, file: index)
                dataSet.set(Self.element(rule, vr, value))
                values.insert(value)
            }
            let privateValue = "Private note \(index) about the patient"
            dataSet.set(Self.element(DICOM.Tag(0x0029, 0x0010), .LO, "ACME PRIVATE"))
            dataSet.set(Self.element(DICOM.Tag(0x0029, 0x1001), .LO, privateValue))
            let overlay = "Overlay text \(index) naming the patient"
            dataSet.set(Self.element(DICOM.Tag(0x6000, 0x0022), .LO, overlay))
            let nestedName = "Nestedfam\(index)^Nestedgiven\(index)"
            dataSet.set(DataElement(tag: DICOM.Tag(0x0008, 0x1032), vr: .SQ, value: .sequence([
                DataSet(elements: [Self.element(DICOM.Tag(0x0008, 0x0090), .PN, nestedName)])])))
            let reportText = "Discussed with Reportfam\(index) on the ward"
            dataSet.set(DataElement(tag: DICOM.Tag(0x0040, 0xA730), vr: .SQ, value: .sequence([
                DataSet(elements: [Self.element(DICOM.Tag(0x0040, 0xA040), .CS, "TEXT"),
                                   Self.element(DICOM.Tag(0x0040, 0xA160), .UT, reportText)])])))
            values.formUnion([privateValue, overlay, nestedName, reportText])
            // A JPEG comment in the compressed frame, as some capture devices write one.
            if let frame = try dataSet.encapsulatedFrames()?.first, frame.starts(with: [0xFF, 0xD8]) {
                let comment = Array("Jpegcomment\(index) about Plantfam".utf8)
                let segment: [UInt8] = [0xFF, 0xFE, UInt8((comment.count + 2) >> 8), UInt8((comment.count + 2) & 0xFF)] + comment
                let planted = Data([0xFF, 0xD8] + segment + Array(frame.dropFirst(2)))
                dataSet.set(DataElement(tag: .pixelData, vr: .OB, value: .encapsulated(EncapsulatedPixelData(frames: [planted]))))
                values.insert("Jpegcomment\(index) about Plantfam")
            }
            let syntax: TransferSyntax = file.transferSyntax.isEncapsulated ? file.transferSyntax : .explicitVRLittleEndian
            try DICOMWriter.part10(dataSet, transferSyntax: syntax).write(to: folder.appendingPathComponent("\(index).dcm"))
        }
        // Labels naming each image by its original UID, with identifying columns beside them.
        var labels = "sop_instance_uid,label,x,y,width,height,patient_name,PatientID,study_uid\n"
        for index in Self.sources.indices {
            let name = Self.planted(DICOM.Tag(0x0010, 0x0010), .PN, file: index), id = Self.planted(DICOM.Tag(0x0010, 0x0020), .LO, file: index)
            let study = Self.planted(DICOM.Tag(0x0020, 0x000D), .UI, file: index)
            labels += "\(Self.planted(.sopInstanceUID, .UI, file: index)),finding,1,2,3,4,\"\(name)\",\(id),\(study)\n"
        }
        try FileManager.default.createDirectory(at: harness.drop.appendingPathComponent("annotations"), withIntermediateDirectories: true)
        try labels.write(to: harness.drop.appendingPathComponent("annotations/labels.csv"), atomically: true, encoding: .utf8)
        #expect(values.count > 3 * 300, "planted \(values.count) values")
        #expect(values.contains { $0.hasPrefix("Jpegcomment") }, "the JPEG file got its comment")

        let run = try harness.run(["--once"])
        #expect(run.status == 0, "\(run.standardError)")
        let outputs = harness.outputs()
        #expect(outputs.keys.filter { $0.hasSuffix(".json") }.count == 3)
        #expect(outputs.keys.filter { $0.hasSuffix(".dcm") }.count == 3)
        #expect(outputs.keys.contains { $0.hasPrefix("review/") }, "SC without Burned In Annotation goes to review")

        var haystacks: [(String, Data)] = outputs.map { ("out/" + $0.key, $0.value) }
        for suffix in ["", "-wal", "-shm"] {
            if let bytes = FileManager.default.contents(atPath: harness.database.path + suffix) {
                haystacks.append(("ledger" + suffix, bytes))
            }
        }
        haystacks.append(("log", Data((run.standardOutput + run.standardError).utf8)))
        // The metadata tables, read back as the export prints them: every instance's row of
        // every table, dates and times in their ISO 8601 form.
        let export = try harness.run(["export", "--format", "jsonl"])
        #expect(export.status == 0, "\(export.standardError)")
        #expect(export.standardOutput.split(separator: "\n").count == 3, "one row per instance")
        haystacks.append(("export", Data(export.standardOutput.utf8)))
        for manifest in harness.manifests() { haystacks.append(("out/" + manifest.key, manifest.value)) }
        // `dicomdrop status --json`, and what the status server answers: every document, every
        // image's detail, the metrics.
        haystacks.append(("status", Data(try harness.run(["status", "--json"]).standardOutput.utf8)))
        let validation = try harness.run(["validate", "--json"])
        #expect(validation.status == 1 && validation.standardOutput.contains("failed_validation"))
        haystacks.append(("validate", Data(validation.standardOutput.utf8)))
        let reports = try harness.ledger().annotationReports()
        #expect(reports.first?.matched == 3, "every label tied to its image by the original UID")
        try harness.start()
        let server = try #require(await StatusServerTests.listeningAddress(in: harness), "\(harness.logText())")
        var paths = ["api/health", "api/units", "api/runs", "api/buckets", "api/failures", "api/throughput", "metrics", "api/images?limit=500"]
        let images = try StatusServerTests.json(try await StatusServerTests.get(URL(string: server.absoluteString + "api/images?limit=500")!).body)
        for image in images["images"] as? [[String: Any]] ?? [] { paths.append("api/images/\(image["name"] as? String ?? "")") }
        #expect(paths.count == 8 + 3, "three images' details")
        for path in paths {
            let answer = try await StatusServerTests.get(URL(string: server.absoluteString + path)!)
            #expect(answer.status == 200, "\(path)")
            haystacks.append(("GET /" + path, answer.body))
        }
        #expect(await harness.stop() == 0)
        #expect(!harness.manifests().isEmpty)

        var forms: Set<String> = []
        // The tables keep DA, TM and DT values as ISO 8601: a planted date must not be there
        // in that form either.
        let isoForms = values.flatMap { value in [ISO8601Text.date(value), ISO8601Text.time(value), ISO8601Text.dateTime(value)] }
        for value in values.union(isoForms) {
            for variant in [value, value.lowercased(), value.uppercased()] {
                forms.insert(variant)
                for component in variant.split(separator: "^") where component.count >= 6 { forms.insert(String(component)) }
            }
        }
        var hits: [String] = []
        for (name, bytes) in haystacks {
            for form in forms where bytes.range(of: Data(form.utf8)) != nil {
                hits.append("\(form) in \(name)")
            }
        }
        #expect(hits.isEmpty, "\(hits.count) hits: \(hits.prefix(20))")

        // The map holds them, and only the map: it is how a holder of it goes back.
        let map = try #require(FileManager.default.contents(atPath: harness.root.appendingPathComponent("var/pseudonyms.sqlite").path))
        #expect(map.range(of: Data("Plantfam0".utf8)) != nil, "the map records the original patient name")
        let json = try #require(outputs.first { $0.key.hasSuffix(".json") && $0.key.hasPrefix("small/") }?.value)
        #expect(String(decoding: json, as: UTF8.self).contains("\"00120062\":{\"vr\":\"CS\",\"Value\":[\"YES\"]}"))
    }
}

extension PHIScanTests {
    /// One patient's studies dropped on two days, processed by two daemon runs (a restart
    /// between them): one patient pseudonym, one date shift, study dates 15 days apart still.
    @Test func onePatientAcrossFoldersDaysAndRestartsKeepsOnePseudonymAndOneDateShift() throws {
        let harness = try DaemonHarness(extraConfig: "deidentify:\n  options: [retain_longitudinal_modified_dates]")
        let days = [("day-1", "pydicom/test_files/CT_small.dcm", "20240110"), ("day-2", "pydicom/test_files/MR_small.dcm", "20240125")]
        var studies: [[String: Any]] = []
        var seen: Set<String> = []
        for (unit, source, date) in days {
            var dataSet = try DICOMFile.read(path: Corpus.path(source)).dataSet
            dataSet.set(Self.element(DICOM.Tag(0x0010, 0x0020), .LO, "MRN-0042"))
            dataSet.set(Self.element(DICOM.Tag(0x0010, 0x0010), .PN, "Doe^Jane"))
            dataSet.set(Self.element(DICOM.Tag(0x0008, 0x0020), .DA, date))
            let folder = harness.drop.appendingPathComponent(unit)
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            try DICOMWriter.part10(dataSet).write(to: folder.appendingPathComponent("image.dcm"))
            let run = try harness.run(["--once"])
            #expect(run.status == 0, "\(run.standardError)")
            for (path, bytes) in harness.outputs() where path.hasSuffix(".json") && !seen.contains(path) {
                seen.insert(path)
                studies.append(try #require(try JSONSerialization.jsonObject(with: bytes) as? [String: Any]))
            }
        }
        func value(_ object: [String: Any], _ key: String) -> String? {
            ((object[key] as? [String: Any])?["Value"] as? [Any])?.first as? String
        }
        try #require(studies.count == 2)
        let patients = studies.map { value($0, "00100020") }
        #expect(patients[0] != nil && patients[0] == patients[1] && patients[0] != "MRN-0042")
        let formatter = DateFormatter()
        formatter.dateFormat = "yyyyMMdd"
        formatter.timeZone = TimeZone(identifier: "UTC")
        let dates = try studies.map { try #require(value($0, "00080020").flatMap(formatter.date(from:))) }
        #expect(abs(dates[1].timeIntervalSince(dates[0])) == 15 * 86400)
        #expect(!studies.contains { value($0, "00080020") == "20240110" || value($0, "00080020") == "20240125" })
    }
}

/// The tags of Table E.1-1 without wildcards, from the Deidentify module's generated table.
enum ConfidentialityProfileRows {
    static var tags: [DICOM.Tag] {
        ConfidentialityProfile.rules.filter { ConfidentialityProfile.rule(for: $0.tag)?.tag == $0.tag && !$0.tag.isPrivate }.map(\.tag)
    }
}
