import Foundation
import Ledger
@testable import Pipeline
import Testing

/// metadata.csv as pandas and Python's csv module write and read it, and how its rows find
/// their images.
@Suite struct PlainImageCSVTests {
    private func table(_ text: String) throws(CSVTable.Failure) -> CSVTable { try CSVTable(parsing: Data(text.utf8)) }

    @Test func quotedFieldsHoldCommasLineBreaksAndDoubledQuotes() throws {
        let parsed = try table("filename,finding,notes\r\na.png,\"Pneumonia, viral\",\"two\r\nlines\"\r\nb.png,\"say \"\"hi\"\"\",\"\"\r\n")
        #expect(parsed.header == ["filename", "finding", "notes"])
        #expect(parsed.rows == [CSVTable.Row(line: 2, values: ["a.png", "Pneumonia, viral", "two\r\nlines"]),
                                CSVTable.Row(line: 4, values: ["b.png", "say \"hi\"", ""])])
    }

    @Test func aByteOrderMarkIsDroppedAndLFCRLFAndCRLineEndsAndAMissingLastLineBreakAreAllRead() throws {
        let expected = [CSVTable.Row(line: 2, values: ["a.png", "PA"]), CSVTable.Row(line: 3, values: ["b.png", "AP"])]
        for text in ["\u{FEFF}filename,view\na.png,PA\nb.png,AP\n", "filename,view\r\na.png,PA\r\nb.png,AP", "filename,view\ra.png,PA\rb.png,AP\r"] {
            let parsed = try table(text)
            #expect(parsed.header == ["filename", "view"] && parsed.rows == expected, "\(text.debugDescription)")
        }
        // Blank lines are no rows; lines still count.
        #expect(try table("filename,view\n\na.png,PA\n").rows == [CSVTable.Row(line: 3, values: ["a.png", "PA"])])
    }

    @Test func aShortRowLacksItsLastColumnsAndALongOneIsAnError() throws {
        let parsed = try table("filename,view,age\na.png,PA\n")
        #expect(parsed.rows[0].values == ["a.png", "PA"])
        #expect(parsed.value(2, in: parsed.rows[0]) == nil && parsed.value(1, in: parsed.rows[0]) == "PA")
        #expect(throws: CSVTable.Failure.tooManyFields(line: 3, fields: 3, columns: 2)) { try table("filename,view\na.png,PA\nb.png,AP,x\n") }
    }

    @Test func badQuotingAndBadHeadersAreNamedWithTheirLine() {
        #expect(throws: CSVTable.Failure.unterminatedQuote(line: 3)) { try table("filename,view\na.png,PA\nb.png,\"AP\n") }
        #expect(throws: CSVTable.Failure.textAfterQuote(line: 2)) { try table("filename,view\na.png,\"PA\"x\n") }
        #expect(throws: CSVTable.Failure.badColumnName("view", reason: "named twice in the header")) { try table("view,view\n") }
        #expect(throws: CSVTable.Failure.badColumnName("", reason: "an empty column name")) { try table("filename,,view\n") }
        #expect(throws: CSVTable.Failure.empty) { try table("\n\n") }
        #expect(throws: CSVTable.Failure.notUTF8) { try CSVTable(parsing: Data([0x66, 0xFF, 0x0A])) }
        #expect("\(CSVTable.Failure.unterminatedQuote(line: 3))" == "line 3: a quoted field is never closed (a quote inside a field must be doubled)")
    }

    private func datasets(_ csv: String, files: [String]) -> PlainDatasets {
        PlainDatasets.read(unit: "u", files: files + ["u/metadata.csv"]) { _ in Data(csv.utf8) }
    }

    @Test func rowsFindTheirImagesByFolderAndFilenameOrByALastComponentOnlyOneImageHas() {
        let found = datasets("patientid,folder,filename,view\n1,images,a.png,PA\n2,,b.jpg,AP\n3,images,gone.png,PA\n4,images,a.png,L\n",
                             files: ["u/images/a.png", "u/other/b.jpg", "u/images/extra.jpeg", "u/notes.txt"])
        #expect(found.rows["u/images/a.png"] == PlainImageRow(csv: "u/metadata.csv", line: 2,
                                                              columns: #"{"patientid":"1","folder":"images","filename":"a.png","view":"PA"}"#))
        #expect(found.rows["u/other/b.jpg"]?.line == 3)
        #expect(found.columns["u/other/b.jpg"] == ["patientid": "2", "folder": "", "filename": "b.jpg", "view": "AP"])
        #expect(found.problems.map { "\($0.kind.rawValue) \($0.name) \($0.line.map(String.init) ?? "-")" }
                == ["missing_image images/gone.png 4", "duplicate_row images/a.png 5", "extra_image u/images/extra.jpeg -"])
        #expect(found.tables["u/metadata.csv"] != nil && found.tables["u/notes.txt"] == nil)
    }

    @Test func anImageBelongsToTheNearestCSVAboveIt() {
        let found = PlainDatasets.read(unit: "u", files: ["u/metadata.csv", "u/a.png", "u/sub/metadata.csv", "u/sub/a.png"]) { path in
            Data((path == "u/metadata.csv" ? "file,view\na.png,PA\n" : "file,view\na.png,AP\n").utf8)
        }
        #expect(found.columns["u/a.png"]?["view"] == "PA" && found.columns["u/sub/a.png"]?["view"] == "AP")
        #expect(found.problems.isEmpty)
    }

    @Test func aCSVThatCannotBeReadIsAProblemAndItsImagesHaveNoRows() {
        let found = datasets("filename,view\na.png,\"PA\n", files: ["u/a.png"])
        #expect(found.rows.isEmpty)
        #expect(found.problems == [PlainImageProblem(unit: "u", kind: .badCSV, name: "u/metadata.csv", csv: "u/metadata.csv", line: nil,
                                                     detail: "line 2: a quoted field is never closed (a quote inside a field must be doubled)")])
    }

    @Test func filtersReadACSVColumnLikeAnAttributeAndWhatIsAbsentFailsIncludeAndPassesExclude() {
        let stage = FilterStage(filters: [.init(keyword: "view", mode: .include, values: ["PA", "AP Supine"]),
                                          .init(keyword: "finding", mode: .exclude, values: ["todo"], ignoreCase: true)])
        #expect(stage.failure(ofColumns: ["view": " AP Supine ", "finding": "COVID-19"]) == nil)
        #expect(stage.failure(ofColumns: ["view": "L"]) == "filter view: \"L\", not one of [PA, AP Supine]")
        #expect(stage.failure(ofColumns: ["view": ""]) == "filter view: absent, not one of [PA, AP Supine]")
        #expect(stage.failure(ofColumns: ["view": "PA", "finding": "TODO"]) == "filter finding: \"TODO\" is excluded [todo]")
    }
}
