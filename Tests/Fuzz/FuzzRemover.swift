import Foundation

// libFuzzer entry point for the text removal of compressed frames (JPEG, JPEG-LS, JPEG 2000
// and JP2 walkers), compiled together with Sources/DICOM and CompressedTextRemover.swift
// by scripts/fuzz-remover. Each input is one frame; every walker must return (cleaned or
// not) without a trap, and never hand back more bytes than it was given.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzRemover(_ bytes: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    let frame = Data(bytes: bytes, count: count)
    for jpegLS in [false, true] {
        if let (cleaned, _) = CompressedTextRemover.jpeg(frame, jpegLS: jpegLS), cleaned.count > frame.count { abort() }
    }
    if let result = CompressedTextRemover.jpeg2000(frame), result.bytes.count > frame.count { abort() }
    _ = CompressedTextRemover.jp2Codestream(frame)
    return 0
}
