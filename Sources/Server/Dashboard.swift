/// The dashboard's page, style and script, compiled into the binary (SwiftPM's
/// `embedInCode`): no files to install, no build step, one version with the server.
enum Dashboard {
    static let files: [(path: String, resource: [UInt8], type: String)] = [
        ("/", PackageResources.index_html, "text/html; charset=utf-8"),
        ("/index.html", PackageResources.index_html, "text/html; charset=utf-8"),
        ("/dashboard.css", PackageResources.dashboard_css, "text/css; charset=utf-8"),
        ("/dashboard.js", PackageResources.dashboard_js, "text/javascript; charset=utf-8"),
    ]
}
