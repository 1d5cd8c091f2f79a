import Crypto
@testable import Deidentify
import DICOM
import Foundation
import Testing

typealias Tag = DICOM.Tag

/// The profile on a real corpus file with identifying values planted in every attribute of
/// Table E.1-1 that has a text VR, then searched for in the DICOM JSON of the result.
@Suite struct DeidentifierTests {
    static let corpusCT = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("corpus/files/pydicom/test_files/CT_small.dcm")

    static let textVRs: Set<VR> = [.AE, .AS, .CS, .DA, .DS, .DT, .IS, .LO, .LT, .PN, .SH, .ST, .TM, .UC, .UR, .UT]

    /// A value that cannot occur by chance, fitting the VR's length and character rules.
    static func planted(_ tag: Tag, _ vr: VR) -> String {
        let mark = String(tag.jsonKey.suffix(6))
        switch vr {
        case .DA: return "19710203"
        case .TM: return "101112"
        case .DT: return "19710203101112"
        case .IS, .DS: return "7" + mark.filter(\.isNumber).prefix(5)
        case .AS: return "047Y"
        case .CS, .AE: return "Z" + mark
        case .PN: return "PLANTEDFAMILY\(mark)^PLANTEDGIVEN\(mark)^Q"
        default: return "PLANTED-\(mark)-VALUE"
        }
    }

    static func element(_ tag: Tag, _ vr: VR, _ value: String) -> DataElement {
        var bytes = Array(value.utf8)
        if bytes.count % 2 == 1 { bytes.append(vr == .UI ? 0 : 0x20) }
        return DataElement(tag: tag, vr: vr, value: .bytes(Data(bytes)))
    }

    /// CT_small with a planted value in every non-masked text attribute of the table, and a
    /// private block, an overlay and a sequence holding a planted name.
    static func plantedDataSet() throws -> (DataSet, [String]) {
        var dataSet = try DICOMFile.read(path: corpusCT.path).dataSet
        var values: [String] = []
        for rule in ConfidentialityProfile.rules {
            guard case .single(let vr)? = StandardDictionary.entry(for: rule.tag)?.vr, textVRs.contains(vr),
                  ConfidentialityProfile.rule(for: rule.tag)?.tag == rule.tag else { continue }
            let value = planted(rule.tag, vr)
            dataSet.set(element(rule.tag, vr, value))
            if ![.DA, .TM, .DT, .IS, .DS, .AS].contains(vr) { values.append(value) }
        }
        dataSet.set(element(Tag(0x0029, 0x0010), .LO, "ACME PRIVATE"))
        dataSet.set(element(Tag(0x0029, 0x1001), .LO, "PRIVATE-SECRET-NAME"))
        dataSet.set(element(Tag(0x6000, 0x0022), .LO, "OVERLAY-SECRET-TEXT"))
        let nested = DataSet(elements: [element(Tag(0x0008, 0x0090), .PN, "NESTED^PHYSICIAN"),
                                        element(Tag(0x0008, 0x1155), .UI, "1.2.3.4.5.6.7")])
        dataSet.set(DataElement(tag: Tag(0x0008, 0x1140), vr: .SQ, value: .sequence([nested])))
        values += ["PRIVATE-SECRET-NAME", "OVERLAY-SECRET-TEXT", "NESTED^PHYSICIAN"]
        return (dataSet, values)
    }

    static func deidentifier(_ options: Set<ConfidentialityProfile.Option> = [], key: SymmetricKey = SymmetricKey(data: Data(repeating: 7, count: 32)),
                             keepPrivate: Set<String> = []) -> Deidentifier {
        Deidentifier(settings: DeidentificationSettings(options: options, keepPrivateCreators: keepPrivate),
                     pseudonyms: Pseudonymizer(key: key))
    }

    @Test func theGeneratedTableHoldsTheStandardsRows() {
        #expect(ConfidentialityProfile.rules.count == 620)
        #expect(ConfidentialityProfile.rule(for: Tag(0x0010, 0x0010))?.basic == .zero)
        #expect(ConfidentialityProfile.rule(for: Tag(0x0010, 0x0020))?.basic == .dummy)  // Z/D
        #expect(ConfidentialityProfile.rule(for: Tag(0x0020, 0x000D))?.basic == .replaceUID)
        #expect(ConfidentialityProfile.rule(for: Tag(0x0020, 0x000D))?.action(with: [.retainUIDs]) == .keep)
        #expect(ConfidentialityProfile.rule(for: Tag(0x0008, 0x0020))?.action(with: [.retainLongitudinalModifiedDates]) == .clean)
        #expect(ConfidentialityProfile.rule(for: Tag(0x5012, 0x3000))?.basic == .remove)  // curve data, 50xx
        #expect(ConfidentialityProfile.rule(for: Tag(0x0008, 0x0016)) == nil)  // SOP Class UID is kept
    }

