import DICOM
import Foundation
import Shared

/// What de-identification may keep, chosen in watch.yaml (`deidentify.*`).
public struct DeidentificationSettings: Sendable, Equatable {
    public var options: Set<ConfidentialityProfile.Option>
    /// Private creators whose blocks survive; every other private element is removed.
    public var keepPrivateCreators: Set<String>
    /// With Clean Descriptors: descriptor values (compared case-insensitively, trimmed)
    /// known to carry no identity, kept verbatim; every other descriptor is removed.
    public var descriptorAllowList: Set<String>

    public init(options: Set<ConfidentialityProfile.Option> = [], keepPrivateCreators: Set<String> = [],
                descriptorAllowList: Set<String> = []) {
        self.options = options
        self.keepPrivateCreators = keepPrivateCreators
        self.descriptorAllowList = Set(descriptorAllowList.map { $0.trimmingCharacters(in: .whitespaces).uppercased() })
    }
}

/// What de-identifying one dataset gives: the dataset, the replacements made, and whether
/// its image must be reviewed.
public struct DeidentifiedDataSet: Sendable {
    /// The de-identified dataset: the only thing outputs may be made from.
    public let dataSet: DataSet
    public let mappings: Set<PseudonymMapping>
    /// Why the image must go to the `review` bucket (burned-in annotation), if it must.
    public let reviewReason: String?
}

/// Applies the Basic Application Level Confidentiality Profile (PS3.15 Annex E) with the
/// selected options to a dataset, nested sequences included.
public struct Deidentifier: Sendable {
    public let settings: DeidentificationSettings
    public let pseudonyms: Pseudonymizer

    /// The elements `mark` sets, the same for every dataset under these settings: made
    /// once here rather than per file (their strings, code items and encodings).
    private let marks: [DataElement]

    public init(settings: DeidentificationSettings, pseudonyms: Pseudonymizer) {
        self.settings = settings
        self.pseudonyms = pseudonyms
        self.marks = Self.marks(for: settings)
        self.actions = ConfidentialityProfile.ActionTable(options: settings.options)
    }

    /// Table E.1-1's actions under these settings' options, resolved once.
    let actions: ConfidentialityProfile.ActionTable

    /// Modalities whose images often carry burned-in text (ultrasound, secondary capture,
    /// other, external-camera photography).
    static let burnedInTextModalities: Set<String> = ["US", "SC", "OT", "XC"]

    public func deidentify(_ original: DataSet) -> DeidentifiedDataSet {
        let patientID = original.string(Tag(0x0010, 0x0020)) ?? original.string(Tag(0x0010, 0x0010)) ?? ""
        var pass = DeidentificationPass(settings: settings, pseudonyms: pseudonyms, actions: actions,
                                        dayShift: settings.options.contains(.retainLongitudinalModifiedDates)
                                            ? pseudonyms.dayShift(forPatient: patientID) : 0)
        var result = pass.clean(original)
        mark(&result)
        return DeidentifiedDataSet(dataSet: result, mappings: pass.mappings, reviewReason: reviewReason(original))
    }

    private func reviewReason(_ dataSet: DataSet) -> String? {
        let burnedIn = dataSet.string(Tag(0x0028, 0x0301))?.trimmedOfBlanks.uppercased()
        if burnedIn == "YES" { return "Burned In Annotation is YES" }
        if dataSet.string(Tag(0x0028, 0x0302))?.trimmedOfBlanks.uppercased() == "YES" {
            return "Recognizable Visual Features is YES"
        }
        if burnedIn == nil, let modality = dataSet.string(.modality), Self.burnedInTextModalities.contains(modality) {
            return "modality \(modality) without Burned In Annotation"
        }
        return nil
    }

    private func mark(_ dataSet: inout DataSet) {
        for element in marks { dataSet.set(element) }
    }

