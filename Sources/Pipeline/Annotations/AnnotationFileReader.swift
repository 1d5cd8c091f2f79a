import Deidentify
import DICOM
import Foundation
import Ledger

/// Reads an annotation file (CSV with a header, or a JSON list of objects with the same
/// keys) into labels. A row that cannot be a label is a problem with its line, never
/// dropped in silence; a file that cannot be read at all is a failure of the file.
///
/// Identifiers never reach the ledger as written: a SOP Instance UID becomes the UID the
/// outputs carry (`resolveUID`), and an unknown column that names an attribute the PS3.15
/// basic profile removes or replaces (`patient_name`, `AccessionNumber`) is pseudonymized
/// when it is a UID and dropped otherwise, with a problem saying so.
struct AnnotationFileReader {
    enum Failure: Error, Equatable, CustomStringConvertible {
        case csv(CSVTable.Failure)
        case json(String)
        case missingColumns(String)
        case tooLarge(limit: Int)

        var description: String {
            switch self {
            case .tooLarge(let limit): "is larger than \(limit >> 20) MiB: not read as an annotation file"
            case .csv(let failure): "not an annotation CSV: \(failure)"
            case .json(let reason): "not an annotation JSON list: \(reason)"
            case .missingColumns(let reason): reason
            }
        }
    }

    /// The UID as the outputs carry it, for a UID as written (original or pseudonymized).
    let resolveUID: (String) -> String

    static let knownColumns: Set<String> = [
        "sop_instance_uid", "image", "label", "x", "y", "width", "height", "units", "frame", "annotator", "confidence", "source",
    ]

    func read(_ data: Data, path: String) throws(Failure) -> AnnotationFile {
        let rows: [(line: Int, values: [String: JSONValue])]
        if path.lowercased().hasSuffix(".json") {
            rows = try Self.jsonRows(data)
        } else {
            let csv: CSVTable
            do { csv = try CSVTable(parsing: data) } catch { throw .csv(error) }
            let header = csv.header.map { $0.lowercased() }
            guard header.contains("label") else { throw .missingColumns("has no label column (header: \(csv.header.joined(separator: ",")))") }
            guard header.contains("sop_instance_uid") || header.contains("image") else {
                throw .missingColumns("names no image: it needs a sop_instance_uid or an image column")
            }
            rows = csv.rows.map { row in
                var values: [String: JSONValue] = [:]
                for (index, name) in csv.header.enumerated() {
                    let field = csv.value(index, in: row)?.trimmingCharacters(in: .whitespaces) ?? ""
                    if !field.isEmpty { values[name] = .text(field) }
                }
                return (row.line, values)
            }
        }
        var file = AnnotationFile(labels: [], problems: [])
        for (line, values) in rows {
            switch label(values, line: line) {
            case .success(let (record, notes)):
                file.labels.append(record)
                file.problems += notes.map { AnnotationProblem(line: line, reason: $0) }
            case .failure(let problem):
                file.problems.append(problem)
            }
        }
        return file
    }

    /// A value of a row: CSV gives text, JSON also numbers, booleans and nested values.
    enum JSONValue: Equatable {
        case text(String)
        case number(Double)
        case other(String)  // true/false/null, lists and objects, as JSON text

        var text: String {
            switch self {
            case .text(let text), .other(let text): text
            case .number(let number): number.rounded() == number && abs(number) < 1e15 ? String(Int64(number)) : String(number)
            }
        }
    }

    private static func jsonRows(_ data: Data) throws(Failure) -> [(line: Int, values: [String: JSONValue])] {
        let parsed: Any
        do { parsed = try JSONSerialization.jsonObject(with: data) } catch { throw .json("\(error.localizedDescription)") }
        guard let list = parsed as? [Any] else { throw .json("the top level is not a list") }
        return try list.enumerated().map { (index, item) throws(Failure) in
            guard let object = item as? [String: Any] else { throw .json("item \(index + 1) is not an object") }
            var values: [String: JSONValue] = [:]
            for (key, value) in object {
                switch value {
                case let text as String: values[key] = .text(text)
                case is NSNull: continue
                // Foundation gives true and false as NSNumbers of type "c" (char).
                case let number as NSNumber where String(cString: number.objCType) == "c" || type(of: value) == Bool.self:
                    values[key] = .other(number.boolValue ? "true" : "false")
                case let number as NSNumber: values[key] = .number(number.doubleValue)
                default:
                    let encoded = (try? JSONSerialization.data(withJSONObject: value, options: [.fragmentsAllowed, .sortedKeys])) ?? Data()
                    values[key] = .other(String(decoding: encoded, as: UTF8.self))
                }
            }
            return (index + 1, values)
        }
    }

