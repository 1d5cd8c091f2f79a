/// Draws rectangles over an image so a person can check labelled boxes: the image as 8-bit
/// RGB (grey copied into the three channels, alpha left out, 16-bit reduced to its high
/// byte) with each
/// box's outline in its colour, `thickness` pixels wide inside the box's edge.
public enum BoxOverlay {
    /// A box in pixels of the image: `x`, `y` of its top-left corner, then its size.
    public struct Box: Sendable, Equatable {
        public var x, y, width, height: Double
        public var color: (red: UInt8, green: UInt8, blue: UInt8)

        public init(x: Double, y: Double, width: Double, height: Double, color: (red: UInt8, green: UInt8, blue: UInt8)) {
            self.x = x
            self.y = y
            self.width = width
            self.height = height
            self.color = color
        }

        public static func == (a: Box, b: Box) -> Bool {
            a.x == b.x && a.y == b.y && a.width == b.width && a.height == b.height
                && a.color.red == b.color.red && a.color.green == b.color.green && a.color.blue == b.color.blue
        }
    }

    /// Colours told apart on a grey image, one per label in turn.
    public static let palette: [(red: UInt8, green: UInt8, blue: UInt8)] = [
        (255, 0, 0), (0, 255, 0), (0, 128, 255), (255, 255, 0), (255, 0, 255), (0, 255, 255), (255, 128, 0),
    ]

    /// A line width that stays visible on a large radiograph: 1 pixel per 512 of the
    /// shorter side, at least 1.
    public static func thickness(width: Int, height: Int) -> Int { max(1, min(width, height) / 512) }

    public static func draw(_ boxes: [Box], on raster: Raster, thickness: Int) -> Raster {
        let count = raster.width * raster.height
        var rgb = [UInt8](repeating: 0, count: count * 3)
        // 16-bit samples are in host (little-endian) order: the high byte is the second.
        let bytesPerSample = raster.bitDepth == 16 ? 2 : 1, high = bytesPerSample - 1
        for pixel in 0..<count {
            for channel in 0..<3 {
                let source = raster.channels < 3 ? 0 : channel  // grey (and alpha), or RGB(A)
                rgb[pixel * 3 + channel] = raster.pixels[(pixel * raster.channels + source) * bytesPerSample + high]
            }
        }
        // Clipped to the image in floating point first: a label may say 1e300.
        func clip(_ value: Double, _ limit: Int) -> Int { value.isFinite ? Int(min(max(value, -1), Double(limit))) : -1 }
        for box in boxes {
            // Pixel columns left...right and rows top...bottom the box covers, clipped.
            let left = max(0, clip(box.x.rounded(.down), raster.width)), top = max(0, clip(box.y.rounded(.down), raster.height))
            let right = min(raster.width - 1, clip((box.x + box.width).rounded(.up), raster.width) - 1)
            let bottom = min(raster.height - 1, clip((box.y + box.height).rounded(.up), raster.height) - 1)
            guard left <= right, top <= bottom else { continue }
            for row in top...bottom {
                for column in left...right {
                    let edge = row - top < thickness || bottom - row < thickness || column - left < thickness || right - column < thickness
                    guard edge else { continue }
                    let offset = (row * raster.width + column) * 3
                    rgb[offset] = box.color.red
                    rgb[offset + 1] = box.color.green
                    rgb[offset + 2] = box.color.blue
                }
            }
        }
        return Raster(width: raster.width, height: raster.height, channels: 3, bitDepth: 8, pixels: rgb)
    }
}