    /// Patient Identity Removed, the method and its code sequence (PS3.15 E.1.1 step 4),
    /// and whether dates were kept, shifted or removed.
    private static func marks(for settings: DeidentificationSettings) -> [DataElement] {
        // Keeping named private blocks is the Retain Safe Private Option at the grain of a
        // creator: the method says so, whether or not the option was listed.
        var applied = settings.options
        if !settings.keepPrivateCreators.isEmpty { applied.insert(.retainSafePrivate) }
        let options = ConfidentialityProfile.Option.allCases.filter(applied.contains)
        let removed = DataElement(tag: Tag(0x0012, 0x0062), vr: .CS, strings: ["YES"])
        let method = (["PS3.15 Basic Application Level Confidentiality Profile"] + options.map(\.code.meaning)).joined(separator: ", ")
        let methodElement = DataElement(tag: Tag(0x0012, 0x0063), vr: .LO, strings: [String(("dicomdrop: " + method).prefix(64))])
        let codes = [ConfidentialityProfile.basicProfileCode] + options.map(\.code)
        let items = codes.map { code in
            DataSet(elements: [DataElement(tag: Tag(0x0008, 0x0100), vr: .SH, strings: [code.value]),
                               DataElement(tag: Tag(0x0008, 0x0102), vr: .SH, strings: ["DCM"]),
                               DataElement(tag: Tag(0x0008, 0x0104), vr: .LO, strings: [code.meaning])])
        }
        let temporal = settings.options.contains(.retainLongitudinalFullDates) ? "UNMODIFIED"
            : settings.options.contains(.retainLongitudinalModifiedDates) ? "MODIFIED" : "REMOVED"
        return [removed, methodElement, DataElement(tag: Tag(0x0012, 0x0064), vr: .SQ, value: .sequence(items)),
                DataElement(tag: Tag(0x0028, 0x0303), vr: .CS, strings: [temporal])]
    }
}

/// One dataset's de-identification under way: the settings, the day shift of its patient,
/// and the replacements made so far.
struct DeidentificationPass {
    let settings: DeidentificationSettings
    let pseudonyms: Pseudonymizer
    let actions: ConfidentialityProfile.ActionTable
    let dayShift: Int
    var mappings: Set<PseudonymMapping> = []

    /// Identifiers whose pseudonyms must agree across files and attributes: one kind each.
    static let identifierKinds: [Tag: String] = [
        Tag(0x0010, 0x0020): "patient", Tag(0x0010, 0x1000): "patient", Tag(0x0010, 0x0010): "patient-name",
        Tag(0x0008, 0x0050): "accession", Tag(0x0020, 0x0010): "study-id",
    ]

    /// Free text that Table E.1-1 does not list because its sequence is listed instead:
    /// Content Sequence and Graphic Annotation Sequence are "D", and a dummy sequence is
    /// their items cleaned, but the text of a report or an annotation names people as
    /// easily as a comment does. Replaced like a "D" text, kept (allow list) under the
    /// option that cleans its sequence.
    /// Two tags, compared for every element rather than hashed into a dictionary.
    static func freeTextOutsideTheTable(_ tag: Tag) -> ConfidentialityProfile.Option? {
        switch tag {
        case Tag(0x0040, 0xA160): .cleanStructuredContent  // Text Value of an SR content item
        case Tag(0x0070, 0x0006): .cleanGraphics           // Unformatted Text Value of an annotation
        default: nil
        }
    }

    /// True while cleaning the items of a sequence whose action is "D": every value the
    /// table does not name is replaced as a "D" value is.
    var insideReplacedSequence = false
    static let replacedLeafVRs: Set<VR> = [.AE, .CS, .LO, .LT, .PN, .SH, .ST, .UC, .UT, .UR, .DA, .DT, .TM, .AS]

    /// UIDs that name standard things, not instances, wherever they appear: SOP classes,
    /// transfer syntaxes, coding schemes, context groups, mapping resources, MAC and
    /// signature algorithms. None of them is in Table E.1-1 (checked by a test), whose
    /// rules come first.
    static let publicUIDTags: Set<Tag> = [
        Tag(0x0008, 0x0016), Tag(0x0008, 0x001A), Tag(0x0008, 0x001B), Tag(0x0008, 0x0062), Tag(0x0008, 0x010C),
        Tag(0x0008, 0x010D), Tag(0x0008, 0x0117), Tag(0x0008, 0x0118), Tag(0x0008, 0x1150), Tag(0x0004, 0x1510),
        Tag(0x0004, 0x1512), Tag(0x0400, 0x0010), Tag(0x0400, 0x0510),
    ]

    mutating func clean(_ dataSet: DataSet) -> DataSet {
        var result = DataSet(byteOrder: dataSet.byteOrder, characterSet: dataSet.characterSet)
        let keptCreators = Set(dataSet.elements.filter { element in
            element.tag.isPrivateCreator
                && settings.keepPrivateCreators.contains(dataSet.string(element.tag)?.trimmedOfBlanks ?? "")
        }.map(\.tag))
        for element in dataSet.elements {
            if let kept = clean(element, in: dataSet, keptCreators: keptCreators) { result.set(kept) }
        }
        return result
    }