    /// Each attribute of Table E.1-1 present in the planted dataset, checked against the
    /// code the standard gives it (the generated table's raw column, not the action the
    /// implementation derived from it): X absent; Z empty or a dummy; D a dummy; X/Z, X/D,
    /// Z/D and X/Z/D one of theirs; U a new UID; X/Z/U* absent, empty or a new UID.
    /// Then each profile option alone: every attribute it marks K keeps its value.
    @Test func everyTableActionIsCarriedOutAttributeByAttributeAndEveryOptionKeepsWhatItNames() throws {
        let (dataSet, _) = try Self.plantedDataSet()
        let rows: [(tag: Tag, code: String, options: [Character], name: String)] = ConfidentialityProfile.tableText
            .split(separator: "\n").compactMap { line in
                let fields = line.split(separator: "|", omittingEmptySubsequences: false)
                guard fields[1] == "FFFF", fields[2] == "FFFF" else { return nil }
                let tag = Tag(UInt16(fields[0].prefix(4), radix: 16)!, UInt16(fields[0].suffix(4), radix: 16)!)
                guard tag.group != 0x0002, dataSet[tag] != nil,
                      case .single(let vr)? = StandardDictionary.entry(for: tag)?.vr, Self.textVRs.contains(vr) || vr == .UI else { return nil }
                return (tag, String(fields[3]), Array(fields[4]), String(fields[5]))
            }
        let result = Self.deidentifier().deidentify(dataSet).dataSet
        var met: [String: Int] = [:]
        var wrong: [String] = []
        for row in rows {
            let before = dataSet.string(row.tag) ?? ""
            let after = result.string(row.tag)
            let absent = result[row.tag] == nil
            let empty = !absent && (after ?? "").isEmpty
            let changed = !absent && !(after ?? "").isEmpty && after != before
            let remapped = changed && after?.hasPrefix("2.25.") == true
            let done: Bool = switch row.code {
            case "X": absent
            case "Z": empty || changed
            case "D": changed
            case "X/Z": absent || empty || changed
            case "X/D": absent || changed
            case "Z/D": empty || changed
            case "X/Z/D": absent || empty || changed
            case "U": remapped
            case "X/Z/U*": absent || empty || remapped
            case "K": after == before
            default: true  // C: cleaned, checked by the descriptor tests
            }
            met[row.code, default: 0] += 1
            if !done { wrong.append("\(row.tag) \(row.name) [\(row.code)]: \(before) -> \(absent ? "absent" : after ?? "")") }
        }
        #expect(wrong.isEmpty, "\(wrong)")
        #expect(Set(met.keys).isSuperset(of: ["X", "Z", "D", "X/Z", "X/D", "Z/D", "X/Z/D", "U"]), "\(met)")
        #expect(rows.count > 250, "\(rows.count) attributes checked")

        // Each option alone keeps what its column marks K.
        for (index, option) in ConfidentialityProfile.Option.allCases.enumerated() {
            let kept = Self.deidentifier([option]).deidentify(dataSet).dataSet
            let named = rows.filter { $0.options.count > index && $0.options[index] == "K" }
            var lost: [String] = []
            for row in named where kept.string(row.tag) != dataSet.string(row.tag) {
                lost.append("\(row.tag) \(row.name)")
            }
            #expect(lost.isEmpty, "\(option.rawValue) did not keep \(lost)")
            // An option that names attributes here must change the outcome for them.
            if !named.isEmpty {
                #expect(named.contains { result.string($0.tag) != dataSet.string($0.tag) }, "\(option.rawValue) kept nothing the basic profile changes")
            }
        }
    }

