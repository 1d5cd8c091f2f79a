import Config
import Crypto
import Foundation
import Shared
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Ledger
import Logging
import Metrics
import Pipeline
import ServiceLifecycle
import Synchronization

/// `webhooks:` as a service: each event the live state posts is sent as JSON to every
/// webhook that asked for it, retried with exponential backoff a bounded number of times,
/// each delivery's course kept in the ledger (`webhook_deliveries`). Processing never waits
/// for it: each webhook has its own queue of events (the newest 1,000 kept while its
/// receiver is down) and sends them one at a time, in order, so a catch-up of thousands of
/// units against a dead receiver holds 1,000 events, not thousands of tasks.
public struct WebhookNotifier: Service {
    let hooks: [Hook]
    let ledger: Ledger
    let logger: Logger
    /// Set on shutdown: the attempt in flight finishes (the last run's event still goes out
    /// with --once), but no delivery waits for a retry.
    let stopping = Flag()
    /// The first wait between attempts; doubled each time, at most `maximumDelay`.
    let firstDelay: Duration
    static let maximumDelay = Duration.seconds(60)
    let session: URLSession
    /// Ledger writes may wait for the commit queue's transaction: on a thread of their own.
    let writes = BlockingWork(label: "dicomdrop.webhook-records", concurrent: false)

    /// One configured webhook and its queue of events.
    struct Hook: Sendable {
        let settings: WebhookConfiguration
        /// Where it goes, as the ledger and the log name it: scheme, host and port only
        /// (Slack- and Teams-style addresses carry their secret in the path), and its place
        /// in watch.yaml.
        let name: String
        let events: AsyncStream<DaemonEvent>
        let continuation: AsyncStream<DaemonEvent>.Continuation
    }

    public init(hooks: [WebhookConfiguration], live: LiveState, ledger: Ledger, logger: Logger, firstDelay: Duration = .seconds(1)) {
        self.hooks = hooks.enumerated().map { index, settings in
            let (stream, continuation) = AsyncStream.makeStream(of: DaemonEvent.self, bufferingPolicy: .bufferingNewest(1000))
            return Hook(settings: settings, name: Self.redacted(settings.url, index: index), events: stream, continuation: continuation)
        }
        self.ledger = ledger
        self.logger = logger
        self.firstDelay = firstDelay
        live.subscribe { [hooks = self.hooks] event in
            for hook in hooks where hook.settings.events.contains(event.kind) { hook.continuation.yield(event) }
        }
        let configuration = URLSessionConfiguration.ephemeral
        configuration.timeoutIntervalForRequest = 10
        session = URLSession(configuration: configuration)
    }

    /// `https://hooks.example.org:443 (webhooks[0])`.
    static func redacted(_ url: URL, index: Int) -> String {
        let port = url.port.map { ":\($0)" } ?? ""
        return "\(url.scheme ?? "http")://\(url.host ?? "")\(port) (webhooks[\(index)])"
    }

    public func run() async throws {
        // On shutdown the queues end; a delivery waiting to retry is recorded as abandoned,
        // never retried by a later start (the event is history).
        await withGracefulShutdownHandler {
            await withDiscardingTaskGroup { group in
                for hook in hooks {
                    group.addTask {
                        for await event in hook.events { await deliver(event, to: hook) }
                    }
                }
            }
        } onGracefulShutdown: { [hooks, stopping] in
            stopping.set()
            for hook in hooks { hook.continuation.finish() }
        }
    }

