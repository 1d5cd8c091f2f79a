import DICOM
import Foundation
import Testing

/// dicomdrop's DICOM JSON against pydicom's `Dataset.to_json_dict()` for every corpus file.
/// The rules that reconcile the two, and every accepted difference, are listed in
/// docs/CONFORMANCE.md; this test is where they are enforced.
@Suite struct ConformanceTests {
    /// Files whose data ends inside an element: pydicom returns what it read before the
    /// end without an error, dicomdrop refuses them (a half-read study is not processed).
    static let truncatedFiles: Set<String> = [
        "pydicom-data/emri_small_jpeg_2k_lossless_too_short.dcm",
        "pydicom/test_files/MR_truncated.dcm",
        "pydicom/test_files/dicomdirtests/DICOMDIR-nooffset",
        "pydicom/test_files/rtplan_truncated.dcm",
    ]

    enum Verdict: String, CaseIterable {
        case identical = "identical"
        case privateDictionaryOnly = "differs only in private elements pydicom types from its private dictionary"
        case rejectedAsTruncated = "rejected by dicomdrop as truncated, partially read by pydicom"
        case pydicomCannotEncode = "read by dicomdrop, pydicom's to_json_dict() fails"
        case identicalToForcedRead = "not Part 10 (pydicom needs force=True): identical to pydicom's forced read"
        case rejectedByBoth = "rejected by both"
        case unexplained = "differs from pydicom without an explanation"
    }

    @Test func everyCorpusFileMatchesPydicomOrADocumentedDifference() throws {
        let oracle = try Corpus.oracle()
        #expect(oracle.count >= 200, "the corpus should hold about 270 files, found \(oracle.count)")
        var verdicts: [Verdict: Int] = [:]
        for entry in oracle {
            let verdict = try judge(entry)
            verdicts[verdict, default: 0] += 1
        }
        let summary = Verdict.allCases.map { "\($0.rawValue): \(verdicts[$0] ?? 0)" }.joined(separator: "\n  ")
        print("conformance over \(oracle.count) corpus files:\n  \(summary)")
        // The counts docs/CONFORMANCE.md reports: a change here must be explained there.
        let documented = ConformanceDocumentTests.documentedCounts()
        for verdict in Verdict.allCases {
            #expect(documented[verdict.rawValue] == verdicts[verdict] ?? 0, "docs/CONFORMANCE.md: \(verdict.rawValue)")
        }
        #expect(verdicts[.unexplained] == nil)
    }

    private func judge(_ entry: Corpus.OracleEntry) throws -> Verdict {
        let ours: DICOMFile
        do {
            ours = try DICOMFile.read(path: entry.url.path)
        } catch {
            if entry.readByPydicom {
                guard Self.truncatedFiles.contains(entry.path), case .dicom(.truncated) = error.reason else {
                    Issue.record("\(entry.path): pydicom reads it, dicomdrop rejects it: \(error)")
                    return .unexplained
                }
                return .rejectedAsTruncated
            }
            return .rejectedByBoth
        }
        #expect(!Self.truncatedFiles.contains(entry.path), "\(entry.path) was expected to be rejected as truncated")
        guard let theirs = entry.json else {
            #expect(entry.readByPydicom, "\(entry.path): read by dicomdrop, pydicom cannot read it even forced")
            return .pydicomCannotEncode
        }
        let json = DICOMJSONEncoder().encode(ours.dataSet)
        let mine = try JSONValue(parsing: Data(json.utf8))
        let expected = PydicomJSON.normalize(theirs, bigEndian: ours.transferSyntax.byteOrder == .bigEndian)
        var differences: [String] = []
        PydicomJSON.compare(mine, expected, path: "", into: &differences)
        if differences.isEmpty {
            return entry.readByPydicom ? .identical : .identicalToForcedRead
        }
        let unexplained = differences.filter { !$0.hasPrefix("private-dictionary ") }
        if unexplained.isEmpty && entry.readByPydicom { return .privateDictionaryOnly }
        let listing = unexplained.prefix(10).joined(separator: "\n")
        Issue.record(Comment(rawValue: "\(entry.path) differs from pydicom:\n\(listing)"))
        return .unexplained
    }
}

