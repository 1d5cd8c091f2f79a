@preconcurrency import Glibc
import Deidentify
import DICOM
import Foundation
import Imaging

/// The de-identified Part 10 copy (`write_dicom`) of a dataset whose Pixel Data was left in
/// its file because the file is too large to hold: the same bytes the in-memory copy has,
/// written a MiB (native) or a frame (encapsulated) at a time, so that memory stays at a
/// frame whatever the file's size.
///
/// Native samples have the bits outside Bits Stored cleared as they pass (`UnusedBits`).
/// Compressed frames are read twice: once to learn whether any carries text segments and
/// how long each is without them, once to write. Without text the items are copied as they
/// are (fragments, offset tables and all); with text every frame is written again without
/// it, one fragment each, behind a Basic Offset Table: what `CompressedTextRemover` does in
/// memory.
enum StreamedDICOMCopy {
    static let chunkSize = 1 << 20

    /// Writes the copy of `dataSet` (Pixel Data in its file) to `path` under `writer`;
    /// returns the notes for the ledger.
    static func write(_ dataSet: DataSet, syntax: TransferSyntax, writer: OutputWriter,
                      to path: String) throws(WriteStage.Failure) -> [String] {
        guard case .inFile(let pixelData)? = dataSet[.pixelData]?.value else { return [] }
        var dataSet = dataSet
        var notes: [String] = []
        let body: Body
        if pixelData.items != nil, case .encapsulated(let codec) = syntax.pixelEncoding,
           let frames = try? dataSet.frameSpansInFile() {
            var removed = 0, unchecked = 0, lengths: [Int] = [], fits = true
            for frame in frames {
                let cleaned = CompressedTextRemover.cleanedFrame(try read(frame, of: pixelData), codec: codec)
                removed += cleaned.removed
                if !cleaned.checked { unchecked += 1 }
                fits = fits && CompressedTextRemover.fitsOneFragment(cleaned.bytes)
                lengths.append(cleaned.bytes.count + cleaned.bytes.count % 2)
            }
            if unchecked > 0 { notes.append("\(unchecked) compressed frame(s) could not be checked for text") }
            if removed > 0 && fits {
                notes.insert("removed \(removed) text segment(s) from compressed frames", at: 0)
                // The offsets of an Extended Offset Table would point into the old fragments.
                _ = dataSet.remove(.extendedOffsetTable)
                _ = dataSet.remove(.extendedOffsetTableLengths)
                var offsets: [UInt32] = [], offset = 0
                for length in lengths {
                    offsets.append(UInt32(truncatingIfNeeded: offset))
                    offset += 8 + length
                }
                body = .reencapsulated(frames, codec, table: offset <= Int(UInt32.max) && frames.count > 1 ? offsets : [])
            } else {
                body = .copied
            }
        } else if pixelData.items != nil {
            body = .copied
        } else {
            body = .native(UnusedBits.Mask(of: dataSet), byteOrder: dataSet.byteOrder,
                           swapWords: dataSet.byteOrder == .bigEndian ? (dataSet[.pixelData]?.vr.wordSize ?? 1) : 1)
        }
        let pieces: DICOMWriter.Part10Pieces
        do {
            guard let made = try DICOMWriter.part10Pieces(dataSet, transferSyntax: syntax) else { return notes }
            pieces = made
        } catch {
            throw .dicomCopy(error)
        }
        var readFailure: WriteStage.Failure?
        do {
            try writer.write(to: path) { descriptor in
                func put(_ data: Data) -> OutputWriter.Refusal? { OutputWriter.writeAll(data, to: descriptor) }
                if let failure = put(pieces.head) { return failure }
                do throws(WriteStage.Failure) {
                    if let failure = try body.write(pixelData, through: put) { return failure }
                } catch {
                    readFailure = error
                    return .other("\(error)")
                }
                return put(pieces.tail)
            }
        } catch {
            throw readFailure ?? .output(error)
        }
        return notes
    }

    /// What goes between the Pixel Data element's header and the pieces' tail.
    private enum Body {
        case native(UnusedBits.Mask?, byteOrder: ByteOrder, swapWords: Int)
        case copied
        case reencapsulated([[PixelDataInFile.Span]], TransferSyntax.Codec, table: [UInt32])

        /// Nil, or why the output refused the bytes; throws when the source cannot be read.
        func write(_ pixelData: PixelDataInFile, through put: (Data) -> OutputWriter.Refusal?) throws(WriteStage.Failure) -> OutputWriter.Refusal? {
            switch self {
            case .native(let mask, let byteOrder, let swapWords):
                let failure = try inChunks(pixelData, through: put) { chunk in
                    if let mask { chunk.withUnsafeMutableBytes { mask.apply(to: $0, byteOrder: byteOrder) } }
                    if swapWords > 1 { chunk = chunk.byteSwapped(wordSize: swapWords) }
                }
                if let failure { return failure }
                return pixelData.length % 2 == 1 ? put(Data([0])) : nil
            case .copied:
                return try inChunks(pixelData, through: put) { _ in }
            case .reencapsulated(let frames, let codec, let table):
                if let failure = put(item(table.map(\.littleEndian).withUnsafeBytes { Data($0) })) { return failure }
                for frame in frames {
                    var bytes = CompressedTextRemover.cleanedFrame(try read(frame, of: pixelData), codec: codec).bytes
                    if bytes.count % 2 == 1 { bytes.append(0) }
                    if let failure = put(item(bytes)) { return failure }
                }
                return nil
            }
        }

        /// The native value read and put `chunkSize` bytes at a time, each changed by
        /// `transform` first: a 2 GB cine file never sits in memory whole.
        private func inChunks(_ pixelData: PixelDataInFile, through put: (Data) -> OutputWriter.Refusal?,
                              transform: (inout Data) -> Void) throws(WriteStage.Failure) -> OutputWriter.Refusal? {
            var offset = 0
            while offset < pixelData.length {
                let count = min(StreamedDICOMCopy.chunkSize, pixelData.length - offset)
                var chunk = try read([PixelDataInFile.Span(offset: pixelData.valueOffset + offset, length: count)], of: pixelData)
                transform(&chunk)
                if let failure = put(chunk) { return failure }
                offset += count
            }
            return nil
        }

        private func item(_ value: Data) -> Data {
            var item = Data([0xFE, 0xFF, 0x00, 0xE0])
            withUnsafeBytes(of: UInt32(value.count).littleEndian) { item.append(contentsOf: $0) }
            item.append(value)
            return item
        }
    }

    private static func read(_ spans: [PixelDataInFile.Span], of pixelData: PixelDataInFile) throws(WriteStage.Failure) -> Data {
        do {
            return EncapsulatedPixelData.joined(try spans.map { (span) throws(DICOMFileError) in try pixelData.read(span) })
        } catch {
            throw .sourceUnreadable("\(error)")
        }
    }
}
