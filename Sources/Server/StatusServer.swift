import Config
import Foundation
import HTTPTypes
import Hummingbird
import Ledger
import Logging
import NIOCore
import Pipeline
import ServiceLifecycle

/// The status server (Hummingbird 2) as a service of the daemon's group: the JSON API,
/// `/metrics`, the dashboard and the output files it shows (docs/STATUS-SERVER.md). It
/// reads the ledger (WAL: never in the writer's way) and the live state; it writes nothing.
public struct StatusServer: Service {
    let settings: StatusServerConfiguration
    let ledger: Ledger
    let live: LiveState
    let exporter: MetricsExporter?
    let output: URL
    let database: URL
    let version: String
    /// False for --once and --reprocess, which have no change source.
    let watching: Bool
    let logger: Logger

    public init(settings: StatusServerConfiguration, ledger: Ledger, live: LiveState, exporter: MetricsExporter?,
                configuration: WatchConfiguration, version: String, watching: Bool, logger: Logger) {
        self.settings = settings
        self.ledger = ledger
        self.live = live
        self.exporter = exporter
        self.output = configuration.output
        self.database = configuration.database
        self.version = version
        self.watching = watching
        self.logger = logger
    }

    public func run() async throws {
        let router = Router()
        router.add(middleware: SafetyHeaders())
        if let token = settings.token {
            router.add(middleware: BearerToken(token: token))
        } else {
            router.add(middleware: LoopbackHost(port: settings.port, configuredHost: settings.host))
        }
        addRoutes(to: router)
        let address = settings.host.contains(":") ? "[\(settings.host)]" : settings.host
        let app = Application(
            router: router,
            configuration: ApplicationConfiguration(address: .hostname(settings.host, port: settings.port), serverName: "dicomdrop"),
            onServerRunning: { [logger] channel in
                // Port 0 asks the system for a free port: the log says which (tests read it).
                logger.info("status server listening on http://\(address):\(channel.localAddress?.port ?? settings.port)/")
            },
            logger: logger)
        // `run`, not `runService`: the daemon's group owns the signals and shuts the server
        // down in its turn (runService would catch SIGTERM itself and could end the server,
        // and with it the group, before the files in hand are done).
        try await app.run()
    }