/// The reconciliation rules of docs/CONFORMANCE.md, applied to pydicom's JSON.
enum PydicomJSON {
    static func normalize(_ value: JSONValue, bigEndian: Bool) -> JSONValue {
        guard case .object(let dataSet) = value else { return value }
        return .object(dataSet.mapValues { normalizeElement($0, bigEndian: bigEndian) })
    }

    private static func normalizeElement(_ value: JSONValue, bigEndian: Bool) -> JSONValue {
        guard case .object(var element) = value, case .string(let vr)? = element["vr"] else { return value }
        switch element["Value"] {
        case .array(let items)? where vr == "SQ":
            // Rule 3: a sequence with no items has no "Value" (PS3.18 F.2.5).
            if items.isEmpty { element["Value"] = nil } else {
                element["Value"] = .array(items.map { normalize($0, bigEndian: bigEndian) })
            }
        case .array(let values)?:
            element["Value"] = .array(values.map { value in
                switch value {
                // Rule 1: an empty value among several is null (PS3.18 F.2.5), not "".
                case .string(""): return .null
                // Rule 2: PN component groups that are empty are left out; no group, null.
                case .object(let groups):
                    let kept = groups.filter { $0.value != .string("") }
                    return kept.isEmpty ? .null : .object(kept)
                default: return value
                }
            })
        default:
            break
        }
        // Rule 4: binary values of big-endian files are given in little endian.
        if bigEndian, case .string(let base64)? = element["InlineBinary"], let size = wordSize[vr],
           let bytes = Data(base64Encoded: base64) {
            var swapped = [UInt8](bytes)
            for start in stride(from: 0, to: swapped.count - size + 1, by: size) {
                swapped[start..<(start + size)].reverse()
            }
            element["InlineBinary"] = .string(Data(swapped).base64EncodedString())
        }
        return .object(element)
    }

    private static let wordSize = ["OW": 2, "OF": 4, "OL": 4, "OD": 8, "OV": 8]

    /// Lists differences between dicomdrop's JSON and the normalized pydicom JSON. A
    /// difference in a private element that dicomdrop leaves UN while pydicom found it in
    /// its private dictionary is marked `private-dictionary`: dicomdrop ships no vendor
    /// dictionary (docs/CONFORMANCE.md).
    static func compare(_ ours: JSONValue, _ theirs: JSONValue, path: String, into differences: inout [String]) {
        guard case .object(let mine) = ours, case .object(let expected) = theirs else {
            if ours != theirs { differences.append("\(path): \(ours) != \(theirs)") }
            return
        }
        for key in Set(mine.keys).union(expected.keys).sorted() {
            let here = path.isEmpty ? key : "\(path).\(key)"
            guard let a = mine[key], let b = expected[key] else {
                differences.append("\(here): only in \(mine[key] == nil ? "pydicom" : "dicomdrop")")
                continue
            }
            if a == b { continue }
            if case .array(let itemsA)? = a["Value"], case .array(let itemsB)? = b["Value"],
               a["vr"] == .string("SQ"), b["vr"] == .string("SQ"), itemsA.count == itemsB.count {
                for (index, pair) in zip(itemsA, itemsB).enumerated() {
                    compare(pair.0, pair.1, path: "\(here)[\(index)]", into: &differences)
                }
                continue
            }
            let isPrivate = UInt32(key, radix: 16).map { ($0 >> 16) & 1 == 1 } ?? false
            let prefix = isPrivate && a["vr"] == .string("UN") && b["vr"] != .string("UN") ? "private-dictionary " : ""
            differences.append("\(prefix)\(here): dicomdrop \(a) pydicom \(b)")
        }
    }
}
