import DICOM
import Foundation
import Imaging
import Testing
import TestSupport

/// Debian's chromium opens PNGs of the fast encoder: each is drawn on a canvas and its pixels
/// summed in the page; the sums equal the rasters'. A decoder other than libpng and zlib
/// (the tests' own readers) accepts every block kind the encoder writes.
@Suite struct FastPNGInBrowserTests {
    /// Sum over every pixel of (R + 2G + 3B) · (its index mod 251 + 1), mod 2^32: position and
    /// channel matter.
    static func checksum(_ raster: Raster) -> UInt32 {
        var sum: UInt32 = 0
        for pixel in 0..<(raster.width * raster.height) {
            let rgb = raster.channels == 1 ? [raster.pixels[pixel], raster.pixels[pixel], raster.pixels[pixel]]
                : Array(raster.pixels[(pixel * 3)..<(pixel * 3 + 3)])
            let weight = UInt32(pixel % 251 + 1)
            sum &+= (UInt32(rgb[0]) &+ 2 &* UInt32(rgb[1]) &+ 3 &* UInt32(rgb[2])) &* weight
        }
        return sum
    }

    @Test func chromiumDrawsFastPNGsWithTheirPixels() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("fast-png-browser-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        var rasters: [Raster] = []
        var generator = SeededGenerator(seed: "browser")
        // Flat (runs), noise (stored blocks) and a gradient with noise, grey and RGB, odd widths.
        for (index, width) in [1, 2, 7, 64, 255, 300, 513].enumerated() {
            let height = 1 + index * 13
            for channels in [1, 3] {
                for texture in 0..<3 {
                    var pixels = [UInt8](repeating: 0, count: width * height * channels)
                    for sample in pixels.indices {
                        switch texture {
                        case 0: pixels[sample] = 180
                        case 1: pixels[sample] = UInt8.random(in: 0...255, using: &generator)
                        default: pixels[sample] = UInt8(truncatingIfNeeded: sample / channels % width * 3 + sample % channels * 40)
                            &+ (UInt8.random(in: 0...9, using: &generator) == 0 ? 17 : 0)
                        }
                    }
                    rasters.append(Raster(width: width, height: height, channels: channels, bitDepth: 8, pixels: pixels))
                }
            }
        }
        let corpus = StatusServerTests.repositoryRoot.appendingPathComponent("corpus/files/pydicom/test_files")
        for name in ["CT_small.dcm", "MR_small.dcm", "SC_rgb_small_odd.dcm"] {
            let file = try DICOMFile.read(path: corpus.appendingPathComponent(name).path)
            rasters.append(try ImageRenderer(dataSet: file.dataSet, transferSyntax: file.transferSyntax).render(frame: 0))
        }
        var expected: [String] = []
        for (index, raster) in rasters.enumerated() {
            try FastPNGEncoder.encode(raster).write(to: folder.appendingPathComponent("\(index).png"))
            expected.append("\(index):\(raster.width)x\(raster.height):\(Self.checksum(raster))")
        }
        let page = folder.appendingPathComponent("check.html")
        try """
        <!doctype html><html><body><pre id="out">pending</pre><script>
        const count = \(rasters.count);
        async function check(index) {
          const image = new Image();
          image.src = index + ".png";
          await image.decode();
          const canvas = document.createElement("canvas");
          canvas.width = image.naturalWidth; canvas.height = image.naturalHeight;
          const context = canvas.getContext("2d");
          context.drawImage(image, 0, 0);
          const data = context.getImageData(0, 0, canvas.width, canvas.height).data;
          let sum = 0;
          for (let pixel = 0; pixel < canvas.width * canvas.height; pixel++) {
            const value = data[pixel * 4] + 2 * data[pixel * 4 + 1] + 3 * data[pixel * 4 + 2];
            sum = (sum + Math.imul(value, pixel % 251 + 1)) >>> 0;
          }
          return index + ":" + canvas.width + "x" + canvas.height + ":" + sum;
        }
        // All at once: awaited one after another, they outlast chromium's virtual time.
        Promise.all(Array.from({length: count}, (_, index) => check(index).catch(error => index + ":error:" + error)))
          .then(lines => { document.getElementById("out").textContent = lines.join(" "); });
        </script></body></html>
        """.write(to: page, atomically: true, encoding: .utf8)
        let result = try StatusServerTests.chromium(["--allow-file-access-from-files", "--dump-dom"], page)
        let shown = result.standardOutput.components(separatedBy: "<pre id=\"out\">").dropFirst().first?
            .components(separatedBy: "</pre>").first ?? "no output: \(result.standardError.suffix(500))"
        #expect(shown.split(separator: " ").map(String.init) == expected)
    }
}
