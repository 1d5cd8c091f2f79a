import Foundation

// libFuzzer entry point for the DICOM reader, compiled together with Sources/DICOM by
// scripts/fuzz-reader (`swiftc -sanitize=fuzzer,address`). Every input must end in a
// dataset or a DICOMError: a trap, an overflow or a hang is a bug.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzReader(_ bytes: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    let data = Data(bytes: bytes, count: count)
    for options in [ReadOptions(), ReadOptions(stopBeforePixelData: true)] {
        guard let file = try? DICOMFile(data: data, options: options) else { continue }
        _ = DICOMJSONEncoder().encode(file.dataSet)
        _ = try? file.dataSet.encapsulatedFrames()
        if let written = try? DICOMWriter.part10(file.dataSet) {
            _ = try? DICOMFile(data: written)
        }
    }
    return 0
}
