import Foundation

/// The only files the status server serves: PNG and JSON outputs under the output directory,
/// named by their path relative to it. A path that would leave it (`..`, an absolute path, a
/// symbolic link pointing out, a NUL) or names a dot file (a write in progress) resolves to
/// nothing.
struct OutputFiles: Sendable {
    /// The output directory with every symbolic link resolved.
    let root: String

    init(output: URL) {
        root = output.resolvingSymlinksInPath().standardizedFileURL.path
    }

    static let servedExtensions: Set<String> = ["png", "json"]

    /// The file's absolute path, or nil when `segments` (percent-encoded, as in the URL) do not
    /// name a served file inside the output directory.
    func resolve(_ segments: [String]) -> String? {
        var parts: [String] = []
        for segment in segments {
            // A dot name is no output: `.dicomdrop-tmp-*` are writes in progress.
            guard let part = String(segment).removingPercentEncoding, !part.isEmpty, !part.hasPrefix("."),
                  !part.contains("/"), !part.contains("\0") else { return nil }
            parts.append(part)
        }
        guard let last = parts.last, Self.servedExtensions.contains((last as NSString).pathExtension.lowercased()) else { return nil }
        let candidate = root + "/" + parts.joined(separator: "/")
        // A link inside the output directory may point anywhere: the real path decides.
        guard let real = realpath(candidate, nil) else { return nil }
        defer { free(real) }
        let resolved = String(cString: real)
        guard resolved.hasPrefix(root + "/") else { return nil }
        var status = stat()
        guard stat(resolved, &status) == 0, (status.st_mode & S_IFMT) == S_IFREG else { return nil }
        return resolved
    }
}
