import Config
import Deidentify
import DICOM
import Foundation
import Imaging
import Ledger

/// The write stage: one dataset's outputs under its bucket and name, from the de-identified
/// dataset only: a PNG per rendered frame, the DICOM JSON sidecar (with the quality verdict
/// in a private block), and, with `write_dicom`, a de-identified Part 10 copy. All or
/// nothing: a failed write removes what this dataset had written and says which file failed.
struct WriteStage: Sendable {
    let writer: OutputWriter
    let writeDICOM: Bool

    enum Failure: Error, Sendable, CustomStringConvertible {
        /// The output directory refused a file (full, read-only, gone): free space or fix
        /// the permissions; the file is tried again at the next rescan.
        case output(OutputWriter.Failure)
        /// The de-identified dataset could not be encoded as Part 10 (a value too long for
        /// its VR): the PNGs and JSON are not written either, so that the outputs agree.
        case dicomCopy(DICOMWriter.WriteError)
        /// A frame of a file too large to hold, rendered again to be written, failed this
        /// time (the file changed or became unreadable since it was hashed).
        case rerender(frame: Int, reason: String)
        /// The source file's Pixel Data, left in the file, could not be read again to be
        /// copied (the file changed or became unreadable since it was hashed).
        case sourceUnreadable(String)

        /// The output filesystem refused (no space, over quota, read-only), not the file.
        var outputFilesystemRefusal: OutputWriter.Failure? {
            if case .output(let failure) = self, failure.outputFilesystemRefuses { failure } else { nil }
        }

        var description: String {
            switch self {
            case .output(let failure): "\(failure)"
            case .dicomCopy(let error): "cannot encode the de-identified DICOM copy: \(error)"
            case .rerender(let frame, let reason): "frame \(frame + 1) could not be rendered again to be written: \(reason)"
            case .sourceUnreadable(let reason): "the de-identified DICOM copy could not read the source's Pixel Data: \(reason)"
            }
        }
    }

    /// What was written.
    struct Written: Sendable {
        /// Relative to the output directory, sorted.
        var outputs: [String] = []
        var images: [ImageQualityRecord] = []
        /// For the ledger's reason (text segments removed from compressed frames ...).
        var notes: [String] = []
    }

    func write(_ dataSet: DataSet, images: RenderedImages?, sourceSyntax: TransferSyntax,
               bucket: String, name: String) throws(Failure) -> Written {
        var written = Written()
        do throws(Failure) {
            func write(_ data: Data, to path: String) throws(Failure) {
                do { try writer.write(data, to: path) } catch { throw .output(error) }
                written.outputs.append(path)
            }
            for frame in images?.frames ?? [] {
                guard let images else { break }
                let path = OutputNaming.imagePath(bucket: bucket, name: name, frame: frame.index, of: images.frameCount)
                let png: Data
                do { png = try images.png(of: frame) } catch { throw .rerender(frame: frame.index, reason: "\(error)") }
                try write(png, to: path)
                written.images.append(ImageQualityRecord(
                    output: path, frame: frame.index + 1, features: frame.features.named,
                    modelScore: frame.verdict.modelScore, suboptimal: frame.verdict.suboptimal, reason: frame.verdict.reason))
            }
            var sidecar = dataSet
            for element in images?.sidecarElements ?? [] { sidecar.set(element) }
            try write(DICOMJSONEncoder().encodedData(sidecar), to: "\(bucket)/\(name).json")
            if writeDICOM {
                do throws(Failure) {
                    // Native pixel data as Explicit VR Little Endian; compressed pixel data
                    // copied unchanged under its own syntax (as labelled, even when the source's
                    // dataset was mislabelled implicit VR).
                    let syntax = sourceSyntax.isEncapsulated ? sourceSyntax.asLabelled : .explicitVRLittleEndian
                    if case .inFile? = dataSet[.pixelData]?.value {
                        // A file too large to hold: streamed from the source, a chunk at a time.
                        written.notes += try StreamedDICOMCopy.write(dataSet, syntax: syntax, writer: writer, to: "\(bucket)/\(name).dcm")
                        written.outputs.append("\(bucket)/\(name).dcm")
                        written.outputs.sort()
                        return written
                    }
                    // Compressed frames lose their comment and application segments (EXIF ...);
                    // native ones the bits outside Bits Stored.
                    let stripped = CompressedTextRemover.cleaned(dataSet, transferSyntax: syntax)
                    if stripped.segmentsRemoved > 0 { written.notes.append("removed \(stripped.segmentsRemoved) text segment(s) from compressed frames") }
                    if stripped.framesUnchecked > 0 { written.notes.append("\(stripped.framesUnchecked) compressed frame(s) could not be checked for text") }
                    let part10: Data
                    do { part10 = try DICOMWriter.part10(UnusedBits.cleared(stripped.dataSet), transferSyntax: syntax) } catch { throw .dicomCopy(error) }
                    try write(part10, to: "\(bucket)/\(name).dcm")
                } catch .dicomCopy(.missingAttribute(let tag)) {
                    // A dataset without the SOP Class or Instance UID cannot be a Part 10
                    // file, but its image and metadata are as good as any: they are kept,
                    // and the ledger says why there is no copy.
                    written.notes.append("no .dcm copy: the dataset has no \(tag) \(StandardDictionary.entry(for: tag)?.keyword ?? "")")
                }
            }
        } catch {
            for output in written.outputs { writer.remove(output) }
            throw error
        }
        written.outputs.sort()
        return written
    }
}