    private mutating func clean(_ element: DataElement, in dataSet: DataSet, keptCreators: Set<Tag>) -> DataElement? {
        let tag = element.tag
        if tag.isPrivate {
            let creator = tag.isPrivateCreator ? tag : tag.privateCreatorTag
            guard let creator, keptCreators.contains(creator) else { return nil }
            return recursed(element)
        }
        // Overlays and curves (bitmaps and text that can show a name), the retired Text
        // group, and retired variable pixel data: removed whole, whatever the element.
        let group = tag.group
        if (0x5000...0x50FF).contains(group) || (0x6000...0x60FF).contains(group) || group == 0x4000
            || (0x7F00...0x7FDF).contains(group) {
            return nil
        }
        // Groups 0001, 0003, 0005, 0007 and FFFF are illegal (PS3.5 7.1): nobody knows what they hold.
        if (group < 0x0008 && group & 1 == 1) || group == 0xFFFF { return nil }
        if let option = Self.freeTextOutsideTheTable(tag) {
            return settings.options.contains(option) ? cleaned(element, in: dataSet) : dummy(element, in: dataSet)
        }
        guard let action = actions.action(for: tag) else {
            // Not in the dictionary either (a vendor's misuse of a standard group, a tag
            // number corrupted in transit, a group length that the removals have made
            // wrong): nobody can say what it holds, so it goes, as private elements go.
            // Kept, a mutated (0010,0010) became (0010,00AA) with the patient's name in it.
            if !StandardDictionary.contains(tag) { return nil }
            // Not in the table: UIDs that name instances are remapped all the same (a source
            // SOP Instance UID finds the patient in the PACS); inside a "D" sequence, text and
            // dates are replaced too: a Person Identification Code Sequence's code value and
            // meaning are the person.
            if element.vr == .UI, !settings.options.contains(.retainUIDs) { return remappedUIDs(element, in: dataSet, keepingStandardUIDs: true) }
            if insideReplacedSequence, Self.replacedLeafVRs.contains(element.vr) { return dummy(element, in: dataSet) }
            return recursed(element)
        }
        switch action {
        case .keep:
            return recursed(element)
        case .remove:
            return nil
        case .zero:
            return DataElement(tag: tag, vr: element.vr, value: element.vr == .SQ ? .sequence([]) : .bytes(Data()))
        case .replaceUID:
            // On a sequence (X/Z/U*): its items stay, their UIDs replaced, the rest cleaned.
            return element.vr == .SQ ? recursed(element) : remappedUIDs(element, in: dataSet)
        case .dummy:
            return dummy(element, in: dataSet)
        case .clean:
            return cleaned(element, in: dataSet)
        }
    }

    /// Sequences are cleaned item by item: the table's rules hold at every depth.
    private mutating func recursed(_ element: DataElement) -> DataElement {
        guard case .sequence(let items) = element.value else { return element }
        var copy = element
        copy.value = .sequence(items.map { clean($0) })
        return copy
    }

    /// `keepingStandardUIDs` is for attributes outside the table only: one the table names
    /// is remapped even when its value sits under the DICOM root (test files do that).
    private mutating func remappedUIDs(_ element: DataElement, in dataSet: DataSet, keepingStandardUIDs: Bool = false) -> DataElement? {
        guard element.vr == .UI else { return DataElement(tag: element.tag, vr: element.vr, value: .bytes(Data())) }
        if keepingStandardUIDs && Self.publicUIDTags.contains(element.tag) { return element }
        let originals = dataSet.strings(element.tag) ?? []
        let replaced = originals.map { original -> String in
            // Values come trimmed at their end; padding elsewhere is rare, and Foundation's
            // trimming is looked for only when an end byte is a space or NUL.
            let padded = [original.utf8.first, original.utf8.last].contains { (byte: UInt8?) in byte == 0x20 || byte == 0 }
            let uid = padded ? original.trimmingCharacters(in: CharacterSet(charactersIn: " \0")) : original
            // UIDs under the DICOM root (1.2.840.10008) are the standard's own: well-known
            // SOP classes, transfer syntaxes, palettes, coding schemes.
            guard !uid.isEmpty, !(keepingStandardUIDs && uid.hasPrefix("1.2.840.10008.")) else { return uid }
            let pseudonym = pseudonyms.uid(uid)
            mappings.insert(PseudonymMapping(kind: "uid", original: uid, pseudonym: pseudonym))
            return pseudonym
        }
        return DataElement(tag: element.tag, vr: .UI, strings: replaced)
    }

