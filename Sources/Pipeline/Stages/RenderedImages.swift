import Config
import DICOM
import Foundation
import Imaging

/// The PNGs of one dataset: every frame rendered, measured, judged and encoded before its
/// bucket is known (suboptimal is decided before size), written once it is.
///
/// Pixel Data left in its file (a file too large to hold) keeps no PNG: its thousands of
/// frames' PNGs would take the memory the file was left on disk to save. Each frame is
/// rendered again when written (`png(of:)`), one at a time: twice the decoding for those
/// files, in exchange for memory of one frame.
struct RenderedImages {
    struct Frame {
        /// Which frame of the image (from 0): a frame that did not decode leaves a gap.
        let index: Int
        /// Nil when the frame is rendered again to be written.
        let png: Data?
        let features: QualityFeatures
        let verdict: QualityVerdict
    }

    let frames: [Frame]
    private let renderer: ImageRenderer
    private let settings: PNGConfiguration
    /// Frames of the image (a multi-frame image's PNGs carry -f0001 ... even with `frames: first`).
    let frameCount: Int
    /// What the ledger should know: frames that did not decode (the others are still
    /// written), and where the codestream disagreed with the dataset (once each).
    let notes: [String]

    /// Suboptimal when most of its rendered frames are.
    var isSuboptimal: Bool { frames.filter(\.verdict.suboptimal).count * 2 > frames.count }

    /// Which rule and which values decided, with how many frames agreed.
    var suboptimalReason: String? {
        guard isSuboptimal, let first = frames.first(where: \.verdict.suboptimal), let reason = first.verdict.reason else { return nil }
        return frames.count == 1 ? reason : "\(frames.filter(\.verdict.suboptimal).count) of \(frames.count) frames, e.g. \(reason)"
    }

    /// A frame's PNG: the one kept, or the frame rendered and encoded again.
    func png(of frame: Frame) throws -> Data {
        if let png = frame.png { return png }
        return try settings.encode(try renderer.render(frame: frame.index, bitDepth: settings.bitDepth))
    }

    static func render(_ dataSet: DataSet, transferSyntax: TransferSyntax, settings: PNGConfiguration,
                       judge: QualityJudge) throws -> RenderedImages {
        let renderer = try ImageRenderer(dataSet: dataSet, transferSyntax: transferSyntax)
        var keepPNGs = true
        if case .inFile? = dataSet[renderer.layout.pixelTag]?.value { keepPNGs = false }
        let count = settings.frames == .first ? 1 : renderer.frameCount
        var frames: [Frame] = []
        var notes: [String] = [], failures: [(index: Int, error: RenderError)] = []
        // One frame decoded at a time: only its PNG is kept, so a long cine file holds its
        // compressed bytes and PNGs, never all of its decoded frames.
        for index in 0..<count {
            let raster: Raster
            do {
                let rendered = try renderer.renderWithNotes(frame: index, bitDepth: settings.bitDepth)
                raster = rendered.raster
                for note in rendered.notes where !notes.contains(note) { notes.append(note) }
            } catch {
                failures.append((index, error))
                continue
            }
            let features = QualityFeatures.measure(raster)
            frames.append(Frame(index: index, png: keepPNGs ? try settings.encode(raster) : nil,
                                features: features, verdict: judge.judge(features)))
        }
        // A frame that does not decode costs its own PNG only; when none decodes, the image
        // has no PNG and the first frame's reason is the image's.
        if frames.isEmpty, let first = failures.first { throw first.error }
        if !failures.isEmpty {
            let which = failures.prefix(5).map { "frame \($0.index + 1): \($0.error)" }.joined(separator: "; ")
            notes.insert("\(failures.count) of \(count) frames not decoded (\(which)\(failures.count > 5 ? "; ..." : ""))", at: 0)
        }
        return RenderedImages(frames: frames, renderer: renderer, settings: settings, frameCount: renderer.frameCount, notes: notes)
    }

    /// The quality verdict as a private block for the JSON sidecar (PS3.5 7.8: a creator
    /// in (0099,0010) reserves (0099,10xx)): the decision, its reason, and each frame's
    /// features as JSON text.
    var sidecarElements: [DataElement] {
        let json = QualityFrameReport.json(frames.map { frame in
            QualityFrameReport(frame: frame.index + 1, suboptimal: frame.verdict.suboptimal, reason: frame.verdict.reason,
                               modelScore: frame.verdict.modelScore, features: frame.features.named)
        })
        return [DataElement(tag: Tag(0x0099, 0x0010), vr: .LO, strings: ["DICOMDROP QUALITY"]),
                DataElement(tag: Tag(0x0099, 0x1001), vr: .CS, strings: [isSuboptimal ? "SUBOPTIMAL" : "ACCEPTED"]),
                DataElement(tag: Tag(0x0099, 0x1002), vr: .UT, strings: [suboptimalReason ?? ""]),
                DataElement(tag: Tag(0x0099, 0x1003), vr: .UT, strings: [json])]
    }
}

extension WatchConfiguration {
    /// The rules for one modality: built-in defaults, then `quality.*`, then
    /// `quality.modalities.<modality>`; with the model, if there is one.
    func qualityJudge(forModality modality: String?) -> QualityJudge {
        var thresholds = QualityThresholds()
        for settings in [quality.rules, modality.flatMap { quality.byModality[$0.uppercased()] }].compactMap({ $0 }) {
            if let value = settings.enabled { thresholds.enabled = value }
            if let value = settings.minDynamicRange { thresholds.minimumDynamicRange = value }
            if let value = settings.minForegroundStd { thresholds.minimumForegroundStd = value }
            if let value = settings.maxForegroundClipped { thresholds.maximumForegroundClipped = value }
            if let value = settings.minSharpness { thresholds.minimumSharpness = value }
            if let value = settings.maxSharpness { thresholds.maximumSharpness = value }
        }
        return QualityJudge(thresholds: thresholds, model: quality.model)
    }
}
