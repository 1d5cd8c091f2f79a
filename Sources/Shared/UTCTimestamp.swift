import Foundation

/// `2026-12-02T08:00:00Z`: ISO 8601 in UTC to the second, as the ledger stores times and the
/// status API shows them. Made with gmtime_r: Foundation's ISO8601DateFormatter builds an ICU
/// formatter each time it is made (most of a status request's CPU, measured with perf).
public enum UTCTimestamp {
    public static func string(_ date: Date) -> String {
        var seconds = time_t(date.timeIntervalSince1970.rounded(.down))
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday))T\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec))Z"
    }
}
