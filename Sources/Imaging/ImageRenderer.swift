import DICOM
import Foundation

/// Renders the frames of an image, native or compressed, for display and training: grayscale through
/// Modality LUT, VOI and MONOCHROME1 inversion (PS3.4 N.2), colour as RGB. The one entry
/// point the pipeline uses; the steps live in PixelDecoder, GrayscaleTransform,
/// MonochromeRenderer and ColorRenderer.
public struct ImageRenderer: Sendable {
    public let decoder: PixelDecoder
    private let renderer: Renderer

    private enum Renderer: Sendable {
        case grayscale(MonochromeRenderer)
        case color(ColorRenderer)
    }

    public init(dataSet: DataSet, transferSyntax: TransferSyntax) throws(RenderError) {
        try self.init(dataSet: dataSet, transferSyntax: transferSyntax, tables: .shared)
    }

    /// With the tables shared between grayscale images of the same transform kept in
    /// `tables` (tests: their own).
    init(dataSet: DataSet, transferSyntax: TransferSyntax, tables: RenderTables) throws(RenderError) {
        decoder = try PixelDecoder(dataSet: dataSet, transferSyntax: transferSyntax)
        let layout = decoder.layout
        if layout.isMonochrome {
            renderer = .grayscale(MonochromeRenderer(transform: try GrayscaleTransform(dataSet: dataSet, layout: layout), tables: tables))
        } else {
            guard layout.sampleKind == .integer else { throw .unsupported("floating-point \(layout.photometric)") }
            renderer = .color(try ColorRenderer(dataSet: dataSet, layout: layout))
        }
    }

    public var frameCount: Int { decoder.frameCount }
    public var layout: ImageLayout { decoder.layout }

    /// Frame `index` (from 0), 8 or 16 bits per sample.
    public func render(frame index: Int, bitDepth: Int = 8) throws(RenderError) -> Raster {
        try renderWithNotes(frame: index, bitDepth: bitDepth).raster
    }

    /// Frame `index` (from 0), and what its codec noted (the codestream disagreeing with
    /// the dataset, corrupt data decoded past): the ledger keeps those.
    public func renderWithNotes(frame index: Int, bitDepth: Int = 8) throws(RenderError) -> (raster: Raster, notes: [String]) {
        guard bitDepth == 8 || bitDepth == 16 else { throw .unsupported("PNG bit depth \(bitDepth)") }
        let frame = try decoder.nativeFrame(index)
        switch renderer {
        case .grayscale(let grayscale): return (grayscale.render(frame, image: layout, bitDepth: bitDepth), frame.notes)
        case .color(let color): return (color.render(frame, image: layout, bitDepth: bitDepth), frame.notes)
        }
    }
}
