import ArgumentParser
import Config
import Foundation
import Ledger
import Pipeline

/// `dicomdrop export`: the joined metadata of everything processed, for pandas, DuckDB or a
/// spreadsheet, read from the ledger (also while the daemon writes it).
struct Export: LedgerSubcommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the metadata of every processed instance (the instance_overview view) as CSV or JSON Lines.",
        discussion: """
            One row per instance: its output name, bucket, bucket directory, the reason it is \
            there, its outputs, and every column of its instance, series, study, patient and \
            device rows (all values de-identified). CSV follows RFC 4180 with one header line; \
            JSON Lines writes one object per line, multi-valued attributes as arrays.
            """
    )

    @ParentCommand var dicomdrop: Dicomdrop

    @Option(help: "csv or jsonl.")
    var format: DatasetExport.Format = .csv

    @Option(help: "Write to this file (replaced atomically) instead of standard output.")
    var out: String?

    @Option(help: "Only the instances of this bucket.")
    var bucket: String?

    func run() throws {
        let (configuration, ledger) = configurationAndLedger()
        let destination = out.map { URL(fileURLWithPath: $0).standardizedFileURL }
        // A file is written beside its destination and renamed over it: a reader never
        // sees half an export.
        let temporary = destination.map { $0.deletingLastPathComponent().appendingPathComponent(".\($0.lastPathComponent).dicomdrop-export") }
        let handle: FileHandle
        if let temporary {
            guard FileManager.default.createFile(atPath: temporary.path, contents: nil),
                  let opened = FileHandle(forWritingAtPath: temporary.path) else {
                fail("cannot write \(temporary.path): \(String(cString: strerror(errno)))")
            }
            handle = opened
        } else {
            handle = FileHandle.standardOutput
        }
        let buffer = ExportBuffer(handle: handle)
        do {
            try DatasetExport.write(bucket: bucket, from: ledger, format: format, extraColumns: configuration.extraColumns) { try buffer.append($0) }
            try buffer.flush()
        } catch {
            if let temporary { try? FileManager.default.removeItem(at: temporary) }
            fail("\(error)")
        }
        if let temporary, let destination {
            try? handle.close()
            guard rename(temporary.path, destination.path) == 0 else {
                fail("cannot move the export to \(destination.path): \(String(cString: strerror(errno)))")
            }
        }
    }
}

extension DatasetExport.Format: ExpressibleByArgument {}

/// Lines gathered into writes of 1 MiB: an export of 100,000 rows is not 100,000 writes.
final class ExportBuffer: @unchecked Sendable {
    private let handle: FileHandle
    private var pending = Data()
    private let lock = NSLock()

    init(handle: FileHandle) { self.handle = handle }

    func append(_ data: Data) throws {
        try lock.withLock {
            pending.append(data)
            if pending.count >= 1 << 20 { try write() }
        }
    }

    func flush() throws { try lock.withLock { try write() } }

    private func write() throws {
        try handle.write(contentsOf: pending)
        pending.removeAll(keepingCapacity: true)
    }
}
