import Config
@testable import Pipeline
import Testing

/// `quality.modalities.<M>` over `quality.*` over the built-in thresholds, as the pipeline
/// picks them per image (a path no test reached).
struct QualityRulesPerModalityTests {
    @Test func modalityRulesOverrideTheGeneralOnesWhichOverrideTheDefaults() throws {
        let configuration = try ConfigurationLoader.parse("""
            quality:
              min_dynamic_range: 20
              max_sharpness: 7
              modalities:
                mr: {min_dynamic_range: 5}
                SEG: {enabled: true, min_foreground_std: 1}
            """, file: "/w/watch.yaml")
        let general = configuration.qualityJudge(forModality: "CT").thresholds
        #expect(general.minimumDynamicRange == 20 && general.maximumSharpness == 7 && general.enabled)
        #expect(general.minimumForegroundStd == 2)   // the built-in default
        let mr = configuration.qualityJudge(forModality: "MR").thresholds
        #expect(mr.minimumDynamicRange == 5 && mr.maximumSharpness == 7)
        // Written in lower case, matched in any case.
        #expect(configuration.qualityJudge(forModality: "mr").thresholds == mr)
        // SEG is off by default; turned on here, with its own threshold.
        let seg = configuration.qualityJudge(forModality: "SEG").thresholds
        #expect(seg.enabled && seg.minimumForegroundStd == 1 && seg.minimumDynamicRange == 20)
        // RTDOSE keeps its built-in override; an image without a modality the general rules.
        #expect(!configuration.qualityJudge(forModality: "RTDOSE").thresholds.enabled)
        #expect(configuration.qualityJudge(forModality: nil).thresholds == general)
    }
}
