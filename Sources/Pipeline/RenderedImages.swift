import Config
import DICOM
import Foundation
import Imaging

/// The PNGs of one dataset: every frame rendered, measured, judged and encoded before its
/// bucket is known (suboptimal is decided before size), written once it is.
struct RenderedImages {
    struct Frame {
        let png: Data
        let features: QualityFeatures
        let verdict: QualityVerdict
    }

    let frames: [Frame]
    /// Frames of the image (a multi-frame image's PNGs carry -f0001 ... even with `frames: first`).
    let frameCount: Int

    /// Suboptimal when most of its rendered frames are.
    var isSuboptimal: Bool { frames.filter(\.verdict.suboptimal).count * 2 > frames.count }

    /// Which rule and which values decided, with how many frames agreed.
    var suboptimalReason: String? {
        guard isSuboptimal, let first = frames.first(where: \.verdict.suboptimal), let reason = first.verdict.reason else { return nil }
        return frames.count == 1 ? reason : "\(frames.filter(\.verdict.suboptimal).count) of \(frames.count) frames, e.g. \(reason)"
    }

    static func render(_ dataSet: DataSet, transferSyntax: TransferSyntax, settings: PNGConfiguration,
                       judge: QualityJudge) throws -> RenderedImages {
        let renderer = try ImageRenderer(dataSet: dataSet, transferSyntax: transferSyntax)
        let count = settings.frames == .first ? 1 : renderer.frameCount
        var frames: [Frame] = []
        for index in 0..<count {
            let raster = try renderer.render(frame: index, bitDepth: settings.bitDepth)
            let features = QualityFeatures.measure(raster)
            frames.append(Frame(png: try PNGCodec.encode(raster, compressionLevel: settings.level), features: features,
                                verdict: judge.judge(features)))
        }
        return RenderedImages(frames: frames, frameCount: renderer.frameCount)
    }

    /// The quality verdict as a private block for the JSON sidecar (PS3.5 7.8: a creator
    /// in (0099,0010) reserves (0099,10xx)): the decision, its reason, and each frame's
    /// features as JSON text.
    var sidecarElements: [DataElement] {
        struct FrameReport: Encodable {
            let frame: Int
            let suboptimal: Bool
            let reason: String?
            let modelScore: Double?
            let features: [String: Double]
        }
        let reports = frames.enumerated().map { index, frame in
            FrameReport(frame: index + 1, suboptimal: frame.verdict.suboptimal, reason: frame.verdict.reason,
                        modelScore: frame.verdict.modelScore,
                        features: frame.features.named)
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let json = (try? encoder.encode(reports)).map { String(decoding: $0, as: UTF8.self) } ?? "[]"
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