    private func label(_ raw: [String: JSONValue], line: Int) -> Result<(AnnotationRecord, [String]), AnnotationProblem> {
        var values: [String: JSONValue] = [:]
        var extra: [String: JSONValue] = [:]
        for (key, value) in raw {
            let trimmed = key.trimmingCharacters(in: .whitespaces)
            if Self.knownColumns.contains(trimmed.lowercased()) { values[trimmed.lowercased()] = value } else { extra[trimmed] = value }
        }
        func fail(_ reason: String) -> Result<(AnnotationRecord, [String]), AnnotationProblem> {
            .failure(AnnotationProblem(line: line, reason: reason))
        }
        func number(_ name: String) -> Double?? {
            guard let value = values[name] else { return .some(nil) }
            if case .number(let number) = value { return number.isFinite ? number : nil }
            guard let number = Double(value.text), number.isFinite else { return nil }
            return number
        }
        guard let label = values["label"]?.text.trimmingCharacters(in: .whitespaces), !label.isEmpty else { return fail("no label") }
        var uid = values["sop_instance_uid"]?.text.trimmingCharacters(in: .whitespaces)
        var image = values["image"].map { Self.outputName($0.text) }
        if uid?.isEmpty == true { uid = nil }
        if image?.name.isEmpty == true { image = nil }
        // A file named by its SOP Instance UID (`1.2.840....dcm`) names the image by UID: an
        // original must be resolved like one, never stored as a name.
        if uid == nil, let name = image?.name, Self.isUID(name) {
            uid = name
            image = nil
        }
        guard uid != nil || image != nil else { return fail("names no image: sop_instance_uid and image are both empty") }
        if let uid, !Self.isUID(uid) {
            return fail("sop_instance_uid is not a UID (digits and dots, at most 64 characters)")
        }
        var frame: Int?
        if let value = values["frame"] {
            guard let parsed = Int(value.text), parsed >= 1 else { return fail("frame must be a whole number from 1, found \"\(value.text)\"") }
            frame = parsed
        } else {
            frame = image?.frame
        }
        guard let confidence = number("confidence") else { return fail("confidence is not a number: \"\(values["confidence"]?.text ?? "")\"") }
        if let confidence, !(0...1).contains(confidence) { return fail("confidence must be between 0 and 1, found \(confidence)") }
        var box: AnnotationRecord.Box?
        let sides = ["x", "y", "width", "height"]
        let given = sides.filter { values[$0] != nil }
        if !given.isEmpty {
            guard given.count == 4 else {
                return fail("a box needs x, y, width and height; missing \(sides.filter { values[$0] == nil }.joined(separator: ", "))")
            }
            var numbers: [Double] = []
            for side in sides {
                guard let value = number(side), let value else { return fail("\(side) is not a number: \"\(values[side]?.text ?? "")\"") }
                numbers.append(value)
            }
            let unitsText = values["units"]?.text.lowercased() ?? "pixels"
            guard let units = AnnotationRecord.Box.Units(rawValue: unitsText) else {
                return fail("units must be pixels or normalized, found \"\(unitsText)\"")
            }
            guard numbers[0] >= 0, numbers[1] >= 0, numbers[2] > 0, numbers[3] > 0 else {
                return fail("a box needs x, y >= 0 and width, height > 0")
            }
            if units == .normalized, numbers[0] + numbers[2] > 1.000001 || numbers[1] + numbers[3] > 1.000001 {
                return fail("a normalized box must lie within 0-1 (x + width and y + height at most 1)")
            }
            box = AnnotationRecord.Box(x: numbers[0], y: numbers[1], width: numbers[2], height: numbers[3], units: units)
        }
        var notes: [String] = []
        var kept: [String: String] = [:]
        for (key, value) in extra.sorted(by: { $0.key < $1.key }) {
            switch Self.identifyingAction(ofColumn: key) {
            case .uid?:
                kept[key] = Self.isUID(value.text) ? resolveUID(value.text) : nil
            case .remove?:
                notes.append("column \(key) dropped: it names an identifying attribute (PS3.15 basic profile)")
            case nil:
                // A UID in any column is pseudonymized: it may be a study's or series' original.
                kept[key] = Self.looksLikeUID(value.text) ? resolveUID(value.text) : value.text
            }
        }
        var extraText: String?
        if !kept.isEmpty, let encoded = try? JSONSerialization.data(withJSONObject: kept, options: [.sortedKeys]) {
            extraText = String(decoding: encoded, as: UTF8.self)
        }
        let record = AnnotationRecord(line: line, sopInstanceUID: uid.map(resolveUID), image: uid == nil ? image?.name : nil, label: label,
                                      frame: frame, annotator: values["annotator"]?.text, confidence: confidence,
                                      source: values["source"]?.text, box: box, extra: extraText)
        return .success((record, notes))
    }