    func addRoutes(to router: Router<BasicRequestContext>) {
        let ledger = ledger, live = live, exporter = exporter, files = OutputFiles(output: output)
        let thumbnails = ThumbnailCache()
        // SQLite reads and file reads block for milliseconds (more on a large ledger), and a
        // thumbnail is tens of milliseconds of CPU: neither may hold one of the cooperative
        // pool's threads, which the scheduling loop and the runs' bookkeeping share.
        let reads = BlockingWork(label: "dicomdrop.status-reads", concurrent: true)
        let thumbnailing = BlockingWork(label: "dicomdrop.thumbnails", concurrent: false)
        // Up to a second old (docs/STATUS-SERVER.md): what the ledger's summaries cost is then
        // bounded whatever the clients' number and rate.
        let documents = RecentAnswers<Data>(), bucketRows = RecentAnswers<[Ledger.BucketRow]>()
        @Sendable func buckets() async throws -> [Ledger.BucketRow] {
            try await bucketRows.answer { try await reads.run { try ledger.bucketRows() } }
        }
        let (version, watching, output, database) = (version, watching, output, database)

        router.get("/api/health") { _, _ in
            // statvfs of a hung network mount would block: off the pool too.
            let snapshot = live.snapshot
            let health = try await reads.run {
                StatusDocuments.health(snapshot, version: version, watching: watching, output: output, ledger: database)
            }
            return json(StatusDocuments.encode(health), status: health.ok ? .ok : .serviceUnavailable)
        }
        router.get("/api/units") { _, _ in
            json(try await documents.answer("units") {
                StatusDocuments.encode(StatusDocuments.Units(units: try await reads.run { try ledger.unitRows() }))
            })
        }
        router.get("/api/runs") { request, _ in
            let query = request.uri.queryParameters
            let limit = try limitParameter(query["limit"], default: 50, maximum: 1000)
            let unit = query["unit"].map(String.init)
            return json(try await documents.answer("runs \(String(describing: unit)) \(limit)") {
                StatusDocuments.encode(StatusDocuments.Runs(runs: try await reads.run { try ledger.recentRuns(unit: unit, limit: limit) }))
            })
        }
        router.get("/api/buckets") { _, _ in
            json(StatusDocuments.encode(StatusDocuments.Buckets(try await buckets())))
        }
        router.get("/api/failures") { request, _ in
            let limit = try limitParameter(request.uri.queryParameters["limit"], default: 100, maximum: 1000)
            return json(try await documents.answer("failures \(limit)") {
                StatusDocuments.encode(StatusDocuments.Failures(failures: try await reads.run { try ledger.recentFailures(limit: limit) }))
            })
        }
        router.get("/api/throughput") { _, _ in
            json(try await documents.answer("throughput") {
                let now = Date()
                let counts = try await reads.run { try ledger.contentsPerMinute(since: now.addingTimeInterval(-3600)) }
                return StatusDocuments.encode(StatusDocuments.Throughput.lastHour(counts, now: now))
            })
        }
        router.get("/api/images") { request, _ in
            let query = request.uri.queryParameters
            let limit = try limitParameter(query["limit"], default: 48, maximum: 500)
            let (bucket, after) = (query["bucket"].map(String.init), query["after"].map(String.init))
            if let after, !after.contains("/") {
                throw HTTPError(.badRequest, message: "after must be a cursor DIRECTORY/NAME, as the last page's next")
            }
            // One more than asked: the last page is the one with nothing after it.
            let rows = try await reads.run { try ledger.imageRows(bucket: bucket, after: after, limit: limit + 1) }
            let page = Array(rows.prefix(limit))
            let next = rows.count > limit ? page.last.map { "\($0.directory)/\($0.name)" } : nil
            return json(StatusDocuments.encode(StatusDocuments.Images(images: page.map(StatusDocuments.Image.init), next: next)))
        }
        router.get("/api/images/{name}") { request, context in
            let name = try context.parameters.require("name")
            let bucket = request.uri.queryParameters["bucket"].map(String.init)
            guard let detail = try await reads.run({ try ledger.imageDetail(name: name.removingPercentEncoding ?? name, bucket: bucket) }) else {
                throw HTTPError(.notFound, message: "no image \(name)")
            }
            return json(StatusDocuments.imageDetail(detail))
        }
        router.get("/files/**") { _, context in
            let segments = context.parameters.getCatchAll().map(String.init)
            guard let path = try await reads.run({ files.resolve(segments) }) else { throw HTTPError(.notFound) }
            let data = try await reads.run { try Data(contentsOf: URL(fileURLWithPath: path)) }
            return respond(data, type: path.hasSuffix(".png") ? "image/png" : "application/json")
        }
        router.get("/thumbnails/**") { request, context in
            let segments = context.parameters.getCatchAll().map(String.init)
            guard let path = try await reads.run({ files.resolve(segments) }), path.hasSuffix(".png") else { throw HTTPError(.notFound) }
            let side = try limitParameter(request.uri.queryParameters["size"], default: 256, maximum: 1024, minimum: 16)
            let png = try await thumbnailing.run { try thumbnails.thumbnail(of: path, longestSide: side) }
            return respond(png, type: "image/png", cache: "private, max-age=60")
        }
        router.get("/metrics") { _, _ in
            guard let exporter else { throw HTTPError(.notFound, message: "metrics are not collected in this process") }
            let body = exporter.scrape(live: live.snapshot, buckets: (try? await buckets()) ?? [])
            return respond(Data(body), type: "text/plain; version=0.0.4; charset=utf-8")
        }
        for (path, resource, type) in Dashboard.files {
            router.get(RouterPath(path)) { _, _ in respond(Data(resource), type: type, cache: "no-cache") }
        }
    }
}

