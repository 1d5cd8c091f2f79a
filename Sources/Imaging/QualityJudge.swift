import Foundation

/// The thresholds of the default suboptimal rules. They judge the foreground and the
/// dynamic range, never the mean grey of the whole image: a normal MR slice is mostly black
/// background (the corpus's MR images have means of 30 to 113 out of 255).
public struct QualityThresholds: Sendable, Equatable {
    /// Rules apply at all (a segmentation or a dose grid is no photograph of anatomy).
    public var enabled = true
    /// p99 - p1 below this: all black, all white, or flat.
    public var minimumDynamicRange = 16.0
    /// Foreground standard deviation below this: the anatomy is one flat level (a window so
    /// wrong that only a silhouette is left).
    public var minimumForegroundStd = 2.0
    /// Fraction of the foreground at 255 above this: saturated.
    public var maximumForegroundClipped = 0.8
    /// Sharpness below this: heavily blurred (corpus images: 0.009 and up; a real image
    /// blurred with a Gaussian of about 6 pixels: 0.004).
    public var minimumSharpness = 0.006
    /// Sharpness above this: noise without structure (white noise: 20; corpus images: 4 at most).
    public var maximumSharpness = 8.0

    public init() {}
}

/// A linear classifier over QualityFeatures, e.g. exported from scikit-learn's
/// LogisticRegression or LinearSVC by scripts/fit-quality-model: score = bias +
/// sum(weight * (feature - mean) / scale); a score above `threshold` is low quality.
public struct LinearQualityModel: Sendable, Equatable, Codable {
    public var features: [String]
    public var weights: [Double]
    public var bias: Double
    public var threshold: Double
    /// Standardisation the model was fitted with; none: raw features.
    public var mean: [Double]?
    public var scale: [Double]?

    public init(features: [String], weights: [Double], bias: Double, threshold: Double, mean: [Double]? = nil, scale: [Double]? = nil) {
        self.features = features
        self.weights = weights
        self.bias = bias
        self.threshold = threshold
        self.mean = mean
        self.scale = scale
    }

    /// Why the model cannot be used, if it cannot: unknown feature names, lengths that differ.
    public var problem: String? {
        let counts = [weights.count] + [mean?.count, scale?.count].compactMap { $0 }
        guard !features.isEmpty, counts.allSatisfy({ $0 == features.count }) else {
            return "needs one weight (and mean and scale, if given) per feature: \(features.count) features, \(counts) values"
        }
        if let unknown = features.first(where: { !QualityFeatures.names.contains($0) }) {
            return "unknown feature \"\(unknown)\" (known: \(QualityFeatures.names.joined(separator: ", ")))"
        }
        if let scale, scale.contains(where: { $0 == 0 }) { return "a scale of 0" }
        return nil
    }

    public func score(_ features: QualityFeatures) -> Double {
        var score = bias
        for (index, name) in self.features.enumerated() {
            let value = features.value(named: name) ?? 0
            score += weights[index] * (value - (mean?[index] ?? 0)) / (scale?[index] ?? 1)
        }
        return score
    }
}

/// Whether an image goes to `suboptimal`, and why.
public struct QualityVerdict: Sendable, Equatable {
    public let suboptimal: Bool
    /// The rule and the values that decided, for the ledger and the JSON sidecar.
    public let reason: String?
    public let modelScore: Double?
}

public struct QualityJudge: Sendable {
    public let thresholds: QualityThresholds
    public let model: LinearQualityModel?

    public init(thresholds: QualityThresholds, model: LinearQualityModel? = nil) {
        self.thresholds = thresholds
        self.model = model
    }

    public func judge(_ features: QualityFeatures) -> QualityVerdict {
        let score = model?.score(features)
        guard thresholds.enabled else { return QualityVerdict(suboptimal: false, reason: nil, modelScore: score) }
        let t = thresholds
        func format(_ value: Double) -> String { String(format: "%.4g", value) }
        var reasons: [String] = []
        let range = features.p99 - features.p1
        if range < t.minimumDynamicRange {
            reasons.append("dynamic range p99-p1 \(format(range)) < \(format(t.minimumDynamicRange))")
        } else if features.foregroundStd < t.minimumForegroundStd {
            reasons.append("foreground std \(format(features.foregroundStd)) < \(format(t.minimumForegroundStd))")
        } else if features.foregroundClipped > t.maximumForegroundClipped {
            reasons.append("foreground clipped at 255 \(format(features.foregroundClipped)) > \(format(t.maximumForegroundClipped))")
        }
        if range >= t.minimumDynamicRange {
            if features.sharpness < t.minimumSharpness {
                reasons.append("sharpness \(format(features.sharpness)) < \(format(t.minimumSharpness)) (blurred)")
            } else if features.sharpness > t.maximumSharpness {
                reasons.append("sharpness \(format(features.sharpness)) > \(format(t.maximumSharpness)) (noise)")
            }
        }
        if let model, let score, score > model.threshold {
            reasons.append("quality model score \(format(score)) > \(format(model.threshold))")
        }
        return QualityVerdict(suboptimal: !reasons.isEmpty, reason: reasons.isEmpty ? nil : reasons.joined(separator: "; "),
                              modelScore: score)
    }
}
