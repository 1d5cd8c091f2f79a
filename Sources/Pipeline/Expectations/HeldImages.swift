import Config
import Foundation
import Ledger
import Logging

/// The reserved `held` bucket: a run that failed validation under `on_failure: hold` has its
/// images moved from `<directory>/` to `held/<directory>/`, out of the training buckets,
/// until `dicomdrop release RUN` moves them back.
///
/// A move is link, make durable, record, unlink: a crash before the ledger's commit leaves
/// extra links under `held/` that no row names; after it, the old names that no row names.
/// Either way every row names a file that is there.
public struct HeldImages: Sendable {
    public static let prefix = ReservedBucket.held.rawValue + "/"

    let ledger: Ledger
    let writer: OutputWriter
    let manifests: ManifestWriter

    public enum Failure: Error, Sendable, CustomStringConvertible {
        case unknownRun(Int64)
        case nothingHeld(Int64)
        case move(path: String, reason: String)
        case ledger(Ledger.LedgerError)

        public var description: String {
            switch self {
            case .unknownRun(let run): "run \(run) is not in the ledger"
            case .nothingHeld(let run): "run \(run) holds no images (never held, or already released)"
            case .move(let path, let reason): "\(path): cannot move: \(reason)"
            case .ledger(let error): "\(error)"
            }
        }
    }

    init(ledger: Ledger, writer: OutputWriter, manifests: ManifestWriter) {
        self.ledger = ledger
        self.writer = writer
        self.manifests = manifests
    }

    public init(output: URL, ledger: Ledger, logger: Logger) {
        let writer = OutputWriter(root: output)
        self.init(ledger: ledger, writer: writer, manifests: ManifestWriter(ledger: ledger, writer: writer, logger: logger))
    }

    /// Holds the images of `hashes` (contents `run` processed) that are in a size bucket;
    /// those the reserved buckets already set aside stay there. Returns how many, and the
    /// directories whose manifests the move changed: the run marks them stale with the
    /// others it touched, when it is closed.
    func hold(_ hashes: [String], byRun run: Int64) throws(Failure) -> (held: Int, directories: Set<String>) {
        let reserved = ReservedBucket.allCases.map(\.rawValue)
        let outputs: [String: [String]]
        do { outputs = try ledger.outputsToHold(hashes, exceptBuckets: reserved) } catch { throw .ledger(error) }
        guard !outputs.isEmpty else { return (0, []) }
        let moves = outputs.values.flatMap { $0 }.map { ($0, Self.prefix + $0) }
        let directories = try move(moves) { () throws(Ledger.LedgerError) in
            try ledger.hold(Array(outputs.keys), byRun: run, prefix: Self.prefix)
        }
        return (outputs.count, directories)
    }

    /// Moves the images `run` holds back to their directories; returns how many.
    public func release(run: Int64) throws(Failure) -> Int {
        let exists: Bool, outputs: [String: [String]]
        do { exists = try ledger.runExists(run) } catch { throw .ledger(error) }
        guard exists else { throw .unknownRun(run) }
        do { outputs = try ledger.heldOutputs(ofRun: run) } catch { throw .ledger(error) }
        guard !outputs.isEmpty else { throw .nothingHeld(run) }
        let moves = outputs.values.flatMap { $0 }.filter { $0.hasPrefix(Self.prefix) }.map { ($0, String($0.dropFirst(Self.prefix.count))) }
        // Marked before the move: a crash after the ledger's commit must not leave the
        // manifests of both sides stale for good (no run is open to say so at the next start).
        let directories = Self.directories(of: moves)
        do { try ledger.markManifestsStale(directories) } catch { throw .ledger(error) }
        _ = try move(moves) { () throws(Ledger.LedgerError) in
            try ledger.release(Array(outputs.keys), ofRun: run, prefix: Self.prefix)
        }
        manifests.writeStale(in: directories)
        return outputs.count
    }

    /// The directories that files moved by `moves` leave and enter.
    private static func directories(of moves: [(from: String, to: String)]) -> Set<String> {
        Set(moves.flatMap { [($0.from as NSString).deletingLastPathComponent, ($0.to as NSString).deletingLastPathComponent] })
    }

    /// Links every file to its new name, makes the links durable, records, then unlinks the
    /// old names. A destination that exists is never replaced: another content's file there
    /// (one that took the name while this one was held) stops the move before anything is
    /// recorded; the same file there (a link an interrupted move left) is taken as made.
    /// Returns the directories the files left and entered.
    private func move(_ moves: [(from: String, to: String)], record: () throws(Ledger.LedgerError) -> Void) throws(Failure) -> Set<String> {
        let root = writer.root.path
        var made: [String] = []
        func undo() { for path in made { unlink(root + "/" + path) } }
        for (from, to) in moves {
            let source = root + "/" + from, destination = root + "/" + to
            if let failure = OutputWriter.makeFolder((destination as NSString).deletingLastPathComponent) {
                undo()
                throw .move(path: to, reason: "\(failure)")
            }
            if link(source, destination) == 0 {
                made.append(to)
                continue
            }
            let error = errno
            guard error == EEXIST, Self.sameFile(source, destination) else {
                undo()
                throw .move(path: to, reason: error == EEXIST ? "another file has this name" : String(cString: strerror(error)))
            }
        }
        do {
            try writer.makeDurable()
            try record()
        } catch {
            undo()
            throw .ledger(error as? Ledger.LedgerError ?? .database("outputs not made durable: \(error)"))
        }
        for (from, _) in moves { unlink(root + "/" + from) }
        return Self.directories(of: moves)
    }

    static func sameFile(_ a: String, _ b: String) -> Bool {
        var first = stat(), second = stat()
        return lstat(a, &first) == 0 && lstat(b, &second) == 0 && first.st_dev == second.st_dev && first.st_ino == second.st_ino
    }

    /// Finishes the moves a crash cut short, at start-up: a held content's old name that is
    /// still its held file (the crash came between the ledger's commit and the unlink) is
    /// unlinked, so no held image is left in a training bucket; and the reverse for released
    /// ones, found by walking `held/`. Returns how many names were removed.
    @discardableResult
    public func finishInterruptedMoves() -> Int {
        let root = writer.root.path
        var removed = 0
        // Each name asked of the ledger on its own (a point lookup) rather than every
        // output's path loaded into a set: at 200,000 outputs that set, its rows and their
        // copies were most of a restart's peak memory. nil: the ledger could not say, and a
        // name the ledger might still hold is never unlinked.
        func named(_ path: String) -> Bool? {
            do { return try ledger.owner(ofOutput: path) != nil } catch { return nil }
        }
        guard let heldPaths = try? ledger.outputPaths(startingWith: Self.prefix) else { return 0 }
        for path in heldPaths {
            let old = String(path.dropFirst(Self.prefix.count))
            if named(old) == false, Self.sameFile(root + "/" + path, root + "/" + old), unlink(root + "/" + old) == 0 { removed += 1 }
        }
        if let walker = FileManager.default.enumerator(atPath: root + "/" + ReservedBucket.held.rawValue) {
            while let relative = walker.nextObject() as? String {
                let held = Self.prefix + relative, released = relative
                if Self.sameFile(root + "/" + held, root + "/" + released), named(held) == false, named(released) == true,
                   unlink(root + "/" + held) == 0 {
                    removed += 1
                }
            }
        }
        return removed
    }
}
