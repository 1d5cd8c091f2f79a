import Foundation

/// `http.*`: the status server (off unless `listen` is set).
public struct StatusServerConfiguration: Sendable, Equatable {
    /// An IPv4 or IPv6 address, or `localhost`.
    public var host: String
    /// 0: the system picks a free port (the log says which).
    public var port: Int
    /// Bearer token every request must carry; required unless `host` is loopback.
    public var token: String?

    public init(host: String, port: Int, token: String? = nil) {
        self.host = host
        self.port = port
        self.token = token
    }

    /// 127.0.0.0/8, ::1 and localhost: only this machine can connect.
    public var isLoopback: Bool {
        host == "localhost" || Self.isLoopbackAddress(host)
    }

    /// A numeric address in 127.0.0.0/8, or ::1 (a host name that merely starts with
    /// "127." is not one).
    public static func isLoopbackAddress(_ text: String) -> Bool {
        var v4 = in_addr(), v6 = in6_addr()
        if inet_pton(AF_INET, text, &v4) == 1 { return UInt32(bigEndian: v4.s_addr) >> 24 == 127 }
        guard inet_pton(AF_INET6, text, &v6) == 1 else { return false }
        return withUnsafeBytes(of: &v6) { bytes in bytes.dropLast().allSatisfy { $0 == 0 } && bytes.last == 1 }
    }

    /// `127.0.0.1:8470`, `[::1]:8470`, `0.0.0.0:8470`; nil when it is not host:port.
    public static func parseListen(_ text: String) -> (host: String, port: Int)? {
        let host: Substring, portText: Substring
        if text.hasPrefix("["), let close = text.firstIndex(of: "]") {
            host = text[text.index(after: text.startIndex)..<close]
            let rest = text[text.index(after: close)...]
            guard rest.hasPrefix(":") else { return nil }
            portText = rest.dropFirst()
        } else {
            guard let colon = text.lastIndex(of: ":"), !text[..<colon].contains(":") else { return nil }
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
        }
        guard !host.isEmpty, let port = Int(portText), (0...65535).contains(port) else { return nil }
        return (String(host), port)
    }
}

/// What a webhook can be told.
public enum WebhookEvent: String, Sendable, CaseIterable, Codable {
    /// A run of a unit ended with every file's outcome recorded.
    case unitDone = "unit_done"
    /// A run failed (the ledger or the output could not record it), or recorded failed files.
    case unitFailed = "unit_failed"
    /// A run's expectations failed validation: its verdict is `failed_validation`.
    case validationFailed = "validation_failed"
    /// The inotify queue overflowed: events were lost and a rescan catches up.
    case overflow
    /// Processing paused because the output filesystem refuses writes.
    case diskFull = "disk_full"
}

/// One entry of `webhooks:`.
public struct WebhookConfiguration: Sendable, Equatable {
    public var url: URL
    public var events: Set<WebhookEvent>
    /// Signs each body with HMAC-SHA256 (header `X-Dicomdrop-Signature: sha256=<hex>`).
    public var secret: String?
    /// Deliveries tried at most this many times, with exponential backoff between them.
    public var attempts: Int

    public init(url: URL, events: Set<WebhookEvent>, secret: String? = nil, attempts: Int = 5) {
        self.url = url
        self.events = events
        self.secret = secret
        self.attempts = attempts
    }
}

/// `log.*`: how log lines look and which are written.
public struct LogConfiguration: Sendable, Equatable {
    public enum Format: String, Sendable {
        /// `2026-12-02T08:00:00+0000 info dicomdrop: ...`, for a terminal.
        case text
        /// One JSON object per line, for journald, Loki or jq.
        case json
    }

    /// swift-log's levels, by the names it prints.
    public enum Level: String, Sendable, CaseIterable {
        case trace, debug, info, notice, warning, error, critical
    }

    public var format = Format.text
    public var level = Level.info

    public init() {}
}
