import Foundation

/// What one rendered image looks like, in numbers: the inputs of the suboptimal rules and
/// of a fitted quality model. Computed once per image, on its 8-bit luminance (colour
/// images: Rec. 601 luma; 16-bit renders: their high byte).
public struct QualityFeatures: Sendable, Equatable, Codable {
    /// Mean and standard deviation of the whole image, 0...255.
    public var mean: Double
    public var std: Double
    /// The body foreground: the brighter class of Otsu's threshold over the histogram.
    public var foregroundMean: Double
    public var foregroundStd: Double
    public var foregroundFraction: Double
    /// The 1st and 99th percentiles.
    public var p1: Double
    public var p99: Double
    /// Fractions of pixels at the darkest and at the brightest value of the image (clipping).
    public var darkestFraction: Double
    public var brightestFraction: Double
    /// Fraction of the foreground at 255: a saturated image has its anatomy there.
    public var foregroundClipped: Double
    /// Variance of the 4-neighbour Laplacian, on the image reduced (block means) to at most
    /// 256 pixels a side, so that the measure does not depend on the matrix size.
    public var laplacianVariance: Double
    /// laplacianVariance over the reduced image's variance: near 0 for a blurred image,
    /// about 20 for white noise (the Laplacian's kernel weights squared), 0.01 to 4 for
    /// the corpus's CT, MR, CR, US and NM images.
    public var sharpness: Double
    /// log10 of sharpness (floored at 1e-6): blur and noise sit at opposite ends of
    /// sharpness, orders of magnitude apart, and a linear model needs both sides straight.
    public var logSharpness: Double { log10(max(sharpness, 1e-6)) }
    /// Fraction of pixels equal to their right and lower neighbours.
    public var uniformFraction: Double

    /// The names used in the ledger's columns, in a fitted model and in `dicomdrop quality`.
    public static let names = [
        "mean", "std", "foreground_mean", "foreground_std", "foreground_fraction", "p1", "p99",
        "darkest_fraction", "brightest_fraction", "foreground_clipped", "laplacian_variance",
        "sharpness", "log_sharpness", "uniform_fraction",
    ]

    public var values: [Double] {
        [mean, std, foregroundMean, foregroundStd, foregroundFraction, p1, p99, darkestFraction, brightestFraction,
         foregroundClipped, laplacianVariance, sharpness, logSharpness, uniformFraction]
    }

    public func value(named name: String) -> Double? {
        Self.names.firstIndex(of: name).map { values[$0] }
    }

    public static func measure(_ raster: Raster) -> QualityFeatures {
        let luma = luminance(raster)
        let width = raster.width, height = raster.height, count = luma.count
        var histogram = [Int](repeating: 0, count: 256)
        for value in luma { histogram[Int(value)] += 1 }
        let total = Double(count)
        let mean = histogram.enumerated().reduce(0.0) { $0 + Double($1.offset * $1.element) } / total
        let variance = histogram.enumerated().reduce(0.0) { $0 + Double($1.element) * pow(Double($1.offset) - mean, 2) } / total
        let threshold = otsuThreshold(histogram, total: total)
        var foregroundCount = 0, foregroundSum = 0.0
        for level in (threshold + 1)..<256 {
            foregroundCount += histogram[level]
            foregroundSum += Double(level * histogram[level])
        }
        let foregroundMean = foregroundCount > 0 ? foregroundSum / Double(foregroundCount) : 0
        var foregroundVariance = 0.0
        for level in (threshold + 1)..<256 { foregroundVariance += Double(histogram[level]) * pow(Double(level) - foregroundMean, 2) }
        foregroundVariance = foregroundCount > 0 ? foregroundVariance / Double(foregroundCount) : 0
        let darkest = histogram.firstIndex { $0 > 0 } ?? 0, brightest = histogram.lastIndex { $0 > 0 } ?? 0

        var uniform = 0
        if width > 1 && height > 1 {
            for row in 0..<(height - 1) {
                for column in 0..<(width - 1) {
                    let index = row * width + column
                    if luma[index] == luma[index + 1] && luma[index] == luma[index + width] { uniform += 1 }
                }
            }
        }
        let (laplacian, reducedVariance) = laplacianVariance(luma, width: width, height: height)
        return QualityFeatures(
            mean: mean, std: variance.squareRoot(), foregroundMean: foregroundMean, foregroundStd: foregroundVariance.squareRoot(),
            foregroundFraction: Double(foregroundCount) / total,
            p1: percentile(histogram, 0.01, total: total), p99: percentile(histogram, 0.99, total: total),
            darkestFraction: Double(histogram[darkest]) / total, brightestFraction: Double(histogram[brightest]) / total,
            foregroundClipped: foregroundCount > 0 && threshold < 255 ? Double(histogram[255]) / Double(foregroundCount) : 0,
            laplacianVariance: laplacian, sharpness: reducedVariance > 0 ? laplacian / reducedVariance : 0,
            uniformFraction: width > 1 && height > 1 ? Double(uniform) / Double((width - 1) * (height - 1)) : 1)
    }