    /// The JSON body: the event, when, the unit and its run's counts and reasons.
    static func body(of event: DaemonEvent) -> Data {
        var object: [String: Any] = ["event": event.kind.rawValue, "at": UTCTimestamp.string(event.at), "reasons": event.reasons]
        if let unit = event.unit { object["unit"] = unit }
        if let detail = event.detail { object["detail"] = detail }
        if let run = event.run {
            object["run"] = ["trigger": run.trigger.rawValue, "outcome": run.outcome.rawValue, "seconds": run.seconds,
                             "files": ["seen": run.counts.seen, "new": run.counts.new, "duplicate": run.counts.duplicate,
                                       "skipped": run.counts.skipped, "failed": run.counts.failed]]
            if let id = run.id, let verdict = run.verdict, var described = object["run"] as? [String: Any] {
                described["id"] = id
                described["verdict"] = verdict.rawValue
                object["run"] = described
            }
        }
        // Strings, whole numbers and a finite number of seconds: always encodable.
        return (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data("{}".utf8)
    }

    /// `sha256=<hex>` of HMAC-SHA256(secret, body), as GitHub's webhooks sign.
    static func signature(of body: Data, secret: String) -> String {
        let code = HMAC<SHA256>.authenticationCode(for: body, using: SymmetricKey(data: Data(secret.utf8)))
        return "sha256=" + code.map { String(format: "%02x", $0) }.joined()
    }

    private func count(_ outcome: Ledger.DeliveryOutcome) {
        Counter(label: "dicomdrop_webhook_deliveries_total", dimensions: [("outcome", outcome.rawValue)]).increment()
    }

    func deliver(_ event: DaemonEvent, to hook: Hook) async {
        let body = Self.body(of: event)
        var request = URLRequest(url: hook.settings.url)
        request.httpMethod = "POST"
        request.httpBody = body
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        request.setValue("dicomdrop", forHTTPHeaderField: "User-Agent")
        request.setValue(event.kind.rawValue, forHTTPHeaderField: "X-Dicomdrop-Event")
        if let secret = hook.settings.secret {
            request.setValue(Self.signature(of: body, secret: secret), forHTTPHeaderField: "X-Dicomdrop-Signature")
        }
        let ledger = ledger, writes = writes
        let id = try? await writes.run { try ledger.beginDelivery(url: hook.name, event: event.kind.rawValue, unit: event.unit) }
        func record(_ attempts: Int, _ status: Int?, _ outcome: Ledger.DeliveryOutcome, _ error: String?) async {
            if outcome != .sending { count(outcome) }
            guard let id else { return }
            do { try await writes.run { try ledger.updateDelivery(id, attempts: attempts, status: status, outcome: outcome, error: error) } } catch {
                logger.error("webhook delivery \(id) not recorded: \(error)")
            }
        }
        var delay = firstDelay
        for attempt in 1...hook.settings.attempts {
            var status: Int?, failure: String
            do {
                let (_, response) = try await session.data(for: request)
                status = (response as? HTTPURLResponse)?.statusCode
                if let status, (200..<300).contains(status) {
                    await record(attempt, status, .delivered, nil)
                    return
                }
                failure = "HTTP \(status.map(String.init) ?? "without a status")"
            } catch {
                // The message may name the whole address: never its path (the secret of some).
                failure = error.localizedDescription.replacingOccurrences(of: hook.settings.url.absoluteString, with: hook.name)
            }
            if Task.isCancelled || stopping.isSet {
                await record(attempt, status, .abandoned, "the daemon stopped: \(failure)")
                return
            }
            if attempt == hook.settings.attempts {
                await record(attempt, status, .failed, failure)
                logger.error("webhook \(hook.name): \(event.kind.rawValue) not delivered after \(attempt) attempt(s): \(failure)")
                return
            }
            await record(attempt, status, .sending, failure)
            // In slices, so that a shutdown ends the wait within 0.1 s (the group waits for
            // every delivery); the request in flight, if any, is left to finish.
            var waited = Duration.zero
            while waited < delay && !stopping.isSet && !Task.isCancelled {
                try? await Task.sleep(for: .milliseconds(100))
                waited += .milliseconds(100)
            }
            if stopping.isSet || Task.isCancelled {
                await record(attempt, status, .abandoned, "the daemon stopped: \(failure)")
                return
            }
            delay = min(delay * 2, Self.maximumDelay)
        }
    }
}

/// Set once, read from any task.
final class Flag: Sendable {
    private let state = Mutex(false)
    var isSet: Bool { state.withLock { $0 } }
    func set() { state.withLock { $0 = true } }
}
