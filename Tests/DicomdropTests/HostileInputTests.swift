@preconcurrency import Glibc
import Foundation
import Ledger
import Testing

/// Issue 12, "Bad input and security": files made to hurt a reader, through the real daemon.
/// Each must be refused with a reason that names what was wrong, in a run that goes on with
/// the next file, without the process allocating what the file claims.
@Suite(.serialized) struct HostileInputTests {
    /// Little-endian explicit VR element bytes.
    static func element(_ group: UInt16, _ element: UInt16, _ vr: String, _ value: [UInt8], length: UInt32? = nil) -> [UInt8] {
        var bytes = le16(group) + le16(element) + Array(vr.utf8)
        if ["OB", "OW", "SQ", "UN", "UT", "UC", "UR", "OF", "OD", "OL", "OV"].contains(vr) {
            bytes += [0, 0] + le32(length ?? UInt32(value.count))
        } else {
            bytes += le16(UInt16(length ?? UInt32(value.count)))
        }
        return bytes + value
    }
    static func le16(_ value: UInt16) -> [UInt8] { [UInt8(value & 0xFF), UInt8(value >> 8)] }
    static func le32(_ value: UInt32) -> [UInt8] { (0..<4).map { UInt8((value >> (8 * $0)) & 0xFF) } }
    static func text(_ value: String) -> [UInt8] {
        var bytes = Array(value.utf8)
        if bytes.count % 2 == 1 { bytes.append(0) }
        return bytes
    }

    /// A Part 10 file: preamble, meta (with `syntax`), then `dataSet` as given.
    static func part10(_ dataSet: [UInt8], syntax: String = "1.2.840.10008.1.2.1") -> Data {
        let meta = element(0x0002, 0x0001, "OB", [0, 1]) + element(0x0002, 0x0002, "UI", text("1.2.840.10008.5.1.4.1.1.7"))
            + element(0x0002, 0x0003, "UI", text("1.2.3.4.5")) + element(0x0002, 0x0010, "UI", text(syntax))
        let header = element(0x0002, 0x0000, "UL", le32(UInt32(meta.count)))
        return Data([UInt8](repeating: 0, count: 128) + Array("DICM".utf8) + header + meta + dataSet)
    }

    static let identity = element(0x0008, 0x0018, "UI", text("1.2.3.4.5")) + element(0x0008, 0x0060, "CS", text("OT"))

    /// The hostile files, by name, with the phrase each one's recorded reason must hold.
    static func files(bomb: Data) -> [(name: String, bytes: Data, reason: String)] {
        // Sequences nested 10,000 deep, every item and sequence properly closed.
        var nested: [UInt8] = []
        for _ in 0..<10_000 { nested += element(0x0040, 0xA730, "SQ", [], length: 0xFFFF_FFFF) + le16(0xFFFE) + le16(0xE000) + le32(0xFFFF_FFFF) }
        for _ in 0..<10_000 { nested += le16(0xFFFE) + le16(0xE00D) + le32(0) + le16(0xFFFE) + le16(0xE0DD) + le32(0) }
        // A million empty items in one sequence.
        var items = element(0x0040, 0xA730, "SQ", [], length: 0xFFFF_FFFF)
        items.reserveCapacity(items.count + 8_000_016)
        for _ in 0..<1_000_000 { items += le16(0xFFFE) + le16(0xE000) + le32(0) }
        items += le16(0xFFFE) + le16(0xE0DD) + le32(0)
        let image = element(0x0028, 0x0002, "US", le16(1)) + element(0x0028, 0x0004, "CS", text("MONOCHROME2"))
            + element(0x0028, 0x0010, "US", le16(65535)) + element(0x0028, 0x0011, "US", le16(65535))
            + element(0x0028, 0x0100, "US", le16(16)) + element(0x0028, 0x0101, "US", le16(16))
            + element(0x0028, 0x0102, "US", le16(15)) + element(0x0028, 0x0103, "US", le16(0))
            + element(0x7FE0, 0x0010, "OW", [UInt8](repeating: 0, count: 4096))
        return [
            ("past-end.dcm", part10(identity + element(0x0010, 0x0010, "PN", text("Doe^John"), length: 1000)),
             "needed 1000 bytes"),
            ("four-gib.dcm", part10(identity + element(0x7FE0, 0x0010, "OB", [1, 2, 3, 4], length: 0xFFFF_FFF0)),
             "needed 4294967280 bytes"),
            ("nested.dcm", part10(identity + nested), "sequences nested more than 64 deep"),
            ("million.dcm", part10(identity + items), "more than 500000 data elements and items (limits.max_elements)"),
            ("huge-image.dcm", part10(identity + image), "a frame of 65535x65535x1 samples"),
            ("bomb.dcm", part10([], syntax: "1.2.840.10008.1.2.1.99") + bomb,
             "inflates to more than 1048576 bytes (limits.max_inflated_bytes)"),
        ]
    }

    @Test func eachHostileFileIsRefusedWithItsReasonAndNoneTakesTheMemoryItClaims() async throws {
        let harness = try DaemonHarness(extraConfig: "limits:\n  max_inflated_bytes: 1048576")
        let folder = harness.drop.appendingPathComponent("hostile")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        // 64 MiB of zeros as a raw deflate stream: 64 KiB on disk.
        let bombPath = harness.root.appendingPathComponent("bomb.deflate").path
        let made = try ChildProcess.runTool("/usr/bin/env", ["python3", "-c", """
            import sys, zlib
            c = zlib.compressobj(9, zlib.DEFLATED, -15)
            block = bytes(1 << 20)
            open(sys.argv[1], "wb").write(b"".join(c.compress(block) for _ in range(64)) + c.flush())
            """, bombPath])
        #expect(made.status == 0, "\(made.standardError)")
        let raw = try #require(FileManager.default.contents(atPath: bombPath))
        let hostile = Self.files(bomb: raw)
        for file in hostile { try file.bytes.write(to: folder.appendingPathComponent(file.name)) }
        try FileManager.default.copyItem(atPath: Corpus.path("pydicom/test_files/CT_small.dcm"), toPath: folder.appendingPathComponent("good.dcm").path)

        // GNU time gives the run's peak RSS (kB) on the last line of standard error.
        let run = try ChildProcess.runTool("/usr/bin/time", ["-f", "%M", ChildProcess.executable.path, "--config", harness.configPath, "--once"])
        #expect(run.status == 0, "\(run.standardError)")
        let peakKiB = Int(run.standardError.split(separator: "\n").last ?? "") ?? .max
        #expect(peakKiB < 300 * 1024, "peak RSS \(peakKiB) KiB")
        let ledger = try harness.ledger()
        let sources = try ledger.sources(inUnit: "hostile")
        #expect(sources.count == hostile.count + 1)
        for file in hostile {
            let source = try #require(sources["hostile/\(file.name)"], "\(file.name)")
            let content = try #require(try ledger.content(source.sha256))
            #expect(content.reason?.contains(file.reason) == true, "\(file.name): \(content.outcome) \(content.reason ?? "")")
            #expect(run.standardError.contains("hostile/\(file.name)"), "\(file.name) is not named in the log")
        }
        let good = try #require(sources["hostile/good.dcm"])
        #expect(try ledger.content(good.sha256)?.outcome == .processed)
    }
}