    static func luminance(_ raster: Raster) -> [UInt8] {
        let bytesPerSample = raster.bitDepth / 8
        let pixels = raster.width * raster.height
        // 16-bit samples are in host (little-endian) order: the high byte is the second.
        let high = bytesPerSample - 1
        return raster.pixels.withUnsafeBufferPointer { samples in
            (0..<pixels).map { pixel in
                let base = pixel * raster.channels * bytesPerSample
                if raster.channels < 3 { return samples[base + high] }
                let red = Double(samples[base + high]), green = Double(samples[base + bytesPerSample + high])
                let blue = Double(samples[base + 2 * bytesPerSample + high])
                return UInt8(min(255, (0.299 * red + 0.587 * green + 0.114 * blue).rounded()))
            }
        }
    }

    /// The level that maximises the between-class variance (Otsu 1979): pixels above it are
    /// the foreground.
    static func otsuThreshold(_ histogram: [Int], total: Double) -> Int {
        let totalMean = histogram.enumerated().reduce(0.0) { $0 + Double($1.offset * $1.element) } / total
        var weight = 0.0, cumulativeMean = 0.0, best = 0.0, threshold = 0
        for level in 0..<256 {
            weight += Double(histogram[level]) / total
            cumulativeMean += Double(level * histogram[level]) / total
            guard weight > 0, weight < 1 else { continue }
            let between = pow(totalMean * weight - cumulativeMean, 2) / (weight * (1 - weight))
            if between > best { (best, threshold) = (between, level) }
        }
        return threshold
    }

    /// The smallest level with at least `fraction` of the pixels at or below it.
    static func percentile(_ histogram: [Int], _ fraction: Double, total: Double) -> Double {
        var seen = 0.0
        for level in 0..<256 {
            seen += Double(histogram[level])
            if seen >= fraction * total { return Double(level) }
        }
        return 255
    }

    /// The Laplacian's variance and the intensity variance of the image reduced by block
    /// means to at most 256 pixels a side.
    static func laplacianVariance(_ luma: [UInt8], width: Int, height: Int) -> (Double, Double) {
        let factor = max(1, (max(width, height) + 255) / 256)
        let reducedWidth = width / factor, reducedHeight = height / factor
        guard reducedWidth >= 3, reducedHeight >= 3 else { return (0, 0) }
        var reduced = [Double](repeating: 0, count: reducedWidth * reducedHeight)
        for row in 0..<(reducedHeight * factor) {
            for column in 0..<(reducedWidth * factor) {
                reduced[(row / factor) * reducedWidth + column / factor] += Double(luma[row * width + column])
            }
        }
        let area = Double(factor * factor)
        for index in reduced.indices { reduced[index] /= area }
        let reducedMean = reduced.reduce(0, +) / Double(reduced.count)
        let reducedVariance = reduced.reduce(0) { $0 + pow($1 - reducedMean, 2) } / Double(reduced.count)
        var sum = 0.0, sumOfSquares = 0.0, count = 0.0
        for row in 1..<(reducedHeight - 1) {
            for column in 1..<(reducedWidth - 1) {
                let index = row * reducedWidth + column
                let value = 4 * reduced[index] - reduced[index - 1] - reduced[index + 1]
                    - reduced[index - reducedWidth] - reduced[index + reducedWidth]
                sum += value
                sumOfSquares += value * value
                count += 1
            }
        }
        let laplacianMean = sum / count
        return (sumOfSquares / count - laplacianMean * laplacianMean, reducedVariance)
    }
}
