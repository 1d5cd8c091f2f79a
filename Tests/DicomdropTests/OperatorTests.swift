@preconcurrency import Glibc
import Crypto
import Foundation
import Ledger
import Testing

/// What an operator is told and sees beside the status server: webhooks against a real
/// receiver on loopback, systemd's notify protocol on a real socket, the progress bar under
/// a pseudo-terminal, JSON log lines, and `dicomdrop status` beside a running daemon.
@Suite(.serialized) struct OperatorTests {
    static let images = ["pydicom/test_files/CT_small.dcm", "pydicom/test_files/MR_small.dcm"]
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// scripts/webhook-receiver, failing the first `failures` requests; its port and log.
    final class Receiver: @unchecked Sendable {
        let process = Process()
        let log: URL
        let port: Int

        init(failures: Int, log: URL) throws {
            self.log = log
            process.executableURL = OperatorTests.repository.appendingPathComponent("scripts/webhook-receiver")
            process.arguments = [log.path, "\(failures)"]
            let output = Pipe()
            process.standardOutput = output
            // Not this process's standard error: a receiver outliving a crashed test would
            // keep `swift test`'s pipe open.
            process.standardError = FileHandle.nullDevice
            try process.run()
            var line = Data()
            while !line.contains(UInt8(ascii: "\n")) {
                let chunk = output.fileHandleForReading.availableData
                if chunk.isEmpty { break }
                line += chunk
            }
            port = Int(String(decoding: line, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
        }

        deinit { process.terminate() }

        var requests: [[String: Any]] {
            ((try? String(contentsOf: log, encoding: .utf8)) ?? "").split(separator: "\n").compactMap {
                try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
            }
        }
    }

    @Test func aWebhookThatFailsTwiceIsDeliveredOnTheThirdAttemptSignedAndRecorded() async throws {
        let secret = "shared-secret-for-the-test"
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("receiver-\(UUID().uuidString).log")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let receiver = try Receiver(failures: 2, log: scratch)
        #expect(receiver.port > 0)
        let harness = try DaemonHarness(extraConfig: """
            webhooks:
              - url: http://127.0.0.1:\(receiver.port)/hooks/dicomdrop
                events: [unit_done, unit_failed]
                secret: \(secret)
                attempts: 4
            """)
        try harness.drop(Self.images, into: "study")
        try harness.start()
        #expect(await waitUntil(seconds: 30) { receiver.requests.count >= 3 }, "\(harness.logText())")
        let requests = receiver.requests
        #expect(requests.map { $0["status"] as? Int } == [500, 500, 200])
        let delivered = try #require(requests.last)
        let body = try #require(delivered["body"] as? String)
        let headers = delivered["headers"] as? [String: String] ?? [:]
        let expected = "sha256=" + HMAC<SHA256>.authenticationCode(for: Data(body.utf8), using: SymmetricKey(data: Data(secret.utf8)))
            .map { String(format: "%02x", $0) }.joined()
        #expect(headers["X-Dicomdrop-Signature"] == expected)
        #expect(headers["X-Dicomdrop-Event"] == "unit_done")
        let event = try #require(try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any])
        #expect(event["event"] as? String == "unit_done" && event["unit"] as? String == "study")
        #expect(((event["run"] as? [String: Any])?["files"] as? [String: Any])?["new"] as? Int == 2)
        // Nothing of the patients': the body holds no name, ID or UID of the files.
        for planted in ["CompressedSamples", "1.3.6.1.4.1.5962", "Anonymized"] { #expect(!body.contains(planted)) }

        let ledger = try harness.ledger()
        #expect(await waitUntil(seconds: 5) { (try? ledger.recentDeliveries(limit: 5).first?.outcome) == "delivered" })
        let delivery = try #require(try ledger.recentDeliveries(limit: 5).first)
        #expect(delivery.attempts == 3 && delivery.status == 200 && delivery.event == "unit_done" && delivery.unit == "study")
        #expect(await harness.stop() == 0)
    }

    @Test func aReceiverThatNeverAcceptsIsGivenUpAfterTheAttemptsAndProcessingGoesOn() async throws {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("receiver-\(UUID().uuidString).log")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let receiver = try Receiver(failures: 1000, log: scratch)
        let harness = try DaemonHarness(extraConfig: """
            webhooks:
              - url: http://127.0.0.1:\(receiver.port)/
                attempts: 2
            """)
        try harness.drop(Self.images, into: "first")
        try harness.start()
        let ledger = try harness.ledger()
        #expect(await waitUntil(seconds: 20) { (try? ledger.recentDeliveries(limit: 5).first?.outcome) == "failed" }, "\(harness.logText())")
        let failed = try #require(try ledger.recentDeliveries(limit: 5).first)
        #expect(failed.attempts == 2 && failed.status == 500 && failed.error == "HTTP 500")
        try harness.drop(["pydicom-data/MR2_UNCR.dcm"], into: "second")
        #expect(await waitUntil(seconds: 20) { (try? ledger.state(of: "second")) == .done })
        #expect(await harness.stop() == 0)
    }

    @Test func systemdIsToldReadyAfterTheCatchUpAndStoppingOnSIGTERM() async throws {
        let harness = try DaemonHarness()
        try harness.drop(Self.images, into: "before-start")
        let socketPath = harness.root.appendingPathComponent("notify.sock").path
        let listener = try NotifySocket(path: socketPath)
        try harness.start(environment: ["NOTIFY_SOCKET": socketPath, "WATCHDOG_USEC": "1000000"])
        let ledger = try harness.ledger()
        var messages: [String] = []
        #expect(await waitUntil(seconds: 30) {
            messages += listener.receiveAll()
            return messages.contains { $0.contains("READY=1") }
        }, "\(messages) \(harness.logText())")
        // READY=1 came after the catch-up: the unit dropped before the start is done.
        #expect(try ledger.state(of: "before-start") == .done)
        #expect(messages.firstIndex { $0.contains("READY=1") } ?? 0 >= 0)
        // WATCHDOG=1 at least every half interval while the loop turns.
        #expect(await waitUntil(seconds: 3) {
            messages += listener.receiveAll()
            return messages.filter { $0 == "WATCHDOG=1" }.count >= 2
        }, "\(messages)")
        let daemon = try #require(harness.daemon)
        kill(daemon.processIdentifier, SIGTERM)
        #expect(await waitUntil(seconds: 10) {
            messages += listener.receiveAll()
            return messages.contains { $0.hasPrefix("STOPPING=1") }
        }, "\(messages)")
        #expect(await waitUntil(seconds: 10) { !daemon.isRunning })
        #expect(daemon.terminationStatus == 0)
    }

    @Test func onceDrawsAProgressBarOnATerminalAndPlainLinesOtherwise() throws {
        let harness = try DaemonHarness()
        try harness.drop(Self.images + ["pydicom-data/MR2_UNCR.dcm"], into: "study")
        // util-linux `script` runs the command under a pseudo-terminal.
        let command = "\(ChildProcess.executable.path) --config \(harness.configPath) --once"
        let terminal = try ChildProcess.runTool("/usr/bin/script", ["-qfec", command, "/dev/null"])
        #expect(terminal.status == 0, "\(terminal.standardOutput)")
        #expect(terminal.standardOutput.contains("\r\u{1B}[2K["), "redrawn in place")
        #expect(terminal.standardOutput.contains("3/3 files"), "\(terminal.standardOutput)")
        #expect(terminal.standardOutput.contains("MB/s") && terminal.standardOutput.contains("ETA"))

        try harness.drop(["pydicom/test_files/MR_small_bigendian.dcm"], into: "more")
        let piped = try harness.run(["--once"])
        #expect(piped.status == 0)
        #expect(!piped.standardError.contains("\u{1B}["), "no terminal codes into a pipe or a log file")
    }

    @Test func logLinesAreJSONObjectsWhenAskedAndBelowTheLevelNotWritten() throws {
        let harness = try DaemonHarness(extraConfig: "log:\n  format: json\n  level: info")
        try harness.drop(Self.images, into: "study")
        let result = try harness.run(["--once"])
        #expect(result.status == 0)
        let lines = result.standardError.split(separator: "\n")
        #expect(lines.count >= 2)
        for line in lines {
            let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "\(line)")
            #expect(object["level"] is String && object["message"] is String && object["time"] is String, "\(line)")
        }
        #expect(lines.contains { $0.contains("run done: unit=study") })

        let quiet = try DaemonHarness(extraConfig: "log:\n  level: warning")
        try quiet.drop(Self.images, into: "study")
        let silent = try quiet.run(["--once"])
        #expect(silent.status == 0 && !silent.standardError.contains(" info "), "\(silent.standardError)")
    }

    @Test func statusReadsTheLedgerBesideARunningDaemon() async throws {
        let harness = try DaemonHarness()
        try harness.drop(Self.images + ["pydicom/test_files/README.txt"], into: "study")
        try harness.start()
        let ledger = try harness.ledger()
        #expect(await waitUntil(seconds: 20) { (try? ledger.state(of: "study")) == .done })
        let text = try harness.run(["status"])
        #expect(text.status == 0, "\(text.standardError)")
        #expect(text.standardOutput.contains("units: 1 (done 1)"))
        #expect(text.standardOutput.contains("study/README.txt"), "\(text.standardOutput)")
        let json = try harness.run(["status", "--json"])
        let document = try #require(try JSONSerialization.jsonObject(with: Data(json.standardOutput.utf8)) as? [String: Any])
        let unit = try #require((document["units"] as? [[String: Any]])?.first)
        #expect(unit["name"] as? String == "study" && unit["files"] as? Int == 3 && unit["processed"] as? Int == 2 && unit["not_dicom"] as? Int == 1)
        #expect((document["buckets"] as? [String: Any])?["total_images"] as? Int == 2)
        #expect((document["runs"] as? [[String: Any]])?.count == 1)
        #expect(await harness.stop() == 0)
        // Read-only: a ledger that is not there is an error, not a new empty ledger.
        try FileManager.default.removeItem(at: harness.database)
        let missing = try harness.run(["status"])
        #expect(missing.status == 2 && !FileManager.default.fileExists(atPath: harness.database.path))
    }
}

/// A datagram socket as systemd's NOTIFY_SOCKET: what the daemon sends, message by message.
final class NotifySocket: @unchecked Sendable {
    let descriptor: Int32

    init(path: String) throws {
        descriptor = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: Array(path.utf8)) }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard descriptor >= 0, bound == 0 else { throw POSIXError(.EADDRINUSE) }
    }

    deinit { close(descriptor) }

    /// Every message waiting, oldest first.
    func receiveAll() -> [String] {
        var messages: [String] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = recv(descriptor, &buffer, buffer.count, 0)
            if count <= 0 { return messages }
            messages.append(String(decoding: buffer[0..<count], as: UTF8.self))
        }
    }
}