    @Test func noPlantedValueSurvivesInTheJSON() throws {
        let (dataSet, values) = try Self.plantedDataSet()
        let before = DICOMJSONEncoder().encode(dataSet)
        let allPlanted = values.allSatisfy { before.contains($0) }
        #expect(allPlanted, "the planted values must be there to begin with")
        #expect(values.count > 200)

        let result = Self.deidentifier().deidentify(dataSet)
        let json = DICOMJSONEncoder().encode(result.dataSet).uppercased()
        for value in values {
            for form in [value] + value.split(separator: "^").map(String.init) where form.count >= 6 {
                let leaked = json.contains(form.uppercased())
                #expect(!leaked, "\(form) leaked")
            }
        }
        #expect(result.dataSet.string(Tag(0x0012, 0x0062)) == "YES")
        #expect(result.dataSet[Tag(0x0012, 0x0064)]?.items?.first?.string(Tag(0x0008, 0x0100)) == "113100")
        #expect(result.dataSet[Tag(0x0029, 0x1001)] == nil)
        #expect(result.dataSet[Tag(0x6000, 0x0022)] == nil)
        #expect(result.dataSet.string(.sopInstanceUID)?.hasPrefix("2.25.") == true)
        #expect(result.dataSet[.pixelData] != nil)
    }

    @Test func pseudonymsAreConsistentAndReferencesStillResolve() throws {
        let (dataSet, _) = try Self.plantedDataSet()
        let first = Self.deidentifier().deidentify(dataSet)
        let second = Self.deidentifier().deidentify(dataSet)
        #expect(DICOMJSONEncoder().encode(first.dataSet) == DICOMJSONEncoder().encode(second.dataSet))

        // An instance that references 1.2.3.4.5.6.7, and the instance that has that UID.
        var referenced = dataSet
        referenced.set(Self.element(.sopInstanceUID, .UI, "1.2.3.4.5.6.7"))
        let target = Self.deidentifier().deidentify(referenced).dataSet.string(.sopInstanceUID)
        let reference = first.dataSet[Tag(0x0008, 0x1140)]?.items?.first?.string(Tag(0x0008, 0x1155))
        #expect(target != nil && reference == target)
        #expect(first.mappings.contains { $0.kind == "uid" && $0.original == "1.2.3.4.5.6.7" && $0.pseudonym == target })

        let otherKey = Self.deidentifier(key: SymmetricKey(data: Data(repeating: 9, count: 32))).deidentify(dataSet)
        #expect(otherKey.dataSet.string(.sopInstanceUID) != first.dataSet.string(.sopInstanceUID))
        #expect(otherKey.dataSet.string(Tag(0x0010, 0x0020)) != first.dataSet.string(Tag(0x0010, 0x0020)))
    }

    @Test func oneShiftPerPatientKeepsIntervalsBetweenStudies() throws {
        var day1 = try DICOMFile.read(path: Self.corpusCT.path).dataSet
        day1.set(Self.element(Tag(0x0010, 0x0020), .LO, "MRN-0042"))
        day1.set(Self.element(Tag(0x0008, 0x0020), .DA, "20240110"))
        var day2 = day1
        day2.set(Self.element(Tag(0x0008, 0x0020), .DA, "20240125"))
        day2.set(Self.element(Tag(0x0020, 0x000D), .UI, "1.2.3.999"))
        let anonymiser = Self.deidentifier([.retainLongitudinalModifiedDates])
        let first = anonymiser.deidentify(day1).dataSet, second = anonymiser.deidentify(day2).dataSet
        #expect(first.string(Tag(0x0010, 0x0020)) == second.string(Tag(0x0010, 0x0020)))
        #expect(first.string(Tag(0x0010, 0x0020)) != "MRN-0042")
        let formatter = DateFormatter()
        formatter.dateFormat = "yyyyMMdd"
        formatter.timeZone = TimeZone(identifier: "UTC")
        let date1 = try #require(first.string(Tag(0x0008, 0x0020)).flatMap(formatter.date(from:)))
        let date2 = try #require(second.string(Tag(0x0008, 0x0020)).flatMap(formatter.date(from:)))
        #expect(date2.timeIntervalSince(date1) == 15 * 86400)
        #expect(first.string(Tag(0x0008, 0x0020)) != "20240110")
        #expect(first.string(Tag(0x0028, 0x0303)) == "MODIFIED")
        // Without the option, the date is gone.
        #expect(Self.deidentifier().deidentify(day1).dataSet.string(Tag(0x0008, 0x0020)) ?? "" == "")
    }

