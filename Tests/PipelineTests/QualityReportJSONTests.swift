import Foundation
@testable import Pipeline
import Testing

/// The hand-written quality report must be the bytes Foundation's JSONEncoder writes.
@Suite struct QualityReportJSONTests {
    private func foundation(_ reports: [QualityFrameReport]) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return (try? encoder.encode(reports)).map { String(decoding: $0, as: UTF8.self) } ?? "[]"
    }

    /// Seeded reports: the feature names, integers, fractions, tiny and huge values,
    /// negative zero, reasons with quotes, slashes, control characters and non-ASCII, absent
    /// scores and reasons, one to three frames.
    @Test func reportsAreTheBytesJSONEncoderWrites() {
        var generator = SystemRandomNumberGenerator()
        let values: [Double] = [0, -0.0, 1, 255, 0.5, 1e-7, 123_456_789.25, 1e21, .leastNonzeroMagnitude, .greatestFiniteMagnitude, -3.75,
                                0.1 + 0.2, 20.000000000000004, 1_000_000, 2e16]
        let reasons: [String?] = [nil, "", "dynamic range 3 < 20", "a/b \"quoted\" \\ back", "tab\tnew\nline\r\u{8}\u{C}\u{1}\u{1F}",
                                  "Ren\u{E9}e \u{1F600}", "</script>"]
        let names = ["mean", "std", "p1", "p99", "foreground_mean", "log_sharpness", "uniform_fraction", "a", "B", "_x", "Z9"]
        for _ in 0..<2_000 {
            let reports = (0..<Int.random(in: 1...3, using: &generator)).map { index in
                QualityFrameReport(
                    frame: index + 1, suboptimal: Bool.random(using: &generator),
                    reason: reasons.randomElement(using: &generator)!,
                    modelScore: Bool.random(using: &generator) ? nil
                        : Bool.random(using: &generator) ? values.randomElement(using: &generator)! : Double.random(in: -1...1, using: &generator),
                    features: Dictionary(uniqueKeysWithValues: names.shuffled(using: &generator).prefix(Int.random(in: 0...names.count, using: &generator)).map {
                        ($0, Bool.random(using: &generator) ? values.randomElement(using: &generator)! : Double.random(in: -1e6...1e6, using: &generator))
                    }))
            }
            let expected = foundation(reports)
            #expect(QualityFrameReport.json(reports) == expected)
            if QualityFrameReport.json(reports) != expected { return }
        }
    }

    /// A value JSON cannot hold makes the encoder throw: the text is "[]" either way.
    @Test func aNonFiniteValueGivesAnEmptyArray() {
        for bad in [Double.nan, .infinity, -.infinity] {
            let feature = [QualityFrameReport(frame: 1, suboptimal: false, reason: nil, modelScore: nil, features: ["mean": bad])]
            let score = [QualityFrameReport(frame: 1, suboptimal: true, reason: "r", modelScore: bad, features: [:])]
            #expect(QualityFrameReport.json(feature) == "[]" && foundation(feature) == "[]")
            #expect(QualityFrameReport.json(score) == "[]" && foundation(score) == "[]")
        }
    }
}
