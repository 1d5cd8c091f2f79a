/// Output folders dicomdrop fills itself: no size bucket may take one of these names, and
/// the pipeline files images into them by these names. Config holds the one list because
/// it is the lowest module both the configuration check and the pipeline can see.
public enum ReservedBucket: String, CaseIterable, Sendable {
    /// Images no one should train on (QualityJudge).
    case suboptimal
    /// Images that may show burned-in identity: kept out of the training buckets.
    case review
    /// Images that failed a rule of `filters:` (not the views or modalities trained on).
    case excluded
    /// Datasets without an image (structured reports, RT plans, DICOMDIRs).
    case nonImage = "non-image"
    /// Images of a run that failed validation (`expectations.on_failure: hold`), until
    /// `dicomdrop release RUN`.
    case held

    /// Why the folder is dicomdrop's, for the error that refuses it as a bucket name.
    public var purpose: String {
        switch self {
        case .suboptimal: "holds images set aside by the quality checks"
        case .review: "holds images set aside by the privacy checks"
        case .nonImage: "holds datasets without pixels"
        case .excluded: "holds images the filters set aside"
        case .held: "holds the images of runs that failed validation until they are released"
        }
    }
}