    @Test func keptPrivateCreatorsKeepTheirBlockAndBurnedInTextGoesToReview() throws {
        var dataSet = try DICOMFile.read(path: Self.corpusCT.path).dataSet
        dataSet.set(Self.element(Tag(0x0029, 0x0010), .LO, "ACME PRIVATE"))
        dataSet.set(Self.element(Tag(0x0029, 0x1001), .LO, "SAFE VALUE"))
        dataSet.set(Self.element(Tag(0x0029, 0x0011), .LO, "OTHER VENDOR"))
        dataSet.set(Self.element(Tag(0x0029, 0x1101), .LO, "UNSAFE VALUE"))
        let result = Self.deidentifier(keepPrivate: ["ACME PRIVATE"]).deidentify(dataSet)
        #expect(result.dataSet.string(Tag(0x0029, 0x1001)) == "SAFE VALUE")
        #expect(result.dataSet[Tag(0x0029, 0x1101)] == nil)
        #expect(result.dataSet[Tag(0x0029, 0x0011)] == nil)
        #expect(result.reviewReason == nil)
        // The method code sequence records that private data was kept (CID 7050 113111).
        let codes = result.dataSet[Tag(0x0012, 0x0064)]?.items?.compactMap { $0.string(Tag(0x0008, 0x0100)) }
        #expect(codes == ["113100", "113111"])
        #expect(Self.deidentifier().deidentify(dataSet).dataSet[Tag(0x0012, 0x0064)]?.items?.count == 1)

        dataSet.set(Self.element(.modality, .CS, "US"))
        #expect(Self.deidentifier().deidentify(dataSet).reviewReason == "modality US without Burned In Annotation")
        dataSet.set(Self.element(Tag(0x0028, 0x0301), .CS, "NO"))
        #expect(Self.deidentifier().deidentify(dataSet).reviewReason == nil)
        dataSet.set(Self.element(Tag(0x0028, 0x0301), .CS, "YES"))
        #expect(Self.deidentifier().deidentify(dataSet).reviewReason == "Burned In Annotation is YES")
    }

