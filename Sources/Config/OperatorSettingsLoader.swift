import Foundation
import Yams

/// `http:`, `webhooks:` and `log:`: what the operator sees and is told, none of which changes
/// an output (so none is part of the configuration digest).
extension ConfigurationLoader {
    struct RawHTTP: Decodable {
        var listen: String?
        var token: String?
    }

    struct RawWebhook: Decodable {
        var url: String
        var events: [String]?
        var secret: String?
        var attempts: Int?
    }

    struct RawLog: Decodable {
        var format: String?
        var level: String?
    }

    /// A bearer token shorter than this is guessable over a network.
    static let minimumTokenLength = 16

    static func validateOperatorSettings(_ raw: RawConfiguration, into configuration: inout WatchConfiguration,
                                         root: Node, file: String) throws(ConfigurationError) {
        if let http = raw.http {
            guard let listen = http.listen else {
                throw error(at: ["http"], in: root, file: file, "needs listen: host:port (e.g. 127.0.0.1:8470)")
            }
            guard let (host, port) = StatusServerConfiguration.parseListen(listen) else {
                throw error(at: [Key("http"), Key("listen")], in: root, file: file,
                            "must be host:port (127.0.0.1:8470, [::1]:8470), found \"\(listen)\"")
            }
            let server = StatusServerConfiguration(host: host, port: port, token: http.token)
            if let token = http.token, token.count < minimumTokenLength {
                throw error(at: [Key("http"), Key("token")], in: root, file: file,
                            "must be at least \(minimumTokenLength) characters (e.g. from `openssl rand -hex 24`)")
            }
            guard server.isLoopback || http.token != nil else {
                throw error(at: [Key("http"), Key("listen")], in: root, file: file,
                            "\(host) is reachable from other machines: set http.token, which every request must then carry "
                                + "(the server shows unit names and failure paths, which may name patients), or listen on 127.0.0.1")
            }
            configuration.statusServer = server
        }
        for (index, hook) in (raw.webhooks ?? []).enumerated() {
            let place: [any CodingKey] = [Key("webhooks"), Key(index: index)]
            guard let url = URL(string: hook.url), let scheme = url.scheme?.lowercased(), scheme == "http" || scheme == "https",
                  url.host != nil else {
                throw error(at: place + [Key("url")], in: root, file: file, "must be an http:// or https:// address, found \"\(hook.url)\"")
            }
            var events = Set<WebhookEvent>()
            for (position, name) in (hook.events ?? WebhookEvent.allCases.map(\.rawValue)).enumerated() {
                guard let event = WebhookEvent(rawValue: name) else {
                    throw error(at: place + [Key("events"), Key(index: position)], in: root, file: file,
                                "unknown event \"\(name)\"; known: \(WebhookEvent.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                events.insert(event)
            }
            guard !events.isEmpty else {
                throw error(at: place + [Key("events")], in: root, file: file, "must name at least one event")
            }
            if let attempts = hook.attempts, !(1...20).contains(attempts) {
                throw error(at: place + [Key("attempts")], in: root, file: file, "must be between 1 and 20, found \(attempts)")
            }
            if let secret = hook.secret, secret.isEmpty {
                throw error(at: place + [Key("secret")], in: root, file: file, "must not be empty (leave it out to send unsigned)")
            }
            configuration.webhooks.append(WebhookConfiguration(url: url, events: events, secret: hook.secret, attempts: hook.attempts ?? 5))
        }
        if let log = raw.log {
            if let format = log.format {
                guard let known = LogConfiguration.Format(rawValue: format) else {
                    throw error(at: [Key("log"), Key("format")], in: root, file: file, "must be text or json, found \"\(format)\"")
                }
                configuration.log.format = known
            }
            if let level = log.level {
                guard let known = LogConfiguration.Level(rawValue: level) else {
                    throw error(at: [Key("log"), Key("level")], in: root, file: file,
                                "must be one of \(LogConfiguration.Level.allCases.map(\.rawValue).joined(separator: ", ")), found \"\(level)\"")
                }
                configuration.log.level = known
            }
        }
    }
}