    /// An output name as written: `small/ABC.png`, `ABC-f0002.png` or `ABC`, to the name
    /// (`ABC`) and the frame its `-fNNNN` suffix names.
    static func outputName(_ text: String) -> (name: String, frame: Int?) {
        var name = String(text.trimmingCharacters(in: .whitespaces).split(separator: "/").last ?? "")
        for suffix in [".png", ".json", ".dcm"] where name.lowercased().hasSuffix(suffix) { name.removeLast(suffix.count) }
        if let match = name.range(of: #"-f[0-9]{4,}$"#, options: .regularExpression), let frame = Int(name[match].dropFirst(2)) {
            name.removeSubrange(match)
            return (name, frame)
        }
        return (name, nil)
    }

    enum IdentifyingAction { case uid, remove }

    /// A UID of two components or more (a bare number names no image).
    static func isUID(_ text: String) -> Bool {
        text.contains(".") && OutputNaming.isUID(text)
    }

    /// A value shaped like a UID rather than a number: four components or more.
    static func looksLikeUID(_ text: String) -> Bool {
        isUID(text) && text.split(separator: ".").count >= 4
    }

    /// Words in a column's name that say it identifies a person: the column is dropped
    /// whatever else it is called (`mrn`, `patient_dob`, `reader name`).
    static let identifyingWords: Set<String> = ["patient", "mrn", "dob", "birth", "birthdate", "accession", "address", "phone", "ssn",
                                                "name", "email"]

    /// The basic profile's action by keyword, lower-cased, for the attributes it changes.
    static let profileActions: [String: IdentifyingAction] = {
        var actions: [String: IdentifyingAction] = [:]
        for rule in ConfidentialityProfile.rules {
            guard let keyword = StandardDictionary.entry(for: rule.tag)?.keyword, !keyword.isEmpty else { continue }
            switch rule.basic {
            case .keep: continue
            case .replaceUID: actions[keyword.lowercased()] = .uid
            default: actions[keyword.lowercased()] = .remove
            }
        }
        return actions
    }()

    /// What happens to an extra column by its name: an attribute the basic profile changes
    /// (`PatientName`, `patient_name`, `Study Instance UID`), or a name with an identifying
    /// word, is dropped, or pseudonymized when it holds UIDs (`study_uid`); nil: kept.
    static func identifyingAction(ofColumn name: String) -> IdentifyingAction? {
        let words = name.lowercased().split(whereSeparator: { !$0.isLetter && !$0.isNumber }).map(String.init)
        let joined = words.joined()
        if let action = profileActions[joined] { return action }
        if words.last == "uid" || joined.hasSuffix("uid") { return .uid }
        if words.contains(where: identifyingWords.contains) || identifyingWords.contains(where: { joined.hasPrefix($0) }) { return .remove }
        return nil
    }
}
