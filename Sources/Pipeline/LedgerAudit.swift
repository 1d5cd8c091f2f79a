import Config
import Foundation
import Ledger
import Watcher

/// `dicomdrop check`: the ledger compared with what is on disk. The ledger promises that
/// every output it names exists and that every source path it records is in the drop
/// directory; a disk restored from backup, a hand that deleted files, or a damaged ledger
/// breaks those promises, and the daemon, which trusts the ledger, would never notice.
///
/// `repair` makes the ledger true again: content whose outputs went missing is forgotten
/// with the paths that held it, so that the next pass processes those files again; paths
/// gone from the drop are forgotten (their content stays known, as after any deletion);
/// files under the output directory that no row names, and temporaries of interrupted
/// writes, are removed.
public enum LedgerAudit {
    /// What differs between the ledger and the disk.
    public struct Findings: Sendable, Equatable {
        /// What SQLite's quick_check found wrong in the ledger file itself.
        public var damage: [String] = []
        /// Outputs the ledger names that are not on disk, by the hash of the content that made them.
        public var missingOutputs: [String: [String]] = [:]
        /// Files under the output directory that no ledger row names.
        public var unknownOutputs: [String] = []
        /// Temporaries an interrupted write left (the daemon sweeps them at start-up).
        public var temporaries: [String] = []
        /// Paths the ledger records that are no longer in the drop directory.
        public var goneSources: [String] = []

        public var count: Int {
            damage.count + missingOutputs.values.reduce(0) { $0 + $1.count } + unknownOutputs.count + temporaries.count + goneSources.count
        }
        public var isEmpty: Bool { count == 0 }
    }

    public static func audit(configuration: WatchConfiguration, ledger: Ledger) throws(Ledger.LedgerError) -> Findings {
        var findings = Findings()
        findings.damage = try ledger.damage()
        guard findings.damage.isEmpty else { return findings }
        let named = try ledger.outputs()
        let onDisk = filesUnder(configuration.output)
        for output in named where !onDisk.contains(output.path) {
            findings.missingOutputs[output.sha256, default: []].append(output.path)
        }
        let namedPaths = Set(named.map(\.path))
        for path in onDisk.sorted() where !namedPaths.contains(path) {
            let components = path.split(separator: "/")
            if (path as NSString).lastPathComponent.hasPrefix(OutputWriter.temporaryMarker) {
                findings.temporaries.append(path)
            } else if components.count == 2 && components[1] == ManifestWriter.fileName {
                continue  // a bucket directory's manifest, written from the ledger
            } else {
                findings.unknownOutputs.append(path)
            }
        }
        let tree = DropTree(root: configuration.drop)
        findings.goneSources = try ledger.sources().keys.filter { tree.stamp(of: $0) == nil }.sorted()
        return findings
    }

    /// What `repair` did.
    public struct Repairs: Sendable, Equatable {
        /// Contents forgotten because outputs of theirs were missing.
        public var requeuedContents = 0
        /// Source files that will be processed again for them.
        public var requeuedFiles = 0
        /// Paths gone from the drop directory, forgotten.
        public var forgottenSources = 0
        /// Files removed from the output directory: unknown ones, temporaries, and the
        /// surviving outputs of requeued contents (written again when their files are).
        public var removedFiles = 0
    }

    public enum RepairError: Error, Sendable, CustomStringConvertible {
        case damaged
        case ledger(Ledger.LedgerError)

        public var description: String {
            switch self {
            case .damaged: "the ledger is damaged, so its rows cannot be trusted to repair anything"
            case .ledger(let error): "\(error)"
            }
        }
    }

    /// Makes the ledger and the output directory agree with `findings`' remedies. The
    /// caller holds the ledger's lock exclusively: no run may commit meanwhile.
    public static func repair(_ findings: Findings, configuration: WatchConfiguration, ledger: Ledger) throws(RepairError) -> Repairs {
        guard findings.damage.isEmpty else { throw .damaged }
        let writer = OutputWriter(root: configuration.output)
        var repairs = Repairs()
        do {
            // Gone paths first, so that a requeued content counts only files still there.
            try ledger.removeSources(findings.goneSources)
            repairs.forgottenSources = findings.goneSources.count
            for (sha256, missing) in findings.missingOutputs.sorted(by: { $0.key < $1.key }) {
                let survivors = (try ledger.content(sha256)?.outputs ?? []).filter { !missing.contains($0) }
                repairs.requeuedFiles += try ledger.paths(withContent: sha256).count
                // Rows first: a crash before the files go leaves files no row names, which
                // the next check reports; the other way round would leave rows naming nothing.
                try ledger.requeue(contents: [sha256])
                for output in survivors { writer.remove(output) }
                repairs.requeuedContents += 1
                repairs.removedFiles += survivors.count
            }
        } catch {
            throw .ledger(error)
        }
        for path in findings.unknownOutputs + findings.temporaries {
            writer.remove(path)
            repairs.removedFiles += 1
        }
        return repairs
    }

    /// Regular files under `root`, relative to it.
    private static func filesUnder(_ root: URL) -> Set<String> {
        var files: Set<String> = []
        guard let enumerator = FileManager.default.enumerator(atPath: root.path) else { return files }
        while let relative = enumerator.nextObject() as? String {
            if (enumerator.fileAttributes?[.type] as? FileAttributeType) == .typeRegular { files.insert(relative) }
        }
        return files
    }
}
