import Glibc
import GRDB
import Synchronization

/// Read-only connections of their own for the one-statement lookups the workers make for
/// every file (is this content known, does an output name belong to another): one per
/// thread that asks, kept for it under a `Mutex` held for a dictionary lookup. One per
/// thread, not a shared free list, because SQLite drops a connection's page cache when a
/// lookup finds the ledger changed since its last one, and a cache filled by another thread
/// is freed into that thread's malloc arena under the arena's lock: with a free list, the
/// workers then waited on each other's arenas (16 futex sleeps, 200 ms in one run).
///
/// They went through GRDB's reader pool, whose `Pool.get` and `release` each take a
/// reader-writer lock made of a concurrent dispatch queue and a barrier: two workers met
/// there about 80 times in a 2,000-file run, and each time the one that lost slept on a futex
/// until the holder ran again, which could be after the commit thread (a higher priority
/// than the workers) had run: 467 ms of worker sleep in one such run, about 6 ms a meeting
/// (`perf record -e sched:sched_switch --call-graph dwarf`; docs/PERFORMANCE.md).
///
/// Each lookup is one statement, which SQLite runs in a snapshot of its own (autocommit): no
/// transaction around it. WAL lets these connections read while the ledger's writer writes.
final class LookupConnections: Sendable {
    /// Threads given a connection of their own, at most: the workers ask first and most
    /// (every file); a thread beyond them (a dispatch queue's, whose threads come and go over
    /// a daemon's months) reads through the pool instead, so that connections, each with its
    /// three open files and its page cache, cannot pile up.
    static let limit = 8

    private let path: String
    /// By thread (`pthread_self`): a thread's connection is used by it alone, so it is never
    /// in two lookups at once; it outlives its thread only until the ledger is released.
    private let connections = Mutex<[UInt: DatabaseQueue]>([:])

    init(path: String) {
        self.path = path
    }

    /// `body` on the calling thread's connection, or through `beyondLimit` once `limit`
    /// threads have theirs.
    func read<T>(_ body: (Database) throws -> T, beyondLimit: () throws -> T) throws -> T {
        let thread = UInt(pthread_self())
        let (existing, full) = connections.withLock { ($0[thread], $0.count >= Self.limit) }
        if let existing { return try existing.inDatabase(body) }
        if full { return try beyondLimit() }
        let connection = try open()
        // Kept unless the limit was reached meanwhile; used for this lookup either way.
        connections.withLock { if $0.count < Self.limit { $0[thread] = connection } }
        return try connection.inDatabase(body)
    }

    /// Connections opened so far (one per thread that looked something up).
    var count: Int { connections.withLock { $0.count } }

    private func open() throws -> DatabaseQueue {
        var configuration = Configuration()
        configuration.readonly = true
        configuration.busyMode = .timeout(10)
        configuration.label = "dicomdrop.ledger-lookup"
        return try DatabaseQueue(path: path, configuration: configuration)
    }
}