    private mutating func dummy(_ element: DataElement, in dataSet: DataSet) -> DataElement? {
        let tag = element.tag
        switch element.vr {
        case .SQ:
            let outer = insideReplacedSequence
            insideReplacedSequence = true
            defer { insideReplacedSequence = outer }
            return recursed(element)
        case .UI:
            return remappedUIDs(element, in: dataSet)
        case .DA:
            return DataElement(tag: tag, vr: .DA, strings: ["19000101"])
        case .TM:
            return DataElement(tag: tag, vr: .TM, strings: ["000000"])
        case .DT:
            return DataElement(tag: tag, vr: .DT, strings: ["19000101000000"])
        case .IS, .DS:
            return DataElement(tag: tag, vr: element.vr, strings: ["0"])
        case .AS:
            return DataElement(tag: tag, vr: .AS, strings: ["000Y"])
        case .AE, .CS, .LO, .LT, .PN, .SH, .ST, .UC, .UT, .UR:
            // A keyed pseudonym of the original value: consistent, and no dummy string
            // can be mistaken for the original.
            let kind = Self.identifierKinds[tag] ?? tag.jsonKey
            let values = (dataSet.strings(tag) ?? [""]).map { original -> String in
                let value = original.trimmedOfBlanks
                let pseudonym = pseudonyms.identifier(value, kind: kind)
                if !value.isEmpty { mappings.insert(PseudonymMapping(kind: kind, original: value, pseudonym: pseudonym)) }
                return pseudonym
            }
            return DataElement(tag: tag, vr: element.vr, strings: values.isEmpty ? [pseudonyms.identifier("", kind: kind)] : values)
        default:
            // Binary values have no meaningful dummy: zero length.
            return DataElement(tag: tag, vr: element.vr, value: .bytes(Data()))
        }
    }

    /// Option "C": dates shifted per patient, UIDs remapped, descriptors kept only when on
    /// the allow list, sequences cleaned item by item; anything else emptied.
    private mutating func cleaned(_ element: DataElement, in dataSet: DataSet) -> DataElement? {
        let tag = element.tag
        switch element.vr {
        case .SQ:
            return recursed(element)
        case .UI:
            return remappedUIDs(element, in: dataSet)
        case .DA, .DT:
            guard dayShift != 0 else { return nil }
            let shifted = (dataSet.strings(tag) ?? []).map { shift($0, vr: element.vr) }
            return DataElement(tag: tag, vr: element.vr, strings: shifted)
        case .TM:
            // Times of day are kept with shifted dates: whole days move, intervals stay.
            return dayShift != 0 ? element : nil
        case .AE, .CS, .LO, .LT, .PN, .SH, .ST, .UC, .UT:
            let values = dataSet.strings(tag) ?? []
            let allowed = values.allSatisfy { settings.descriptorAllowList.contains($0.trimmedOfBlanks.uppercased()) }
            return allowed && !values.isEmpty ? element : nil
        default:
            return DataElement(tag: tag, vr: element.vr, value: .bytes(Data()))
        }
    }

    /// A DA (YYYYMMDD) or the date part of a DT moved back by the patient's day shift; a
    /// value that is not a date becomes the dummy date.
    private func shift(_ value: String, vr: VR) -> String {
        let text = value.trimmedOfBlanks
        let datePart = String(text.prefix(8))
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        guard datePart.count == 8, datePart.allSatisfy(\.isNumber),
              let year = Int(datePart.prefix(4)), let month = Int(datePart.dropFirst(4).prefix(2)), let day = Int(datePart.suffix(2)),
              let date = calendar.date(from: DateComponents(year: year, month: month, day: day)),
              let moved = calendar.date(byAdding: .day, value: -dayShift, to: date) else {
            return vr == .DA ? "19000101" : "19000101000000"
        }
        let parts = calendar.dateComponents([.year, .month, .day], from: moved)
        let shifted = String(format: "%04d%02d%02d", parts.year!, parts.month!, parts.day!)
        // A DT's UTC offset (&ZZXX) says where the site is, like Timezone Offset From UTC (X).
        let time = text.dropFirst(8).prefix { $0 != "+" && $0 != "-" }
        return vr == .DT ? shifted + time : shifted
    }
}

extension String {
    /// `trimmingCharacters(in: .whitespaces)` (Unicode spaces and tab), without Foundation
    /// for the usual value, whose first and last bytes are ASCII and neither a space nor a
    /// tab: there is nothing to trim. Foundation's trimming was a quarter of the
    /// de-identifier's dummy values.
    var trimmedOfBlanks: String {
        guard let first = utf8.first, let last = utf8.last, first < 0x80, last < 0x80,
              first != 0x20, first != 0x09, last != 0x20, last != 0x09 else {
            return trimmingCharacters(in: .whitespaces)
        }
        return self
    }
}
