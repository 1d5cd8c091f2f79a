/// The Shared module holds what modules that may not import one another must agree on
/// (Imaging, Deidentify and Ledger are siblings above DICOM), and the few conversions every
/// layer uses. It imports nothing, so any module can depend on it.

/// The quality features by name, in the order Imaging's `QualityFeatures.values` lists
/// them: the ledger's `image_quality` columns, a fitted model's feature names and
/// `dicomdrop quality`'s keys. Defined here, once, because Imaging computes the features
/// and Ledger stores them, and neither may import the other.
public enum QualityFeatureNames {
    public static let all = [
        "mean", "std", "foreground_mean", "foreground_std", "foreground_fraction", "p1", "p99",
        "darkest_fraction", "brightest_fraction", "foreground_clipped", "laplacian_variance",
        "sharpness", "log_sharpness", "uniform_fraction",
    ]
}
