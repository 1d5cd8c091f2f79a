@preconcurrency import Glibc
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Imaging
import Ledger
import Testing

/// The status server of a real daemon on loopback: its answers against the ledger's rows,
/// the files it serves and refuses, the token, /metrics, and the dashboard in a real browser.
@Suite(.serialized) struct StatusServerTests {
    /// A corpus folder with images for two buckets, a non-DICOM file and a broken one.
    static let images = ["pydicom/test_files/CT_small.dcm", "pydicom/test_files/MR_small.dcm", "pydicom-data/MR2_UNCR.dcm",
                         "pydicom-data/RG1_UNCR.dcm", "pydicom/test_files/JPEG2000.dcm", "pydicom-data/US1_J2KR.dcm",
                         "pydicom/test_files/rtplan.dcm", "pydicom/test_files/README.txt"]

    /// A daemon with the server on a free port, that has processed `images` (and a truncated
    /// file) in unit `study`; the server's address.
    static func processedDaemon(token: String? = nil, extra: String = "") async throws -> (DaemonHarness, URL) {
        let harness = try DaemonHarness(extraConfig: "http:\n  listen: 127.0.0.1:0\n" + (token.map { "  token: \($0)\n" } ?? "") + extra)
        try harness.drop(images, into: "study")
        let broken = try Data(contentsOf: URL(fileURLWithPath: Corpus.path("pydicom/test_files/CT_small.dcm")))
        try broken.prefix(3000).write(to: harness.drop.appendingPathComponent("study/truncated.dcm"))
        try harness.start()
        let ledger = try harness.ledger()
        #expect(await waitUntil(seconds: 30) { (try? ledger.state(of: "study")) == .done }, "\(harness.logText())")
        let address = await listeningAddress(in: harness)
        return (harness, try #require(address, "\(harness.logText())"))
    }

    /// The address the log line `status server listening on http://127.0.0.1:PORT/` gives.
    static func listeningAddress(in harness: DaemonHarness) async -> URL? {
        var address: URL?
        _ = await waitUntil(seconds: 10) {
            let text = harness.logText()
            guard let range = text.range(of: #"status server listening on (http://[^ \n]+)"#, options: .regularExpression) else { return false }
            address = URL(string: String(text[range].split(separator: " ").last!))
            return true
        }
        return address
    }

    static func get(_ url: URL, headers: [String: String] = [:]) async throws -> (status: Int, body: Data, type: String?) {
        var request = URLRequest(url: url)
        for (name, value) in headers { request.setValue(value, forHTTPHeaderField: name) }
        let (data, response) = try await URLSession.shared.data(for: request)
        let http = try #require(response as? HTTPURLResponse)
        return (http.statusCode, data, http.value(forHTTPHeaderField: "Content-Type"))
    }

    static func json(_ data: Data) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    @Test func theAPIAnswersWhatTheLedgerHolds() async throws {
        let (harness, server) = try await Self.processedDaemon()
        let ledger = try harness.ledger()
        let health = try await Self.get(server.appendingPathComponent("api/health"))
        #expect(health.status == 200 && health.type == "application/json")
        let healthDocument = try Self.json(health.body)
        #expect(healthDocument["ok"] as? Bool == true)
        #expect((healthDocument["watcher"] as? [String: Any])?["alive"] as? Bool == true)
        #expect(((healthDocument["disk"] as? [String: Any])?["output"] as? [String: Any])?["free_bytes"] as? Int ?? 0 > 0)

        // Units: the counts of the unit's paths by their contents' outcomes.
        let units = try Self.json(try await Self.get(server.appendingPathComponent("api/units")).body)["units"] as? [[String: Any]]
        let study = try #require(units?.first { $0["name"] as? String == "study" })
        let sources = try ledger.sources(inUnit: "study")
        #expect(study["files"] as? Int == sources.count && sources.count == 9)
        #expect(study["state"] as? String == "done")
        let outcomes = try sources.values.map { try #require(try ledger.content($0.sha256)).outcome }
        #expect(study["processed"] as? Int == outcomes.filter { $0 == .processed }.count)
        #expect(study["not_dicom"] as? Int == 1 && study["failed"] as? Int == 1)
        #expect((study["last_run"] as? [String: Any])?["outcome"] as? String == "done")

        // Buckets: images per bucket as the contents table holds them.
        let buckets = try Self.json(try await Self.get(server.appendingPathComponent("api/buckets")).body)
        let counted = try ledger.bucketDirectories().reduce(into: [String: Int]()) { $0[$1.bucket, default: 0] += $1.images }
        let shown = (buckets["buckets"] as? [[String: Any]] ?? []).reduce(into: [String: Int]()) { $0[$1["name"] as! String] = $1["images"] as? Int }
        let expected = Dictionary(grouping: try sources.values.compactMap { try ledger.content($0.sha256) }.filter { $0.outcome == .processed && $0.bucket != nil },
                                  by: { $0.bucket! }).mapValues(\.count)
        #expect(shown == expected, "\(counted)")
        #expect(buckets["total_images"] as? Int == expected.values.reduce(0, +))

        // Failures: the truncated file (failed) and the README (not DICOM), with their paths.
        let failures = try Self.json(try await Self.get(server.appendingPathComponent("api/failures")).body)["failures"] as? [[String: Any]] ?? []
        #expect(Set(failures.compactMap { $0["path"] as? String }) == ["study/truncated.dcm", "study/README.txt"])
        #expect(failures.first { $0["path"] as? String == "study/truncated.dcm" }?["kind"] as? String == "failed")

        // Images, paged two at a time: every image once, in order.
        var names: [String] = [], after: String?
        repeat {
            var components = URLComponents(url: server.appendingPathComponent("api/images"), resolvingAgainstBaseURL: false)!
            components.queryItems = [URLQueryItem(name: "limit", value: "2")] + (after.map { [URLQueryItem(name: "after", value: $0)] } ?? [])
            let page = try Self.json(try await Self.get(components.url!).body)
            names += (page["images"] as? [[String: Any]] ?? []).compactMap { $0["name"] as? String }
            after = page["next"] as? String
        } while after != nil
        #expect(names.count == expected.values.reduce(0, +) && Set(names).count == names.count)
        #expect(try await Self.get(URL(string: server.absoluteString + "api/images?after=nocursor")!).status == 400)
        // Exactly one page's worth: no next page announced.
        let whole = try Self.json(try await Self.get(URL(string: server.absoluteString + "api/images?limit=\(names.count)")!).body)
        #expect(whole["next"] == nil && (whole["images"] as? [Any])?.count == names.count)

        // One image: its metadata and quality, its PNG served byte for byte, its thumbnail.
        let ct = DaemonHarness.remapped("1.3.6.1.4.1.5962.1.1.1.1.1.20040119072730.12322")
        let detail = try Self.json(try await Self.get(server.appendingPathComponent("api/images/\(ct)")).body)
        #expect(detail["bucket"] as? String == "small" && (detail["metadata"] as? [String: Any])?["Modality"] as? String == "CT")
        #expect((detail["metadata"] as? [String: Any])?["sha256"] == nil, "a source's hash is not shown")
        #expect(((detail["quality"] as? [[String: Any]])?.first?["features"] as? [String: Any])?["p99"] != nil)
        let png = try await Self.get(server.appendingPathComponent("files/small/\(ct).png"))
        #expect(png.status == 200 && png.type == "image/png")
        #expect(png.body == harness.outputs()["small/\(ct).png"])
        let thumbnail = try await Self.get(URL(string: server.absoluteString + "thumbnails/small/\(ct).png?size=64")!)
        let raster = try PNGCodec.decode(thumbnail.body)
        #expect(max(raster.width, raster.height) == 64 && raster.bitDepth == 8)
        #expect(try await Self.get(server.appendingPathComponent("api/images/1.2.3.4")).status == 404)

        // Nothing outside the output directory, nor anything but PNG and JSON, is served.
        symlink("/etc/passwd", harness.output.appendingPathComponent("small/leak.png").path)
        symlink(harness.root.path, harness.output.appendingPathComponent("small/up").path)
        for path in ["files/../ledger.sqlite", "files/%2e%2e/ledger.sqlite", "files/small/..%2F..%2Fwatch.yaml",
                     "files/%2Fetc%2Fpasswd", "files/small/leak.png", "thumbnails/small/leak.png", "files/small/up/var/deidentify.key",
                     "files/small/up/watch.yaml", "files/small/manifest.csv", "files/small/\(ct).png%00.json"] {
            let answer = try await Self.get(URL(string: server.absoluteString + path)!)
            #expect(answer.status == 404, "\(path): \(answer.status)")
        }

        // Without a token, only requests addressed to this machine (DNS rebinding); every
        // answer says not to sniff, frame or refer.
        let rebound = try ChildProcess.runTool("/usr/bin/curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", "-H", "Host: attacker.example:80",
                                                                server.appendingPathComponent("api/units").absoluteString])
        #expect(rebound.standardOutput == "421", "\(rebound.standardOutput)")
        let headers = try ChildProcess.runTool("/usr/bin/curl", ["-s", "-D", "-", "-o", "/dev/null", server.appendingPathComponent("api/units").absoluteString])
        #expect(headers.standardOutput.lowercased().contains("x-content-type-options: nosniff"), "\(headers.standardOutput)")
        #expect(headers.standardOutput.lowercased().contains("content-security-policy: default-src 'self'"))

        // /metrics: Prometheus text with the run's counts.
        let metrics = String(decoding: try await Self.get(server.appendingPathComponent("metrics")).body, as: UTF8.self)
        #expect(metrics.contains("dicomdrop_files_seen_total 9"))
        #expect(metrics.contains("dicomdrop_files_failed_total{reason=\"invalid_dicom\"} 1"))
        #expect(metrics.contains("dicomdrop_stage_duration_seconds_count{stage=\"render\"}"))
        #expect(metrics.contains("dicomdrop_bucket_images{bucket=\"small\"} \(expected["small"] ?? 0)"))
        #expect(metrics.contains("dicomdrop_passes_total{kind=\"rescan\"} 1"))
        #expect(await harness.stop() == 0)
    }

    @Test func aTokenIsRequiredOfEveryRequestButThePageItself() async throws {
        let token = "0123456789abcdef0123"
        let (harness, server) = try await Self.processedDaemon(token: token)
        #expect(try await Self.get(server.appendingPathComponent("api/units")).status == 401)
        #expect(try await Self.get(server.appendingPathComponent("api/units"), headers: ["Authorization": "Bearer wrong-token-wrong-token"]).status == 401)
        #expect(try await Self.get(server.appendingPathComponent("api/units"), headers: ["Authorization": "Bearer \(token)"]).status == 200)
        #expect(try await Self.get(URL(string: server.absoluteString + "metrics?token=\(token)")!).status == 200)
        #expect(try await Self.get(server.appendingPathComponent("metrics")).status == 401)
        #expect(try await Self.get(server.appendingPathComponent("dashboard.js")).status == 200)
        #expect(await harness.stop() == 0)
    }

    @Test func aPortInUseStopsStartUpWithItsReason() throws {
        let taken = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(taken) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(taken, $0, length) } }
        listen(taken, 1)
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(taken, $0, &length) } }
        let port = Int(UInt16(bigEndian: address.sin_port))
        let harness = try DaemonHarness(extraConfig: "http:\n  listen: 127.0.0.1:\(port)")
        let result = try harness.run(["--once"])
        #expect(result.status == 2)
        #expect(result.standardError.contains("cannot listen on 127.0.0.1:\(port): Address already in use"), "\(result.standardError)")
    }

    @Test func aServerReachableFromOtherMachinesNeedsAToken() throws {
        let harness = try DaemonHarness(extraConfig: "http:\n  listen: 0.0.0.0:0")
        let result = try harness.run(["--check-config"])
        #expect(result.status == 2)
        #expect(result.standardError.contains("http.listen") && result.standardError.contains("http.token"), "\(result.standardError)")
    }

    /// Debian's chromium, headless, on `page`, its virtual time run out before it prints.
    static func chromium(_ arguments: [String], _ page: URL) throws -> ChildProcess.Result {
        try ChildProcess.runTool("/usr/bin/chromium", ["--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=10000"]
                                 + arguments + [page.absoluteString], seconds: 120)
    }

    /// A 1280 x 1600 screenshot of `page` kept in .test-artifacts/ (ignored by git), for a
    /// person to look at.
    static func screenshot(_ page: URL, to name: String) throws -> (ChildProcess.Result, URL) {
        let artifacts = repositoryRoot.appendingPathComponent(".test-artifacts")
        try FileManager.default.createDirectory(at: artifacts, withIntermediateDirectories: true)
        let file = artifacts.appendingPathComponent(name)
        return (try chromium(["--window-size=1280,1600", "--screenshot=\(file.path)"], page), file)
    }

    static let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// Debian's chromium, headless, loads the dashboard; what it shows is read from the DOM
    /// it ends with, and a screenshot is kept in .test-artifacts/ (ignored by git).
    @Test func theDashboardInABrowserShowsTheLedgersCountsAndTheGallery() async throws {
        let (harness, server) = try await Self.processedDaemon(extra: "buckets:\n  size:\n    - {name: small, max_pixels: 262144}\n    - {name: large}")
        let ledger = try harness.ledger()
        let processed = try ledger.sources(inUnit: "study").values.compactMap { try ledger.content($0.sha256) }
            .filter { $0.outcome == .processed && $0.bucket != nil }
        let perBucket = Dictionary(grouping: processed, by: { $0.bucket! }).mapValues(\.count)
        let small = try #require(perBucket["small"])
        let page = URL(string: server.absoluteString + "?bucket=small")!
        let dom = try Self.chromium(["--dump-dom"], page)
        #expect(dom.status == 0, "\(dom.standardError)")
        let html = dom.standardOutput
        #expect(html.contains("data-loaded=\"1\""), "\(html.prefix(2000))")
        for (bucket, images) in perBucket {
            #expect(html.contains("data-bucket=\"\(bucket)\" data-images=\"\(images)\""), "\(bucket): \(images)")
        }
        #expect(html.contains("id=\"total-images\" data-images=\"\(processed.count)\""))
        #expect(html.contains("data-unit=\"study\" data-state=\"done\" data-files=\"9\""))
        #expect(html.contains("id=\"gallery\" class=\"gallery\" data-bucket=\"small\" data-count=\"\(min(small, 48))\""))
        let thumbnails = html.components(separatedBy: "class=\"thumb\"").count - 1
        #expect(thumbnails == min(small, 48), "\(thumbnails) thumbnails")
        #expect(html.components(separatedBy: "class=\"failure\"").count - 1 == 2)

        let (shot, screenshot) = try Self.screenshot(page, to: "dashboard.png")
        #expect(shot.status == 0)
        let picture = try PNGCodec.decode(try Data(contentsOf: screenshot))
        #expect(picture.width == 1280 && picture.height == 1600)
        #expect(await harness.stop() == 0)
    }

    /// `?image=NAME` opens an image's detail; its labels are listed and their boxes drawn
    /// over the picture in the image's pixel coordinates (a normalized box scaled to them).
    @Test func theDashboardDrawsAnImagesLabelledBoxesOverIt() async throws {
        let harness = try DaemonHarness(extraConfig: "http:\n  listen: 127.0.0.1:0\n")
        try harness.drop(["pydicom/test_files/CT_small.dcm"], into: "study")
        let uid = "1.3.6.1.4.1.5962.1.1.1.1.1.20040119072730.12322"
        try FileManager.default.createDirectory(at: harness.drop.appendingPathComponent("annotations"), withIntermediateDirectories: true)
        try """
            sop_instance_uid,label,x,y,width,height,units,annotator
            \(uid),nodule,10,20,30,40,,dr a
            \(uid),mass,0.5,0.5,0.25,0.125,normalized,dr b
            \(uid),calcification,,,,,,dr a
            """.write(to: harness.drop.appendingPathComponent("annotations/reads.csv"), atomically: true, encoding: .utf8)
        try harness.start()
        let ledger = try harness.ledger()
        let name = DaemonHarness.remapped(uid)
        #expect(await waitUntil(seconds: 30) { (try? ledger.annotationReports().first?.matched) == 3 }, "\(harness.logText())")
        let server = try #require(await Self.listeningAddress(in: harness))

        let detail = try await Self.get(server.appendingPathComponent("api/images/\(name)"))
        let document = try #require(try JSONSerialization.jsonObject(with: detail.body) as? [String: Any])
        let labels = try #require(document["labels"] as? [[String: Any]])
        #expect(labels.map { $0["label"] as? String } == ["nodule", "mass", "calcification"])
        #expect((labels[1]["box"] as? [String: Any])?["units"] as? String == "normalized" && labels[2]["box"] == nil)

        let page = URL(string: server.absoluteString + "?bucket=small&image=\(name)")!
        let dom = try Self.chromium(["--dump-dom"], page)
        #expect(dom.status == 0, "\(dom.standardError)")
        let html = dom.standardOutput
        #expect(html.contains("viewBox=\"0 0 128 128\""), "\(html.suffix(3000))")
        #expect(html.contains("<rect x=\"10\" y=\"20\" width=\"30\" height=\"40\" class=\"box\" stroke=\"#00ff00\" data-label=\"nodule\">"))
        #expect(html.contains("<rect x=\"64\" y=\"64\" width=\"32\" height=\"16\" class=\"box\" stroke=\"#ff0000\" data-label=\"mass\">"))
        #expect(html.components(separatedBy: "class=\"box\"").count - 1 == 2, "a label without a box draws nothing")
        #expect(html.components(separatedBy: "<tr data-label=").count - 1 == 3)

        let (shot, _) = try Self.screenshot(page, to: "dashboard-boxes.png")
        #expect(shot.status == 0)
        #expect(await harness.stop() == 0)
    }
}
