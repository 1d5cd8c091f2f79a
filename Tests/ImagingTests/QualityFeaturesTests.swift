import Foundation
@testable import Imaging
import Testing
import TestSupport

/// The quality features on images whose answers are known by hand.
@Suite struct QualityFeaturesTests {
    static func gray(_ width: Int, _ height: Int, _ value: (Int, Int) -> UInt8) -> Raster {
        Raster(width: width, height: height, channels: 1, bitDepth: 8,
               pixels: (0..<height).flatMap { row in (0..<width).map { value(row, $0) } })
    }

    @Test func aFlatImageHasNoSpreadNoEdgesAndIsAllUniform() {
        let features = QualityFeatures.measure(Self.gray(64, 64) { _, _ in 77 })
        #expect(features.mean == 77 && features.std == 0 && features.p1 == 77 && features.p99 == 77)
        #expect(features.uniformFraction == 1 && features.laplacianVariance == 0 && features.sharpness == 0)
        #expect(features.darkestFraction == 1 && features.brightestFraction == 1)
    }

    /// The names come from Shared (the ledger's columns); the values from Imaging: each
    /// name must pick out its own value.
    @Test func eachFeatureNameNamesItsOwnValue() {
        let features = QualityFeatures.measure(Self.gray(64, 64) { row, column in UInt8((row * 7 + column * 3) % 256) })
        #expect(QualityFeatures.names.count == features.values.count)
        #expect(features.value(named: "mean") == features.mean)
        #expect(features.value(named: "foreground_clipped") == features.foregroundClipped)
        #expect(features.value(named: "log_sharpness") == features.logSharpness)
        #expect(features.value(named: "uniform_fraction") == features.uniformFraction)
    }

    @Test func aBodyOnABlackBackgroundIsTheForeground() {
        // A 32x32 square of 200 in a 64x64 black image: a quarter of it.
        let features = QualityFeatures.measure(Self.gray(64, 64) { row, column in (16..<48).contains(row) && (16..<48).contains(column) ? 200 : 0 })
        #expect(features.foregroundFraction == 0.25 && features.foregroundMean == 200 && features.foregroundStd == 0)
        #expect(features.mean == 50 && abs(features.std - 86.6025) < 0.001)
        #expect(features.darkestFraction == 0.75 && features.brightestFraction == 0.25 && features.foregroundClipped == 0)
    }

    @Test func whiteNoiseHasASharpnessNearTheLaplaciansTwenty() {
        var generator = SystemRandomNumberGenerator()
        let features = QualityFeatures.measure(Self.gray(256, 256) { _, _ in UInt8.random(in: 0...255, using: &generator) })
        #expect(abs(features.sharpness - 20) < 1.5, "\(features.sharpness)")
        #expect(features.uniformFraction < 0.001)
    }

    /// Reduction factors up to 16 sum in integers, larger ones in Double: white noise reads
    /// as white noise on both sides of the switch.
    @Test func noiseReadsAsNoiseWhetherTheSumsAreIntegersOrDoubles() {
        var generator = SeededGenerator(state: 17)
        for width in [4096, 4352] {  // reduced by 16 (integers) and by 17 (Double)
            let features = QualityFeatures.measure(Self.gray(width, 64) { _, _ in UInt8.random(in: 0...255, using: &generator) })
            #expect(abs(features.sharpness - 20) < 2.5, "\(width): \(features.sharpness)")
        }
    }

    @Test func aSmoothRampIsNeitherNoiseNorFlatAndLargeImagesAreJudgedAt256Pixels() {
        // A horizontal ramp: the Laplacian is zero inside; at 1024 px it is reduced 4x.
        let small = QualityFeatures.measure(Self.gray(256, 256) { _, column in UInt8(column) })
        let large = QualityFeatures.measure(Self.gray(1024, 1024) { _, column in UInt8(column / 4) })
        #expect(small.laplacianVariance < 1e-9 && large.laplacianVariance < 1e-9)
        #expect(abs(small.p99 - small.p1 - 251) <= 1 && abs(large.std - small.std) < 0.01)
    }

