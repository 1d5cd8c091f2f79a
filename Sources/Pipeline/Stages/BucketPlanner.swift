import Config

/// The plan stage: the one place that decides where an image goes. It takes the facts the
/// earlier stages found and returns a bucket and why. Privacy first (review), then the
/// filters (excluded), then quality (suboptimal), then size; a dataset without pixels is no
/// image, unless a filter excludes it.
///
/// Validation holds join here as more facts. A capacity-limited bucket's directory is the
/// ledger's to assign (`Ledger.place`), after the bucket is known.
struct BucketPlanner: Sendable {
    let configuration: WatchConfiguration

    init(configuration: WatchConfiguration) {
        self.configuration = configuration
    }

    /// What the planner is told about one dataset.
    struct Facts: Sendable, Equatable {
        var hasPixelData: Bool
        /// Why de-identification could not vouch for the pixels (burned-in annotation ...).
        var reviewReason: String?
        /// The first rule of `filters:` the dataset failed.
        var filterFailure: String?
        /// The quality verdict of its rendered frames, with the rule that decided.
        var suboptimalReason: String?
        var rows: Int?
        var columns: Int?
    }

    struct Plan: Sendable, Equatable {
        let bucket: String
        /// For the ledger's reason: why a reserved bucket was chosen; nil for a size bucket.
        let reason: String?
    }

    func plan(_ facts: Facts) -> Plan {
        if facts.hasPixelData, let reason = facts.reviewReason {
            return Plan(bucket: ReservedBucket.review.rawValue, reason: "review: \(reason)")
        }
        if let reason = facts.filterFailure {
            return Plan(bucket: ReservedBucket.excluded.rawValue, reason: "excluded: \(reason)")
        }
        if let reason = facts.suboptimalReason {
            return Plan(bucket: ReservedBucket.suboptimal.rawValue, reason: "suboptimal: \(reason)")
        }
        if let rows = facts.rows, let columns = facts.columns, rows > 0, columns > 0 {
            let (pixels, overflow) = rows.multipliedReportingOverflow(by: columns)
            return Plan(bucket: configuration.sizeBucket(forPixels: overflow ? .max : pixels).name, reason: nil)
        }
        return Plan(bucket: ReservedBucket.nonImage.rawValue, reason: nil)
    }
}
