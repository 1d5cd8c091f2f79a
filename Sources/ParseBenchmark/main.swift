import DICOM
import Foundation
import Shared

// Times metadata-only parsing (stop before Pixel Data) of the files listed on standard
// input, one path per line, on one thread; used by scripts/bench-parse. Prints one line:
// `files=N elements=E seconds=S files_per_second=F failures=X`.

let paths = AnyIterator { readLine() }.filter { !$0.isEmpty }
let options = ReadOptions(stopBeforePixelData: true)
var elements = 0
var failures = 0
// Warm-up outside the clock, as pydicom's import is outside its timing: the first read
// builds the data dictionary.
if let first = paths.first { _ = try? DICOMFile.read(path: first, options: options) }
let start = ContinuousClock.now
for path in paths {
    do {
        elements += try DICOMFile.read(path: path, options: options).dataSet.count
    } catch {
        failures += 1
    }
}
let elapsed = ContinuousClock.now - start
let seconds = elapsed.inSeconds
print("files=\(paths.count) elements=\(elements) seconds=\(seconds) files_per_second=\(Double(paths.count) / seconds) failures=\(failures)")
