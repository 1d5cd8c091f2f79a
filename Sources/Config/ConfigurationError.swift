/// Why watch.yaml cannot be used: the file, the place in it, the key, and what is wrong.
public struct ConfigurationError: Error, Sendable, Equatable, CustomStringConvertible {
    public let file: String
    /// 1-based; nil when the problem is the file as a whole (unreadable, empty).
    public let line: Int?
    public let column: Int?
    /// The dotted key path (`buckets.size[1].max_pixels`), or nil for the file as a whole.
    public let key: String?
    public let message: String

    public init(file: String, line: Int? = nil, column: Int? = nil, key: String? = nil, message: String) {
        self.file = file
        self.line = line
        self.column = column
        self.key = key
        self.message = message
    }

    /// `watch.yaml:7:17: settle_seconds: must be a number of seconds >= 0, found "soon"`.
    public var description: String {
        var place = file
        if let line { place += ":\(line)" }
        if let column { place += ":\(column)" }
        return key.map { "\(place): \($0): \(message)" } ?? "\(place): \(message)"
    }
}
