import Foundation
import Shared

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

    /// The names of `values`, in order (Shared's list, which the ledger's columns also use).
    public static var names: [String] { QualityFeatureNames.all }

    public var values: [Double] {
        [mean, std, foregroundMean, foregroundStd, foregroundFraction, p1, p99, darkestFraction, brightestFraction,
         foregroundClipped, laplacianVariance, sharpness, logSharpness, uniformFraction]
    }

    /// Name to value, as the ledger's columns and the JSON sidecar hold them.
    public var named: [String: Double] { Dictionary(uniqueKeysWithValues: zip(Self.names, values)) }

    public func value(named name: String) -> Double? {
        Self.names.firstIndex(of: name).map { values[$0] }
    }

    public static func measure(_ raster: Raster) -> QualityFeatures {
        // 8-bit gray renders (nearly all) are measured in place; others through a luma copy.
        if raster.channels == 1 && raster.bitDepth == 8 {
            return raster.pixels.withUnsafeBufferPointer { measure($0, width: raster.width, height: raster.height) }
        }
        return luminance(raster).withUnsafeBufferPointer { measure($0, width: raster.width, height: raster.height) }
    }

    static func measure(_ luma: UnsafeBufferPointer<UInt8>, width: Int, height: Int) -> QualityFeatures {
        let count = luma.count
        let (histogram, uniform) = histogramAndUniformCount(luma, width: width, height: height)
        let total = Double(count)
        var sum = 0.0, sumOfSquares = 0.0
        for level in 0..<256 {
            sum += Double(level * histogram[level])
            sumOfSquares += Double(level * level * histogram[level])
        }
        let mean = sum / total
        let variance = max(sumOfSquares / total - mean * mean, 0)
        let threshold = otsuThreshold(histogram, total: total)
        var foregroundCount = 0, foregroundSum = 0.0, foregroundSquares = 0.0
        for level in (threshold + 1)..<256 {
            foregroundCount += histogram[level]
            foregroundSum += Double(level * histogram[level])
            foregroundSquares += Double(level * level * histogram[level])
        }
        let foregroundMean = foregroundCount > 0 ? foregroundSum / Double(foregroundCount) : 0
        let foregroundVariance = foregroundCount > 0 ? max(foregroundSquares / Double(foregroundCount) - foregroundMean * foregroundMean, 0) : 0
        let darkest = histogram.firstIndex { $0 > 0 } ?? 0, brightest = histogram.lastIndex { $0 > 0 } ?? 0
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

    /// The histogram of `luma`, then the number of its pixels equal to their right and lower
    /// neighbours (the last row and column have no such neighbours and are left out): two
    /// tight loops. (One pass over the rows doing both measured 1.01x the time of the two on
    /// the corpus's images, `dicomdrop-render-bench` `quality_seconds`: not kept.)
    static func histogramAndUniformCount(_ luma: UnsafeBufferPointer<UInt8>, width: Int, height: Int) -> (histogram: [Int], uniform: Int) {
        let count = luma.count
        // Eight interleaved histograms: a background increments one bin for pixel after
        // pixel, and each increment would wait for the previous one's store (four measured
        // 1.07x the time of eight, `dicomdrop-render-bench` `quality_seconds`). Sixteen
        // pixels are read as two words to find a run of sixteen equal pixels (a CT's air, an
        // MR's background: most of many images), counted in one step; other pixels are
        // loaded byte by byte (splitting the words by shifts took 1.025x the time).
        var partial = [Int32](repeating: 0, count: 8 * 256)
        partial.withUnsafeMutableBufferPointer { partial in
            var index = 0
            if let pixels = luma.baseAddress {
                let raw = UnsafeRawPointer(pixels)
                let counts = partial.baseAddress!
                while index + 16 <= count {
                    let low = UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: index, as: UInt64.self))
                    let high = UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: index + 8, as: UInt64.self))
                    let splat = (low & 0xFF) &* 0x0101_0101_0101_0101
                    if low == splat && high == splat {
                        counts[Int(low & 0xFF)] &+= 16
                    } else {
                        let at = pixels + index
                        for lane in 0..<16 { counts[(lane & 7) &* 256 &+ Int(at[lane])] &+= 1 }
                    }
                    index += 16
                }
            }
            while index + 4 <= count {
                partial[Int(luma[index])] &+= 1
                partial[256 + Int(luma[index + 1])] &+= 1
                partial[512 + Int(luma[index + 2])] &+= 1
                partial[768 + Int(luma[index + 3])] &+= 1
                index += 4
            }
            while index < count { partial[Int(luma[index])] &+= 1; index += 1 }
        }
        // Typed steps: as one untyped sum the expression can exceed the type checker's time
        // limit on a loaded machine (it did under `-sanitize=fuzzer`).
        let histogram = (0..<256).map { (bin: Int) -> Int in
            let first: Int = Int(partial[bin]) + Int(partial[256 + bin])
            let second: Int = Int(partial[512 + bin]) + Int(partial[768 + bin])
            let third: Int = Int(partial[1024 + bin]) + Int(partial[1280 + bin])
            let fourth: Int = Int(partial[1536 + bin]) + Int(partial[1792 + bin])
            return (first + second) + (third + fourth)
        }
        var uniform = 0
        if width > 1, height > 1, let pixels = luma.baseAddress {
            let raw = UnsafeRawPointer(pixels)
            for row in 0..<(height - 1) {
                let line = row * width, columns = width - 1
                // Sixteen pixels at a time: lanes that equal both neighbours count 1, summed
                // in byte lanes (at most 15 rounds before they are widened, so no overflow).
                var column = 0
                while column + 16 <= columns {
                    var lanes = SIMD16<UInt8>()
                    var rounds = 0
                    while rounds < 15 && column + 16 <= columns {
                        let value = raw.loadUnaligned(fromByteOffset: line + column, as: SIMD16<UInt8>.self)
                        let right = raw.loadUnaligned(fromByteOffset: line + column + 1, as: SIMD16<UInt8>.self)
                        let below = raw.loadUnaligned(fromByteOffset: line + column + width, as: SIMD16<UInt8>.self)
                        lanes &+= SIMD16<UInt8>(repeating: 0).replacing(with: 1, where: (value .== right) .& (value .== below))
                        column += 16
                        rounds += 1
                    }
                    uniform += Int(lanes.wrappedSum())
                }
                while column < columns {
                    let value = pixels[line + column]
                    if value == pixels[line + column + 1] && value == pixels[line + column + width] { uniform += 1 }
                    column += 1
                }
            }
        }
        return (histogram, uniform)
    }

    static func luminance(_ raster: Raster) -> [UInt8] {
        let bytesPerSample = raster.bitDepth / 8
        let pixels = raster.width * raster.height
        // 16-bit samples are in host (little-endian) order: the high byte is the second.
        let high = bytesPerSample - 1
        return raster.pixels.withUnsafeBufferPointer { samples in
            [UInt8](unsafeUninitializedCapacity: pixels) { output, initialized in
                for pixel in 0..<pixels {
                    let base = pixel * raster.channels * bytesPerSample
                    if raster.channels < 3 {
                        output[pixel] = samples[base + high]
                    } else {
                        // Rec. 601 luma in fixed point: (299 R + 587 G + 114 B + 500) / 1000.
                        let red = Int(samples[base + high]), green = Int(samples[base + bytesPerSample + high])
                        let blue = Int(samples[base + 2 * bytesPerSample + high])
                        output[pixel] = UInt8(min(255, (299 * red + 587 * green + 114 * blue + 500) / 1000))
                    }
                }
                initialized = pixels
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

    /// `laplacianVariance` for factors 1, 2 and 4 (every image up to 512 pixels a side, and
    /// those of 769 to 1,024): block sums of at most 16 x 255, Laplacians of at most
    /// 8 x 4,080, so that over the caller's bound on the cells every sum and sum of squares
    /// is an integer below 2^53, exact in Double in any order: the same values as the
    /// integer loop's, with four SIMD lanes adding in parallel where that loop had one
    /// multiply and add after another. The block sums are kept as Float (integers below
    /// 2^24, as is each Laplacian: exact), half the bytes of Doubles for the five loads of
    /// each Laplacian; sums and squares are taken in Double.
    static func smallFactorLaplacian(_ luma: UnsafeBufferPointer<UInt8>, width: Int, factor: Int,
                                     reducedWidth: Int, reducedHeight: Int) -> (Double, Double) {
        guard let pixels = luma.baseAddress else { return (0, 0) }
        let cellCount = reducedWidth * reducedHeight
        let cells = UnsafeMutablePointer<Float>.allocate(capacity: cellCount)
        defer { cells.deallocate() }
        for row in 0..<reducedHeight {
            let target = cells + row * reducedWidth
            if factor == 1 {
                let line = pixels + row * width
                for column in 0..<reducedWidth { target[column] = Float(line[column]) }
            } else if factor == 4 {
                // Four blocks a turn: sixteen bytes of each of the four rows read as four
                // 32-bit lanes, one block's bytes each; bytes added in pairs within the lane
                // (two 16-bit halves, at most 4 rows x 2 x 255: no overflow), the rows'
                // pairs added, then each lane's two halves. The byte-by-byte loop below
                // takes the last blocks.
                let first = pixels + 4 * row * width, second = first + width, third = second + width, fourth = third + width
                let bytePairs = SIMD4<UInt32>(repeating: 0x00FF_00FF)
                @inline(__always) func pairs(_ line: UnsafePointer<UInt8>, _ column: Int) -> SIMD4<UInt32> {
                    let word = UnsafeRawPointer(line + 4 &* column).loadUnaligned(as: SIMD4<UInt32>.self)
                    return (word & bytePairs) &+ ((word &>> 8) & bytePairs)
                }
                var column = 0
                while column &+ 4 <= reducedWidth {
                    let summed = pairs(first, column) &+ pairs(second, column) &+ pairs(third, column) &+ pairs(fourth, column)
                    let blocks = (summed & 0xFFFF) &+ (summed &>> 16)
                    UnsafeMutableRawPointer(target + column).storeBytes(of: SIMD4<Float>(SIMD4<Int32>(truncatingIfNeeded: blocks)),
                                                                        as: SIMD4<Float>.self)
                    column &+= 4
                }
                while column < reducedWidth {
                    var sum = 0
                    for line in 0..<4 {
                        for offset in 0..<4 { sum &+= Int(first[line &* width &+ 4 &* column &+ offset]) }
                    }
                    target[column] = Float(sum)
                    column &+= 1
                }
            } else {
                let upper = pixels + 2 * row * width, lower = upper + width
                // Eight blocks a turn: sixteen bytes of each row read as eight 16-bit lanes,
                // each lane's two bytes added (in either byte order the same sum; at most
                // 4 x 255 with the other row's pair: no overflow), the eight sums widened
                // to Float. The same integers as the byte-by-byte loop below, which takes
                // the last blocks.
                var column = 0
                let low = SIMD8<UInt16>(repeating: 0xFF)
                while column &+ 8 <= reducedWidth {
                    let top = UnsafeRawPointer(upper + 2 &* column).loadUnaligned(as: SIMD8<UInt16>.self)
                    let bottom = UnsafeRawPointer(lower + 2 &* column).loadUnaligned(as: SIMD8<UInt16>.self)
                    let sums = (top & low) &+ (top &>> 8) &+ (bottom & low) &+ (bottom &>> 8)
                    let wide = SIMD8<Int32>(truncatingIfNeeded: sums)
                    UnsafeMutableRawPointer(target + column).storeBytes(of: SIMD8<Float>(wide), as: SIMD8<Float>.self)
                    column &+= 8
                }
                while column < reducedWidth {
                    let left = 2 &* column
                    let sum = Int32(upper[left]) &+ Int32(upper[left &+ 1]) &+ Int32(lower[left]) &+ Int32(lower[left &+ 1])
                    target[column] = Float(sum)
                    column &+= 1
                }
            }
        }
        var lanes = SIMD4<Double>(), squareLanes = SIMD4<Double>()
        var column = 0
        let raw = UnsafeRawPointer(cells)
        while column + 4 <= cellCount {
            let value = SIMD4<Double>(raw.loadUnaligned(fromByteOffset: 4 * column, as: SIMD4<Float>.self))
            lanes += value
            squareLanes += value * value
            column += 4
        }
        var total = lanes.sum(), totalSquares = squareLanes.sum()
        while column < cellCount { total += Double(cells[column]); totalSquares += Double(cells[column]) * Double(cells[column]); column += 1 }
        var laplacianLanes = SIMD4<Double>(), laplacianSquareLanes = SIMD4<Double>()
        var laplacianSum = 0.0, laplacianSquares = 0.0
        let stride = 4 * reducedWidth
        for row in 1..<(reducedHeight - 1) {
            let here = 4 * row * reducedWidth
            var column = 1
            while column + 4 <= reducedWidth - 1 {
                let offset = here + 4 * column
                let centre = raw.loadUnaligned(fromByteOffset: offset, as: SIMD4<Float>.self)
                let left = raw.loadUnaligned(fromByteOffset: offset - 4, as: SIMD4<Float>.self)
                let right = raw.loadUnaligned(fromByteOffset: offset + 4, as: SIMD4<Float>.self)
                let above = raw.loadUnaligned(fromByteOffset: offset - stride, as: SIMD4<Float>.self)
                let below = raw.loadUnaligned(fromByteOffset: offset + stride, as: SIMD4<Float>.self)
                let value = SIMD4<Double>(4 * centre - left - right - above - below)
                laplacianLanes += value
                laplacianSquareLanes += value * value
                column += 4
            }
            while column < reducedWidth - 1 {
                let index = row * reducedWidth + column
                let value = Double(4 * cells[index] - cells[index - 1] - cells[index + 1] - cells[index - reducedWidth] - cells[index + reducedWidth])
                laplacianSum += value
                laplacianSquares += value * value
                column += 1
            }
        }
        laplacianSum += laplacianLanes.sum()
        laplacianSquares += laplacianSquareLanes.sum()
        return variances(total: total, totalSquares: totalSquares, laplacianSum: laplacianSum, laplacianSquares: laplacianSquares,
                         factor: factor, reducedWidth: reducedWidth, reducedHeight: reducedHeight)
    }

    /// The Laplacian's variance and the reduced image's variance from the sums over block
    /// sums (each factor^2 times its block's mean, divided out here) and over Laplacians.
    private static func variances(total: Double, totalSquares: Double, laplacianSum: Double, laplacianSquares: Double,
                                  factor: Int, reducedWidth: Int, reducedHeight: Int) -> (Double, Double) {
        let area = Double(factor * factor), cells = Double(reducedWidth * reducedHeight)
        let reducedMean = total / cells / area
        let reducedVariance = max(totalSquares / cells / (area * area) - reducedMean * reducedMean, 0)
        let count = Double((reducedHeight - 2) * (reducedWidth - 2))
        let laplacianMean = laplacianSum / count / area
        return (max(laplacianSquares / count / (area * area) - laplacianMean * laplacianMean, 0), reducedVariance)
    }

    /// The Laplacian's variance and the intensity variance of the image reduced by block
    /// means to at most 256 pixels a side. Block sums stay integers (the means are sums over
    /// factor^2, divided out at the end), so the passes are integer loops.
    static func laplacianVariance(_ luma: UnsafeBufferPointer<UInt8>, width: Int, height: Int) -> (Double, Double) {
        // At most 256 pixels a side, but never fewer than 3 on the short side: a long thin
        // strip must keep a Laplacian, or it would read as blurred.
        let factor = max(1, min((max(width, height) + 255) / 256, min(width, height) / 3))
        let reducedWidth = width / factor, reducedHeight = height / factor
        guard reducedWidth >= 3, reducedHeight >= 3 else { return (0, 0) }
        // Exact in Double while every sum of squares stays below 2^53: Laplacians of at most
        // 8 x 255 f^2 over at most 2^26 cells for f <= 2, 2^22 for f = 4.
        if (factor <= 2 && reducedWidth * reducedHeight <= 1 << 26) || (factor == 4 && reducedWidth * reducedHeight <= 1 << 22) {
            return smallFactorLaplacian(luma, width: width, factor: factor, reducedWidth: reducedWidth, reducedHeight: reducedHeight)
        }
        var sums = [Int](repeating: 0, count: reducedWidth * reducedHeight)
        let usedWidth = reducedWidth * factor
        // Per reduced row: the factor source rows added column by column (a vectorised add),
        // then each block of factor columns summed once.
        var columnSums = [Int32](repeating: 0, count: usedWidth)
        sums.withUnsafeMutableBufferPointer { sums in
            columnSums.withUnsafeMutableBufferPointer { columnSums in
                guard let pixels = luma.baseAddress, let accumulator = columnSums.baseAddress else { return }
                for reducedRow in 0..<reducedHeight {
                    accumulator.update(repeating: 0, count: usedWidth)
                    for offset in 0..<factor {
                        let line = pixels + (reducedRow * factor + offset) * width
                        for column in 0..<usedWidth { accumulator[column] &+= Int32(line[column]) }
                    }
                    // Offset by offset across the blocks: each add goes to another block, so
                    // none waits for the one before (block by block, every add waited on the
                    // previous one's sum).
                    let reduced = sums.baseAddress! + reducedRow * reducedWidth
                    reduced.update(repeating: 0, count: reducedWidth)
                    for offset in 0..<factor {
                        for block in 0..<reducedWidth { reduced[block] &+= Int(accumulator[block &* factor &+ offset]) }
                    }
                }
            }
        }
        // Sums in integers, exact and free of the latency chain of one Double addition after
        // another, while they cannot overflow: with a factor f of at most 16 a block sum is
        // below 255 f^2 and a Laplacian below 1,020 f^2, so over the frame cap's 805 million
        // pixels (pixels / f^2 blocks) the sums of their squares stay below 2^58. Larger
        // factors sum in Double.
        var total = 0.0, totalSquares = 0.0, laplacianSum = 0.0, laplacianSquares = 0.0
        sums.withUnsafeBufferPointer { sums in
            if factor <= 16 {
                var integerTotal = 0, integerSquares = 0
                for value in sums { integerTotal &+= value; integerSquares &+= value &* value }
                var integerLaplacian = 0, integerLaplacianSquares = 0
                // Row pointers and per-row accumulators in registers: the indexed form kept
                // a running sum in memory across the inner loop.
                let cells = sums.baseAddress!
                for row in 1..<(reducedHeight - 1) {
                    let above = cells + (row - 1) * reducedWidth, here = above + reducedWidth, below = here + reducedWidth
                    var rowSum = 0, rowSquares = 0
                    for column in 1..<(reducedWidth - 1) {
                        let value = 4 &* here[column] &- here[column &- 1] &- here[column &+ 1] &- above[column] &- below[column]
                        rowSum &+= value
                        rowSquares &+= value &* value
                    }
                    integerLaplacian &+= rowSum
                    integerLaplacianSquares &+= rowSquares
                }
                (total, totalSquares) = (Double(integerTotal), Double(integerSquares))
                (laplacianSum, laplacianSquares) = (Double(integerLaplacian), Double(integerLaplacianSquares))
            } else {
                for value in sums { total += Double(value); totalSquares += Double(value) * Double(value) }
                for row in 1..<(reducedHeight - 1) {
                    for column in 1..<(reducedWidth - 1) {
                        let index = row * reducedWidth + column
                        let value = Double(4 * sums[index] - sums[index - 1] - sums[index + 1] - sums[index - reducedWidth] - sums[index + reducedWidth])
                        laplacianSum += value
                        laplacianSquares += value * value
                    }
                }
            }
        }
        return variances(total: total, totalSquares: totalSquares, laplacianSum: laplacianSum, laplacianSquares: laplacianSquares,
                         factor: factor, reducedWidth: reducedWidth, reducedHeight: reducedHeight)
    }
}
