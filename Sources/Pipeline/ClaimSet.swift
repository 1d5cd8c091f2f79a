import Synchronization

/// Values handed out once during one run, shared by its parallel workers: the first to
/// claim a value has it. A run keeps one of output names and one of content hashes.
final class ClaimSet<Value: Hashable & Sendable>: Sendable {
    private let claimed = Mutex<Set<Value>>([])

    /// True if `value` was free and is now taken.
    func claim(_ value: Value) -> Bool {
        claimed.withLock { $0.insert(value).inserted }
    }
}
