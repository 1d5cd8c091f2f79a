import Config
import Foundation

// libFuzzer entry point for watch.yaml loading (Sources/Config and Yams), linked by
// scripts/fuzz-configuration against the Config module built with `--sanitize fuzzer
// --sanitize address`. Every document must end in a configuration or a ConfigurationError
// that names the file and says what is wrong; a trap, a sanitizer report or a hang is a
// crash. Relative paths resolve under a folder that does not exist, so nothing is read.
// The loader's schema is a global made once, an enum whose payload pointers carry tag bits
// that LeakSanitizer cannot follow: made here, before the first input, it is not reported
// as a leak of whichever input happened to touch it first.
@_cdecl("LLVMFuzzerInitialize")
public func initializeConfigurationFuzzer(_ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>) -> CInt {
    _ = ConfigurationLoader.schemaKeys()
    _ = try? ConfigurationLoader.parse("workers: 1\n", file: "/nonexistent/dicomdrop-fuzz/watch.yaml")
    return 0
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzConfiguration(_ bytes: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    let yaml = String(decoding: UnsafeRawBufferPointer(start: bytes, count: count), as: UTF8.self)
    let file = "/nonexistent/dicomdrop-fuzz/watch.yaml"
    do {
        let configuration = try ConfigurationLoader.parse(yaml, file: file)
        guard configuration.workers > 0 else { abort() }
    } catch {
        guard error.description.contains(file), error.description.count > file.count else { abort() }
    }
    return 0
}
