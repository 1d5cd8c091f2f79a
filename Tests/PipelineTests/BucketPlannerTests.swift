import Config
import Foundation
@testable import Pipeline
import Testing

/// The one place that decides an image's bucket, on facts alone.
@Suite struct BucketPlannerTests {
    private let planner = BucketPlanner(configuration: WatchConfiguration(
        drop: URL(fileURLWithPath: "/d"), output: URL(fileURLWithPath: "/o"), database: URL(fileURLWithPath: "/l.sqlite"),
        deidentification: DeidentificationConfiguration(defaultsIn: URL(fileURLWithPath: "/")),
        sizeBuckets: [SizeBucket(name: "small", maxPixels: 512 * 512), SizeBucket(name: "large", maxPixels: nil)]))

    private func facts(pixels: Bool = true, review: String? = nil, filter: String? = nil, suboptimal: String? = nil,
                       rows: Int? = 512, columns: Int? = 512) -> BucketPlanner.Facts {
        BucketPlanner.Facts(hasPixelData: pixels, reviewReason: review, filterFailure: filter, suboptimalReason: suboptimal,
                            rows: rows, columns: columns)
    }

    @Test func privacyComesBeforeTheFiltersTheFiltersBeforeQualityAndQualityBeforeSize() {
        #expect(planner.plan(facts(review: "burned-in annotation", filter: "filter ViewPosition: absent", suboptimal: "flat"))
                == .init(bucket: "review", reason: "review: burned-in annotation"))
        #expect(planner.plan(facts(filter: "filter ViewPosition: absent", suboptimal: "flat"))
                == .init(bucket: "excluded", reason: "excluded: filter ViewPosition: absent"))
        #expect(planner.plan(facts(pixels: false, filter: "filter Modality: \"SR\" is excluded", rows: nil, columns: nil)).bucket == "excluded")
        #expect(planner.plan(facts(suboptimal: "dynamic range 3 < 16")) == .init(bucket: "suboptimal", reason: "suboptimal: dynamic range 3 < 16"))
        #expect(planner.plan(facts()) == .init(bucket: "small", reason: nil))
        #expect(planner.plan(facts(rows: 513)) == .init(bucket: "large", reason: nil))
    }

    @Test func aDatasetWithoutPixelsIsNoImageEvenWithAReviewReason() {
        #expect(planner.plan(facts(pixels: false, review: "burned-in annotation", rows: nil, columns: nil)).bucket == "non-image")
        #expect(planner.plan(facts(rows: 0)).bucket == "non-image")
    }

    @Test func sizesThatOverflowGoToTheLastBucket() {
        #expect(planner.plan(facts(rows: Int.max, columns: 3)).bucket == "large")
    }
}
