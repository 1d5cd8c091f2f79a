import ArgumentParser
import DICOM
import Foundation
import Logging

/// `dicomdrop dump FILE...`: each file's dataset as DICOM JSON, one document per line.
struct Dump: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print each file's dataset as DICOM JSON (PS3.18 F.2), one document per line.",
        discussion: """
            A file that cannot be read is reported on standard error with the reason, the
            other files are still printed, and the exit code is 1.
            """
    )

    @Argument(help: "DICOM files to print.")
    var files: [String]

    @Flag(help: "Indent the JSON for reading.")
    var pretty = false

    @Flag(help: "Include top-level Pixel Data as InlineBinary.")
    var pixelData = false

    func run() throws {
        let logger = Logger(label: "dicomdrop.dump")
        let encoder = DICOMJSONEncoder(includePixelData: pixelData, prettyPrinted: pretty)
        // The whole file is read: elements after Pixel Data (trailing padding, ...) belong to
        // the dataset too, and a truncated Pixel Data must be reported. Mapping the file
        // means the pixel bytes themselves are only touched with --pixel-data.
        let options = ReadOptions()
        var failures = 0
        for path in files {
            do {
                let file = try DICOMFile.read(path: path, options: options)
                for warning in file.warnings {
                    logger.warning("\(path): \(warning)")
                }
                print(encoder.encode(file.dataSet))
            } catch {
                failures += 1
                FileHandle.standardError.write(Data("dicomdrop: \(error)\n".utf8))
            }
        }
        if failures > 0 { throw ExitCode(1) }
    }
}
