import Foundation
import Synchronization

/// Answers computed from the ledger, kept for `maximumAge`: a dashboard every 2 s, a
/// Prometheus scrape and a client polling every 100 ms then cost one query a second, not
/// one each. A unit's counts were 5 ms of CPU per request at 2,000 files, and the queries
/// grow with the ledger; polled every 100 ms they made processing 7% slower. Requests that
/// miss together wait for one query, not one each.
final class RecentAnswers<Value: Sendable>: Sendable {
    private struct Entry {
        let made: ContinuousClock.Instant
        let answer: Task<Value, any Error>
    }

    private let entries = Mutex<[String: Entry]>([:])
    let maximumAge: Duration

    init(maximumAge: Duration = .seconds(1)) {
        self.maximumAge = maximumAge
    }

    /// The answer for `key` made less than `maximumAge` ago (or being made), or a new one
    /// from `make`. A failed answer is not kept.
    func answer(_ key: String = "", _ make: @escaping @Sendable () async throws -> Value) async throws -> Value {
        let now = ContinuousClock.now
        let entry = entries.withLock { entries -> Entry in
            if let entry = entries[key], now - entry.made < maximumAge { return entry }
            // A query string makes a key: keep the map from growing without bound.
            if entries.count > 256 { entries.removeAll() }
            let entry = Entry(made: now, answer: Task { try await make() })
            entries[key] = entry
            return entry
        }
        do {
            return try await entry.answer.value
        } catch {
            entries.withLock { entries in if entries[key]?.made == entry.made { entries[key] = nil } }
            throw error
        }
    }
}
