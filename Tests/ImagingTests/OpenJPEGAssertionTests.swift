import Foundation
@testable import Imaging
import Testing

/// Debian's OpenJPEG keeps its assert()s, and its HTJ2K decoder asserts on codestreams that
/// damaged or crafted files hold: glibc's assert aborts the process, so one such file
/// stopped the daemon, and every restart met it again. The fixture is the frame fuzz-pixels
/// found (an HTJ2K codestream of a 512 x 512 image, mutated): it fails `mel_init`'s
/// assertion in ht_dec.c. It must come back as the frame's error, with the assertion's
/// words, and leave the decoder usable.
@Suite struct OpenJPEGAssertionTests {
    static let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("Fixtures/htj2k-mel-assertion.j2c")

    @Test func anAssertionInsideOpenJPEGFailsTheFrameNotTheProcess() throws {
        let frame = try Data(contentsOf: Self.fixture)
        for _ in 0..<3 {  // again and again: nothing left behind that a later decode trips on
            #expect {
                _ = try OpenJPEGDecoder.decode(frame)
            } throws: { error in
                guard let error = error as? RenderError, case .corruptFrame(let reason) = error else { return false }
                return reason.contains("ht_dec.c") && reason.contains("assertion") && reason.contains("mel_init")
            }
        }
        // The same decoder still decodes: the codestream's first bytes (its main header) are
        // read as before, and a cut codestream fails with OpenJPEG's own message.
        #expect {
            _ = try OpenJPEGDecoder.decode(frame.prefix(600))
        } throws: { error in
            guard let error = error as? RenderError, case .corruptFrame(let reason) = error else { return false }
            return reason.hasPrefix("OpenJPEG: ") && !reason.contains("assertion")
        }
    }
}
