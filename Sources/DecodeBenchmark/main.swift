import DICOM
import Foundation
import Imaging
import Shared

// Times dicomdrop's decoding of every frame of the compressed files listed on standard
// input (the same files scripts/bench_decode.py gives pydicom + pylibjpeg), on one thread:
// each file read and parsed beforehand, decoded once to warm up, then the fastest of
// --repeat passes over its frames. Used by scripts/bench-decode.
//   dicomdrop-decode-bench [--repeat N] [--json OUT] < files
// Output: the JSON shape of scripts/bench_decode.py, keyed by Transfer Syntax UID plus "total".

struct Row: Codable {
    var frames = 0
    var megapixels = 0.0
    var seconds = 0.0
    var mp_per_s = 0.0
}

var repeats = 5
var jsonPath: String?
var arguments = CommandLine.arguments.dropFirst()
while let argument = arguments.popFirst() {
    switch argument {
    case "--repeat": repeats = Int(arguments.popFirst() ?? "") ?? repeats
    case "--json": jsonPath = arguments.popFirst()
    default: FileHandle.standardError.write(Data("unknown argument \(argument)\n".utf8)); exit(2)
    }
}

let clock = ContinuousClock()
var rows: [String: Row] = [:]
for path in AnyIterator({ readLine() }) where !path.isEmpty {
    do {
        let file = try DICOMFile.read(path: path)
        let decoder = try PixelDecoder(dataSet: file.dataSet, transferSyntax: file.transferSyntax)
        func decodeAll() throws -> Int {
            var bytes = 0
            for frame in 0..<decoder.frameCount { bytes += try decoder.nativeFrame(frame).bytes.count }
            return bytes
        }
        _ = try decodeAll()
        var fastest = Double.infinity
        for _ in 0..<max(1, repeats) {
            let start = clock.now
            _ = try decodeAll()
            fastest = min(fastest, (clock.now - start).inSeconds)
        }
        let megapixels = Double(decoder.layout.pixelsPerFrame * decoder.frameCount) / 1e6
        for key in [file.transferSyntax.uid, "total"] {
            rows[key, default: Row()].frames += decoder.frameCount
            rows[key, default: Row()].megapixels += megapixels
            rows[key, default: Row()].seconds += fastest
        }
    } catch {
        FileHandle.standardError.write(Data("\(path): \(error)\n".utf8))
        exit(1)
    }
}
for key in rows.keys { rows[key]!.mp_per_s = rows[key]!.megapixels / rows[key]!.seconds }
print("decode: dicomdrop, PixelDecoder.nativeFrame, fastest of \(repeats), one thread")
for key in rows.keys.sorted(by: { ($0 == "total" ? 1 : 0, $0) < ($1 == "total" ? 1 : 0, $1) }) {
    let row = rows[key]!
    print("  \(key): frames=\(row.frames) megapixels=\(String(format: "%.3f", row.megapixels)) "
          + "seconds=\(String(format: "%.4f", row.seconds)) mp_per_s=\(String(format: "%.1f", row.mp_per_s))")
}
if let jsonPath {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    try encoder.encode(rows).write(to: URL(fileURLWithPath: jsonPath))
}
