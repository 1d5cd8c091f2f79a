import Foundation
import Ledger
import Metrics
import Pipeline
import Prometheus

/// swift-metrics' backend for the daemon: Prometheus text format at `/metrics`. Counters and
/// timers are pushed as they happen (DaemonMetrics); what is a state, not an event (queue
/// depth, images per bucket), is read when scraped.
public final class MetricsExporter: Sendable {
    let registry: PrometheusCollectorRegistry

    /// Bootstraps swift-metrics once per process, before the pipeline makes its metrics.
    public static func bootstrap() -> MetricsExporter {
        let registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        // A file's stage takes from tens of microseconds (de-identify) to seconds (a large
        // compressed image): Prometheus' default buckets start at 5 ms.
        factory.defaultDurationHistogramBuckets = [
            .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5),
            .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500),
            .seconds(1), .milliseconds(2500), .seconds(5), .seconds(10), .seconds(30),
        ]
        MetricsSystem.bootstrap(factory)
        return MetricsExporter(registry: registry)
    }

    init(registry: PrometheusCollectorRegistry) {
        self.registry = registry
    }

    /// The text exposition, after the scrape-time gauges are set from `live` and `ledger`.
    func scrape(live: LiveState.Snapshot, buckets: [Ledger.BucketRow]) -> [UInt8] {
        func gauge(_ name: String, _ help: String, labels: [(String, String)] = [], _ value: Int) {
            registry.makeGauge(descriptor: MetricNameDescriptor(metricName: name, unitName: "", helpText: help), labels: labels)
                .set(to: Double(value))
        }
        gauge("dicomdrop_files_in_hand", "Files being processed by a worker.", live.filesInHand)
        gauge("dicomdrop_files_waiting_for_a_worker", "Files handed to the worker pool, not yet started.", live.filesWaitingForAWorker)
        gauge("dicomdrop_batches_waiting_to_commit", "Ledger batches not yet committed.", live.batchesWaitingToCommit)
        gauge("dicomdrop_units_pending", "Units waiting or settling.", live.pendingUnits)
        gauge("dicomdrop_units_ready", "Units settled, not yet run.", live.readyUnits)
        gauge("dicomdrop_paused", "1 while the output filesystem refuses writes.", live.paused == nil ? 0 : 1)
        for bucket in buckets {
            gauge("dicomdrop_bucket_images", "Images in a bucket, from the ledger.", labels: [("bucket", bucket.name)], bucket.images)
        }
        var buffer: [UInt8] = []
        buffer.reserveCapacity(16 << 10)
        registry.emit(into: &buffer)
        return buffer
    }
}