/// `Authorization: Bearer TOKEN`, or `?token=TOKEN` (an <img> cannot send a header); the
/// dashboard's own page, style and script are served without it (they hold no data).
struct BearerToken: RouterMiddleware {
    typealias Context = BasicRequestContext
    let token: String

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if Dashboard.files.contains(where: { $0.path == request.uri.path }) { return try await next(request, context) }
        let header = request.headers[.authorization].map { $0.hasPrefix("Bearer ") ? String($0.dropFirst(7)) : "" }
        let given = header ?? request.uri.queryParameters["token"].map(String.init)
        guard let given, Self.equalInConstantTime(given, token) else {
            return Response(status: .unauthorized, headers: [.wwwAuthenticate: "Bearer realm=\"dicomdrop\""])
        }
        return try await next(request, context)
    }

    /// Comparing byte by byte up to the first difference would tell an attacker, by timing,
    /// how much of a guess is right.
    static func equalInConstantTime(_ a: String, _ b: String) -> Bool {
        let left = Array(a.utf8), right = Array(b.utf8)
        guard left.count == right.count else { return false }
        return zip(left, right).reduce(0) { $0 | ($1.0 ^ $1.1) } == 0
    }
}

/// Without a token, only requests addressed to this machine by name or loopback address: a
/// web page the operator opens could otherwise point its own host name at 127.0.0.1 (DNS
/// rebinding) and read the API through the operator's browser.
struct LoopbackHost: RouterMiddleware {
    typealias Context = BasicRequestContext
    let port: Int
    let configuredHost: String

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let host = request.head.authority ?? ""
        guard Self.isLocal(host, configuredHost: configuredHost) else {
            return Response(status: .misdirectedRequest)
        }
        return try await next(request, context)
    }

    /// `localhost`, `127.x.y.z`, `[::1]` or the configured host, with any port.
    static func isLocal(_ authority: String, configuredHost: String) -> Bool {
        var name = Substring(authority.lowercased())
        if name.hasPrefix("["), let close = name.firstIndex(of: "]") {
            name = name[name.index(after: name.startIndex)..<close]
        } else if let colon = name.lastIndex(of: ":") {
            name = name[..<colon]
        }
        return name == "localhost" || name == configuredHost.lowercased() || StatusServerConfiguration.isLoopbackAddress(String(name))
    }
}

/// What every answer carries: no sniffing a JSON or PNG as HTML, no framing, scripts and
/// images from this server only, and no token leaving in a Referer.
struct SafetyHeaders: RouterMiddleware {
    typealias Context = BasicRequestContext
    static let referrerPolicy = HTTPField.Name("Referrer-Policy")!

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var response: Response
        do {
            response = try await next(request, context)
        } catch let error as HTTPResponseError {
            response = try error.response(from: request, context: context)
        }
        response.headers[.xContentTypeOptions] = "nosniff"
        response.headers[.contentSecurityPolicy] = "default-src 'self'; img-src 'self'; frame-ancestors 'none'"
        response.headers[Self.referrerPolicy] = "no-referrer"
        return response
    }
}

private func json(_ data: Data, status: HTTPResponse.Status = .ok) -> Response {
    respond(data, type: "application/json", status: status)
}

private func respond(_ data: Data, type: String, status: HTTPResponse.Status = .ok, cache: String = "no-store") -> Response {
    Response(status: status, headers: [.contentType: type, .cacheControl: cache],
             body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
}

/// `limit`, `size`: a whole number in range, or the default when absent; anything else is a 400.
private func limitParameter(_ text: Substring?, default fallback: Int, maximum: Int, minimum: Int = 1) throws -> Int {
    guard let text else { return fallback }
    guard let value = Int(text), (minimum...maximum).contains(value) else {
        throw HTTPError(.badRequest, message: "expected a whole number from \(minimum) to \(maximum), found \(text)")
    }
    return value
}

/// Blocking work (SQLite, file reads, thumbnails) on a dispatch queue's threads, awaited
/// without holding a thread of the cooperative pool.
struct BlockingWork: Sendable {
    let queue: DispatchQueue

    init(label: String, concurrent: Bool) {
        queue = DispatchQueue(label: label, qos: .utility, attributes: concurrent ? [.concurrent] : [])
    }

    func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            queue.async { continuation.resume(with: Result { try body() }) }
        }
    }
}
