import Config
import Foundation
import Ledger
@testable import Pipeline
import Testing

/// Each rule kind on a small set of instances, `at_least`, and the meta rules that give the
/// verdict; and the annotation reader on awkward input.
struct ExpectationEvaluatorTests {
    typealias Instance = ExpectationEvaluator.Instance

    let instances: [Instance] = [
        ["name": .text("a"), "bucket": .text("small"), "Modality": .text("CR"), "Rows": .integer(512), "SeriesInstanceUID": .text("s1"),
         "InstanceNumber": .integer(1), "PatientAge": .text("045Y"), "ImageType": .text(#"["ORIGINAL","PRIMARY"]"#)],
        ["name": .text("b"), "bucket": .text("large"), "Modality": .text("DX"), "Rows": .integer(3000), "SeriesInstanceUID": .text("s1"),
         "InstanceNumber": .integer(1), "ImageType": .text(#"["DERIVED"]"#)],
        ["name": .text("c"), "bucket": .text("suboptimal"), "Modality": .text("CT"), "Rows": .integer(100), "SeriesInstanceUID": .text("s2"),
         "InstanceNumber": .integer(1), "PatientAge": .text("")],
    ]

    func result(_ check: ExpectationCheck, atLeast: Double = 1, severity: ExpectationRule.Severity = .error) -> ExpectationResult {
        let settings = ExpectationSettings(rules: [ExpectationRule(name: "r", severity: severity, check: check, atLeast: atLeast)])
        return ExpectationEvaluator(settings: settings).evaluate(instances).results[0]
    }

    @Test func eachKindCountsWhatItCheckedAndNamesWhatFailed() {
        let required = result(.required(["PatientAge"]))
        #expect((required.checked, required.failed, required.examples, required.passed) == (3, 2, ["b", "c"], false))
        let regex = result(.regex(keyword: "Modality", pattern: "^(CR|DX)$"))
        #expect((regex.checked, regex.failed, regex.examples) == (3, 1, ["c"]))
        let oneOf = result(.oneOf(keyword: "ImageType", values: ["ORIGINAL", "PRIMARY"]))
        #expect((oneOf.checked, oneOf.failed, oneOf.examples) == (2, 1, ["b"]), "every value of a multi-valued attribute must be listed")
        let range = result(.range(keyword: "Rows", minimum: 256, maximum: 8192))
        #expect((range.checked, range.failed, range.examples) == (3, 1, ["c"]))
        let age = result(.range(keyword: "PatientAge", minimum: 40, maximum: 50))
        #expect((age.checked, age.failed) == (1, 0), "an Age String is read in years; absent values are not checked")
        let unique = result(.unique(keyword: "InstanceNumber"))
        #expect((unique.checked, unique.failed, unique.examples) == (3, 3, ["a", "b", "c"]))
        let within = result(.uniqueWithin(scope: .series, keyword: "InstanceNumber"))
        #expect((within.checked, within.failed, within.examples) == (3, 2, ["a", "b"]))
        #expect(result(.rowCount(minimum: 1, maximum: 3)).passed)
        #expect(!result(.rowCount(minimum: 4, maximum: nil)).passed)
    }

    @Test func atLeastTurnsARuleIntoAShare() {
        #expect(result(.regex(keyword: "Modality", pattern: "^(CR|DX)$"), atLeast: 0.6).passed)
        #expect(!result(.regex(keyword: "Modality", pattern: "^(CR|DX)$"), atLeast: 0.7).passed)
    }

    @Test func theVerdictFollowsTheMetaRules() {
        let failingWarning = ExpectationRule(name: "w", severity: .warn, check: .range(keyword: "Rows", minimum: 256, maximum: nil))
        let failingError = ExpectationRule(name: "e", check: .regex(keyword: "Modality", pattern: "^CR$"))
        var settings = ExpectationSettings(rules: [failingWarning])
        #expect(ExpectationEvaluator(settings: settings).evaluate(instances).verdict == .passed, "warnings do not fail by default")
        settings.meta.maxFailedWarnings = 0
        #expect(ExpectationEvaluator(settings: settings).evaluate(instances).verdict == .failedValidation)
        settings = ExpectationSettings(rules: [failingError])
        let outcome = ExpectationEvaluator(settings: settings).evaluate(instances)
        #expect(outcome.verdict == .failedValidation)
        #expect(outcome.failedRules == ["e", "max_failed_errors"])
        settings.meta.maxFailedErrors = 1
        #expect(ExpectationEvaluator(settings: settings).evaluate(instances).verdict == .passed)
        // One image of three is suboptimal: 33%.
        settings.meta.suboptimalShare = 0...0.2
        let share = ExpectationEvaluator(settings: settings).evaluate(instances)
        #expect(share.verdict == .failedValidation)
        #expect(share.results.last?.rule == "suboptimal_share" && share.results.last?.examples == ["c"])
        settings.meta.suboptimalShare = 0.3...0.4
        #expect(ExpectationEvaluator(settings: settings).evaluate(instances).verdict == .passed)
    }

    @Test func aFailedValidationMakesAWebhookEventWithTheFailedRules() {
        var summary = RunSummary(unit: "study", trigger: .inotify, counts: RunCounts(seen: 2, new: 2), outcome: .done, seconds: 1,
                                 pausedBy: nil, failures: [:])
        #expect(DaemonEvent.events(of: summary).map(\.kind) == [.unitDone])
        summary.validation = RunSummary.Validation(run: 7, verdict: .failedValidation, failedRules: ["modality", "max_failed_errors"], held: 2)
        let events = DaemonEvent.events(of: summary)
        #expect(events.map(\.kind) == [.unitDone, .validationFailed])
        #expect(events[1].reasons == ["modality": 1, "max_failed_errors": 1])
        #expect(events[1].run?.id == 7 && events[1].run?.verdict == .failedValidation)
        #expect(events[1].detail == "run 7 failed validation; 2 image(s) held until dicomdrop release 7")
    }

    @Test func theAnnotationReaderReportsEachBadRowByLineAndKeepsTheRest() throws {
        let reader = AnnotationFileReader(resolveUID: { "2.25.\($0.count)" })
        let csv = """
            image,label,x,y,width,height,units,frame,confidence,Patient Name,study_instance_uid,site
            small/A-f0002.png,nodule,0.1,0.2,0.3,0.4,normalized,,0.9,DOE^JANE,1.2.3,north
            B,,1,1,1,1,,,,,,
            C,mass,1,1,,,,,,,,
            D,mass,0.5,0.5,0.6,0.1,normalized,,,,,
            E,mass,,,,,,0,,,,
            F,mass,,,,,,,1.5,,,
            ,mass,,,,,,,,,,
            G,opacity,,,,,,,,,,
            """
        let file = try reader.read(Data(csv.utf8), path: "annotations/x.csv")
        #expect(file.labels.map(\.line) == [2, 9])
        let first = file.labels[0]
        #expect(first.image == "A" && first.frame == 2 && first.label == "nodule" && first.confidence == 0.9)
        #expect(first.box == AnnotationRecord.Box(x: 0.1, y: 0.2, width: 0.3, height: 0.4, units: .normalized))
        #expect(first.extra == #"{"site":"north","study_instance_uid":"2.25.5"}"#, "a UID column is pseudonymized, a name column dropped")
        #expect(file.problems.map(\.line) == [2, 3, 4, 5, 6, 7, 8])
        #expect(file.problems.map(\.reason) == [
            "column Patient Name dropped: it names an identifying attribute (PS3.15 basic profile)",
            "no label",
            "a box needs x, y, width and height; missing width, height",
            "a normalized box must lie within 0-1 (x + width and y + height at most 1)",
            "frame must be a whole number from 1, found \"0\"",
            "confidence must be between 0 and 1, found 1.5",
            "names no image: sop_instance_uid and image are both empty",
        ])
        let json = #"[{"sop_instance_uid": "1.2.840.1", "label": "nodule", "x": 5, "y": 6, "width": 7, "height": 8, "flag": true}]"#
        let fromJSON = try reader.read(Data(json.utf8), path: "a.annotations.json")
        #expect(fromJSON.labels.first?.sopInstanceUID == "2.25.9")
        #expect(fromJSON.labels.first?.box == AnnotationRecord.Box(x: 5, y: 6, width: 7, height: 8, units: .pixels))
        #expect(fromJSON.labels.first?.extra == #"{"flag":"true"}"#)
        // Identifiers in any spelling are dropped or pseudonymized; a file named by its UID is a UID.
        let leaky = """
            image,label,patientname,MRN,study_uid,prior,note
            1.2.840.99.1.dcm,nodule,DOE^JANE,12345,1.2.840.99.7,1.2.840.99.8.1,fine
            """
        let cleaned = try reader.read(Data(leaky.utf8), path: "y.annotations.csv")
        #expect(cleaned.labels.first?.sopInstanceUID == "2.25.\("1.2.840.99.1".count)" && cleaned.labels.first?.image == nil)
        #expect(cleaned.labels.first?.extra == #"{"note":"fine","prior":"2.25.14","study_uid":"2.25.12"}"#)
        #expect(cleaned.problems.map(\.reason) == ["column MRN dropped: it names an identifying attribute (PS3.15 basic profile)",
                                                   "column patientname dropped: it names an identifying attribute (PS3.15 basic profile)"])
        #expect(throws: AnnotationFileReader.Failure.self) { try reader.read(Data("a,b\n1,2\n".utf8), path: "x.csv") }
        #expect(throws: AnnotationFileReader.Failure.self) { try reader.read(Data("{}".utf8), path: "x.json") }
    }
}
