import ArgumentParser
import Foundation
import Imaging

/// `dicomdrop quality PNG...`: the quality features of PNG files, one JSON object per line,
/// as the daemon computes them for its own renders: what scripts/fit-quality-model learns from.
struct Quality: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the quality features of PNG images, one JSON object per line.",
        discussion: """
            The features are those the daemon stores in the ledger's image_quality table and
            a quality model (quality.model) is fitted on. A file that is not a readable PNG
            is reported on standard error with the reason, and the exit code is 1.
            """
    )

    @Argument(help: "PNG files.")
    var files: [String]

    func run() throws {
        var failed = false
        for path in files {
            do {
                guard let bytes = FileManager.default.contents(atPath: path) else {
                    throw PNGCodec.Failure(message: "cannot be read")
                }
                let features = QualityFeatures.measure(try PNGCodec.decode(bytes))
                var object: [String: Any] = ["file": path]
                for (name, value) in zip(QualityFeatures.names, features.values) { object[name] = value }
                let line = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
                FileHandle.standardOutput.write(line + Data("\n".utf8))
            } catch {
                FileHandle.standardError.write(Data("dicomdrop quality: \(path): \(error)\n".utf8))
                failed = true
            }
        }
        if failed { throw ExitCode(1) }
    }
}
