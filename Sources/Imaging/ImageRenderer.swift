import DICOM
import Foundation

/// Renders the frames of a native or RLE image for display and training: grayscale through
/// Modality LUT, VOI and MONOCHROME1 inversion (PS3.4 N.2), colour as RGB. The one entry
/// point the pipeline uses; the steps live in PixelDecoder, GrayscaleTransform,
/// MonochromeRenderer and ColorRenderer.
public struct ImageRenderer: Sendable {
    public let decoder: PixelDecoder
    private let grayscale: MonochromeRenderer?
    private let color: ColorRenderer?

    public init(dataSet: DataSet, transferSyntax: TransferSyntax) throws(RenderError) {
        decoder = try PixelDecoder(dataSet: dataSet, transferSyntax: transferSyntax)
        let layout = decoder.layout
        if layout.isMonochrome {
            grayscale = MonochromeRenderer(transform: try GrayscaleTransform(dataSet: dataSet, layout: layout))
            color = nil
        } else {
            guard layout.sampleKind == .integer else { throw .unsupported("floating-point \(layout.photometric)") }
            grayscale = nil
            color = try ColorRenderer(dataSet: dataSet, layout: layout)
        }
    }

    public var frameCount: Int { decoder.frameCount }
    public var layout: ImageLayout { decoder.layout }

    /// Frame `index` (from 0), 8 or 16 bits per sample.
    public func render(frame index: Int, bitDepth: Int = 8) throws(RenderError) -> Raster {
        guard bitDepth == 8 || bitDepth == 16 else { throw .unsupported("PNG bit depth \(bitDepth)") }
        if let grayscale {
            return grayscale.render(try decoder.nativeFrame(index), image: layout, bitDepth: bitDepth)
        }
        guard let color else { throw .unsupported("\(layout.photometric) frame values") }
        return color.render(try decoder.nativeFrame(index), image: layout, bitDepth: bitDepth)
    }
}