    @Test func theKeyFileIsCreatedPrivateAndReadBackUnchanged() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("key-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("var/deidentify.key")
        let key = try KeyFile.loadOrCreate(at: path)
        let attributes = try FileManager.default.attributesOfItem(atPath: path.path)
        #expect((attributes[.posixPermissions] as? Int) == 0o600)
        let again = try KeyFile.loadOrCreate(at: path)
        #expect(key.withUnsafeBytes { Data($0) } == again.withUnsafeBytes { Data($0) })
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: path.path)
        #expect(throws: KeyFile.KeyError.self) { try KeyFile.loadOrCreate(at: path) }
    }

    /// Found by review: identity the table does not name attribute by attribute.
    @Test func codesInReplacedSequencesUIDsOutsideTheTableAndIllegalGroupsDoNotSurvive() throws {
        var dataSet = try DICOMFile.read(path: Self.corpusCT.path).dataSet
        // Operator Identification Sequence (D) > Person Identification Code Sequence: the code is the person.
        let code = DataSet(elements: [Self.element(Tag(0x0008, 0x0100), .SH, "E12345"),
                                      Self.element(Tag(0x0008, 0x0102), .SH, "LOCAL"),
                                      Self.element(Tag(0x0008, 0x0104), .LO, "Smith^Jane")])
        let person = DataSet(elements: [DataElement(tag: Tag(0x0040, 0x1101), vr: .SQ, value: .sequence([code]))])
        dataSet.set(DataElement(tag: Tag(0x0008, 0x1072), vr: .SQ, value: .sequence([person])))
        dataSet.set(Self.element(Tag(0x0008, 0x1167), .UI, "1.2.826.0.1.3680043.2.1143.777"))  // Multi-frame Source SOP Instance UID
        dataSet.set(Self.element(Tag(0x0028, 0x0304), .UI, "1.2.840.10008.1.5.1"))             // Referenced Color Palette: hot iron
        dataSet.set(Self.element(Tag(0x0003, 0x0010), .LO, "ILLEGAL GROUP NAME"))
        dataSet.set(Self.element(Tag(0x0028, 0x0302), .CS, "YES"))                               // Recognizable Visual Features
        let result = Self.deidentifier().deidentify(dataSet)
        let json = DICOMJSONEncoder().encode(result.dataSet)
        for secret in ["E12345", "Smith", "1.2.826.0.1.3680043.2.1143.777", "ILLEGAL"] {
            #expect(!json.contains(secret), "\(secret) survived")
        }
        #expect(result.dataSet.string(Tag(0x0008, 0x1167))?.hasPrefix("2.25.") == true)
        #expect(result.dataSet.string(Tag(0x0028, 0x0304)) == "1.2.840.10008.1.5.1")
        #expect(result.dataSet.string(.sopClassUID) == dataSet.string(.sopClassUID))
        #expect(result.reviewReason == "Recognizable Visual Features is YES")
        for tag in DeidentificationPass.publicUIDTags { #expect(ConfidentialityProfile.rule(for: tag) == nil, "\(tag) is in Table E.1-1") }
    }

    @Test func shiftedDateTimesLoseTheirUTCOffsetAndOneNameInTwoNormalFormsIsOnePatient() throws {
        var dataSet = try DICOMFile.read(path: Self.corpusCT.path).dataSet
        dataSet.set(Self.element(Tag(0x0010, 0x0020), .LO, "MRN-9"))
        dataSet.set(Self.element(Tag(0x0008, 0x002A), .DT, "20240110093000+0100"))  // Acquisition DateTime
        let shifted = Self.deidentifier([.retainLongitudinalModifiedDates]).deidentify(dataSet).dataSet
        let value = try #require(shifted.string(Tag(0x0008, 0x002A)))
        #expect(value.hasSuffix("093000") && !value.contains("+") && !value.hasPrefix("20240110"), "\(value)")

        let pseudonyms = Pseudonymizer(key: SymmetricKey(data: Data(repeating: 7, count: 32)))
        let composed = "Ren\u{E9}e", decomposed = "Rene\u{301}e"
        #expect(Array(composed.utf8) != Array(decomposed.utf8))
        #expect(pseudonyms.identifier(composed, kind: "patient-name") == pseudonyms.identifier(decomposed, kind: "patient-name"))
    }

    /// The pseudonyms are HMAC-SHA256 of "kind NUL value" (NFC) under the key, as written
    /// down here with a fresh HMAC per value: the prepared, copied HMAC and the ASCII
    /// shortcut past normalisation change nothing, for many values and kinds in a row.
    @Test func pseudonymsAreTheKeyedHMACOfKindAndValue() {
        let key = SymmetricKey(data: Data((0..<32).map { UInt8($0 * 7 % 256) }))
        let pseudonyms = Pseudonymizer(key: key)
        func mac(_ message: String) -> [UInt8] { Array(HMAC<SHA256>.authenticationCode(for: Data(message.utf8), using: key)) }
        for index in 0..<200 {
            let uid = "1.2.826.0.1.3680043.\(index * 7919)"
            let decimal = mac("uid\u{0}" + uid).prefix(16).reduce(UInt128(0)) { $0 << 8 | UInt128($1) }
            #expect(pseudonyms.uid(uid) == "2.25.\(decimal)")
            let name = index % 2 == 0 ? "DOE^JOHN \(index)" : "Rene\u{301}e^\(index)"
            let hex = mac("patient-name\u{0}" + name.precomposedStringWithCanonicalMapping).prefix(8).map { String(format: "%02X", $0) }.joined()
            #expect(pseudonyms.identifier(name, kind: "patient-name") == hex)
        }
    }

    /// Pseudonyms answered from the table of recent ones are the keyed HMAC's, like fresh
    /// ones: asked twice over more values than the table holds (so it is emptied and filled
    /// again along the way), every answer equals the HMAC computed here, and the table never
    /// holds more than its capacity.
    @Test func rememberedPseudonymsEqualFreshOnesAndTheTableStaysBounded() {
        let key = SymmetricKey(data: Data((0..<32).map { UInt8($0 * 13 % 256) }))
        let pseudonyms = Pseudonymizer(key: key)
        func mac(_ message: String) -> [UInt8] { Array(HMAC<SHA256>.authenticationCode(for: Data(message.utf8), using: key)) }
        let count = RecentPseudonyms.capacity + 100
        var mismatches = 0
        for _ in 0..<2 {
            for index in 0..<count {
                let uid = "1.2.826.0.1.3680043.9.\(index)"
                let decimal = mac("uid\u{0}" + uid).prefix(16).reduce(UInt128(0)) { $0 << 8 | UInt128($1) }
                if pseudonyms.uid(uid) != "2.25.\(decimal)" { mismatches += 1 }
                let id = "PATIENT-\(index)"
                let hex = mac("patient\u{0}" + id).prefix(8).map { String(format: "%02X", $0) }.joined()
                if pseudonyms.identifier(id, kind: "patient") != hex { mismatches += 1 }
            }
            let held = pseudonyms.recent.count
            #expect(held.uids <= RecentPseudonyms.capacity && held.identifiers <= RecentPseudonyms.capacity)
            #expect(held.uids > 0 && held.identifiers > 0)
        }
        #expect(mismatches == 0)
    }
}