    /// The Laplacian's variance and the sharpness (and the histogram's mean, spread and
    /// darkest fraction), against a plain reading of their definition (block means in Double, then the 4-neighbour Laplacian), for images reduced
    /// by 1, 2 and 4 (each with its own loop), 3 and 5, with sizes that leave a remainder
    /// (for factor 2 also blocks past the last eight of a row: 270 x 300 and 301 x 21).
    @Test func theLaplacianMatchesItsDefinitionAtEveryReductionFactor() {
        var generator = SeededGenerator(state: 23)
        for (width, height) in [(200, 150), (257, 300), (270, 300), (301, 21), (512, 512), (513, 511), (700, 90), (3, 900),
                                (1024, 1024), (1001, 770), (1100, 800)] {
            // A black band (runs of equal pixels, counted sixteen at a time) beside noise.
            let raster = Self.gray(width, height) { row, column in
                column < width / 3 ? 0 : UInt8(truncatingIfNeeded: (row * 3 + column) / 2 + Int(generator.next() % 40))
            }
            let factor = max(1, min((max(width, height) + 255) / 256, min(width, height) / 3))
            let (w, h) = (width / factor, height / factor)
            var means = [Double](repeating: 0, count: w * h)
            for row in 0..<(h * factor) {
                for column in 0..<(w * factor) {
                    means[row / factor * w + column / factor] += Double(raster.pixels[row * width + column]) / Double(factor * factor)
                }
            }
            var laplacians: [Double] = []
            for row in 1..<(h - 1) {
                for column in 1..<(w - 1) {
                    let index = row * w + column
                    laplacians.append(4 * means[index] - means[index - 1] - means[index + 1] - means[index - w] - means[index + w])
                }
            }
            func variance(_ values: [Double]) -> Double {
                let mean = values.reduce(0, +) / Double(values.count)
                return values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(values.count)
            }
            let features = QualityFeatures.measure(raster)
            let pixels = raster.pixels.map(Double.init)
            #expect(abs(features.mean - pixels.reduce(0, +) / Double(pixels.count)) < 1e-9, "\(width)x\(height)")
            #expect(abs(features.std - variance(pixels).squareRoot()) < 1e-6, "\(width)x\(height)")
            let darkest = raster.pixels.min()!
            #expect(features.darkestFraction == Double(raster.pixels.filter { $0 == darkest }.count) / Double(pixels.count))
            let expected = variance(laplacians)
            #expect(abs(features.laplacianVariance - expected) <= 1e-9 * max(1, expected), "\(width)x\(height): \(features.laplacianVariance) vs \(expected)")
            #expect(abs(features.sharpness - expected / variance(means)) <= 1e-9 * max(1, features.sharpness), "\(width)x\(height)")
        }
    }

    /// The histogram and the uniform count, sixteen pixels at a time, runs counted in one
    /// step and byte lanes summed every 15 rounds (16 overflows them: checked): against a plain count, at every width from 1
    /// to 70 (chunks and their tails) and widths around the lane sums' 15 rounds of sixteen
    /// (240 to 513), heights 1 to 5, on flat, noisy
    /// and mixed images (runs of equal pixels broken at every offset), and with bytes past
    /// the last whole row.
    @Test func histogramAndUniformCountMatchAPlainCount() {
        var generator = SeededGenerator(state: 41)
        for width in Array(1...70) + [240, 241, 256, 257, 272, 273, 300, 513] {
            for height in 1...5 {
                for pattern in 0..<3 {
                    let extra = pattern == 2 ? width / 2 : 0
                    let pixels: [UInt8] = (0..<(width * height + extra)).map { index in
                        switch pattern {
                        case 0: 9
                        case 1: UInt8(truncatingIfNeeded: generator.next())
                        default: generator.next() % 7 == 0 ? UInt8(truncatingIfNeeded: generator.next() % 3) : 0
                        }
                    }
                    var histogram = [Int](repeating: 0, count: 256)
                    for value in pixels { histogram[Int(value)] += 1 }
                    var uniform = 0
                    for row in 0..<max(0, height - 1) {
                        for column in 0..<max(0, width - 1) {
                            let value = pixels[row * width + column]
                            if value == pixels[row * width + column + 1] && value == pixels[(row + 1) * width + column] { uniform += 1 }
                        }
                    }
                    let measured = pixels.withUnsafeBufferPointer {
                        QualityFeatures.histogramAndUniformCount($0, width: width, height: height)
                    }
                    #expect(measured.histogram == histogram, "\(width)x\(height) pattern \(pattern)")
                    #expect(measured.uniform == uniform, "\(width)x\(height) pattern \(pattern)")
                }
            }
        }
    }

    @Test func colourIsMeasuredOnItsLuma() {
        let red = Raster(width: 8, height: 8, channels: 3, bitDepth: 8, pixels: Array(repeating: [255, 0, 0], count: 64).flatMap { $0 })
        #expect(QualityFeatures.measure(red).mean == 76)  // 0.299 * 255 = 76.2
    }
}
