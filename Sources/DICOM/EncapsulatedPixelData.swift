import Foundation

/// Encapsulated (compressed) Pixel Data, PS3.5 A.4: a Basic Offset Table item followed by
/// fragments, with an optional Extended Offset Table held in (7FE0,0001)/(7FE0,0002).
public struct EncapsulatedPixelData: Sendable {
    /// Offsets of each frame's first fragment, measured from the first fragment's item tag.
    public var basicOffsetTable: [UInt32]
    /// Fragment payloads (item values), slices of the source buffer.
    public var fragments: [Data]
    /// Offset of each fragment's item tag from the first fragment's item tag.
    public var fragmentOffsets: [UInt64]
    /// The bytes of every item as encoded (headers included, delimiter excluded): the form
    /// a DICOM JSON InlineBinary of an encapsulated value takes.
    public var encodedItems: Data

    public init(basicOffsetTable: [UInt32], fragments: [Data], fragmentOffsets: [UInt64], encodedItems: Data) {
        self.basicOffsetTable = basicOffsetTable
        self.fragments = fragments
        self.fragmentOffsets = fragmentOffsets
        self.encodedItems = encodedItems
    }

    /// Frames encapsulated anew: one fragment per frame (padded to an even length) and a
    /// Basic Offset Table of each frame's item offset when there are several frames and the
    /// offsets fit in 32 bits (PS3.5 A.4).
    public init(frames: [Data]) {
        var fragments: [Data] = [], offsets: [UInt32] = [], fragmentOffsets: [UInt64] = []
        var offset: UInt64 = 0
        for frame in frames {
            var fragment = frame
            if fragment.count % 2 == 1 { fragment.append(0) }
            offsets.append(UInt32(truncatingIfNeeded: offset))
            fragmentOffsets.append(offset)
            fragments.append(fragment)
            offset += 8 + UInt64(fragment.count)
        }
        var items = Data()
        func item(_ value: Data) {
            var header: [UInt8] = [0xFE, 0xFF, 0x00, 0xE0]
            withUnsafeBytes(of: UInt32(value.count).littleEndian) { header += $0 }
            items.append(contentsOf: header)
            items.append(value)
        }
        let table = offset <= UInt64(UInt32.max) && frames.count > 1 ? offsets : []
        item(table.map(\.littleEndian).withUnsafeBytes { Data($0) })
        for fragment in fragments { item(fragment) }
        self.init(basicOffsetTable: table, fragments: fragments, fragmentOffsets: fragmentOffsets, encodedItems: items)
    }

    /// Why fragments could not be assigned to frames.
    public enum FrameError: Error, Sendable, Equatable, CustomStringConvertible {
        case offsetTableMismatch(entries: Int, frames: Int)
        case offsetOutOfRange(frame: Int, offset: UInt64)
        case cannotSplit(fragments: Int, frames: Int)

        public var description: String {
            switch self {
            case .offsetTableMismatch(let entries, let frames):
                "the offset table has \(entries) entries for \(frames) frames"
            case .offsetOutOfRange(let frame, let offset):
                "frame \(frame + 1) starts at offset \(offset), past the last fragment"
            case .cannotSplit(let fragments, let frames):
                "\(fragments) fragments cannot be split into \(frames) frames without an offset table"
            }
        }
    }

    /// The compressed bytes of each frame, in order, ready for a decoder.
    public func frames(count numberOfFrames: Int, extendedOffsets: [UInt64]? = nil,
                       extendedLengths: [UInt64]? = nil) throws(FrameError) -> [Data] {
        try frameFragments(count: numberOfFrames, extendedOffsets: extendedOffsets, extendedLengths: extendedLengths)
            .map(Self.joined)
    }

    /// The fragments of each frame, in order: slices of the source buffer, so that a
    /// decoder can join one frame's fragments when it needs them (`joined`) and a
    /// 2,000-frame cine file is never copied whole.
    ///
    /// The Extended Offset Table wins when present (PS3.5 A.4: the Basic Offset Table is
    /// then empty); then the Basic Offset Table; without either, one frame takes every
    /// fragment, as many fragments as frames map one to one, and otherwise a fragment that
    /// opens with a JPEG SOI or JPEG 2000 SOC marker starts a new frame.
    public func frameFragments(count numberOfFrames: Int, extendedOffsets: [UInt64]? = nil,
                               extendedLengths: [UInt64]? = nil) throws(FrameError) -> [[Data]] {
        let frames = max(numberOfFrames, 1)
        if let offsets = extendedOffsets, !offsets.isEmpty {
            return try framesFromExtendedTable(offsets: offsets, lengths: extendedLengths, frames: frames)
        }
        if !basicOffsetTable.isEmpty {
            return try framesFromOffsets(basicOffsetTable.map(UInt64.init), frames: frames)
        }
        if frames == 1 { return [fragments] }
        if fragments.count == frames { return fragments.map { [$0] } }
        return try framesFromMarkers(frames: frames)
    }

    private func framesFromOffsets(_ offsets: [UInt64], frames: Int) throws(FrameError) -> [[Data]] {
        guard offsets.count == frames else {
            throw .offsetTableMismatch(entries: offsets.count, frames: frames)
        }
        var result: [[Data]] = []
        result.reserveCapacity(frames)
        for (frame, start) in offsets.enumerated() {
            let end = frame + 1 < offsets.count ? offsets[frame + 1] : UInt64.max
            guard let first = fragmentOffsets.firstIndex(of: start) else {
                throw .offsetOutOfRange(frame: frame, offset: start)
            }
            var last = first
            while last + 1 < fragmentOffsets.count, fragmentOffsets[last + 1] < end { last += 1 }
            result.append(Array(fragments[first...last]))
        }
        return result
    }

    private func framesFromExtendedTable(offsets: [UInt64], lengths: [UInt64]?, frames: Int) throws(FrameError) -> [[Data]] {
        guard offsets.count == frames else {
            throw .offsetTableMismatch(entries: offsets.count, frames: frames)
        }
        // The extended table addresses the concatenated item stream directly: a frame is the
        // payload of the fragment at its offset (PS3.3 C.7.6.3.1.8 allows one fragment per frame).
        var result: [[Data]] = []
        for (frame, start) in offsets.enumerated() {
            guard let index = fragmentOffsets.firstIndex(of: start) else {
                throw .offsetOutOfRange(frame: frame, offset: start)
            }
            var payload = fragments[index]
            if let lengths, frame < lengths.count, Int(clamping: lengths[frame]) < payload.count {
                payload = payload.prefix(Int(clamping: lengths[frame]))
            }
            result.append([payload])
        }
        return result
    }

    private func framesFromMarkers(frames: Int) throws(FrameError) -> [[Data]] {
        var starts: [Int] = []
        for (index, fragment) in fragments.enumerated() where index == 0 || fragment.startsFrame {
            starts.append(index)
        }
        guard starts.count == frames else {
            throw .cannotSplit(fragments: fragments.count, frames: frames)
        }
        return starts.enumerated().map { position, start in
            let end = position + 1 < starts.count ? starts[position + 1] : fragments.count
            return Array(fragments[start..<end])
        }
    }

    /// One frame's fragments as one buffer: the fragment itself when it is alone (no copy).
    public static func joined(_ parts: [Data]) -> Data {
        if parts.count == 1, let only = parts.first { return only }
        var joined = Data(capacity: parts.reduce(0) { $0 + $1.count })
        for part in parts { joined.append(part) }
        return joined
    }
}

extension Data {
    /// A JPEG SOI, JPEG 2000 codestream SOC or JP2 signature box opens a frame.
    fileprivate var startsFrame: Bool {
        guard count >= 4 else { return false }
        let b0 = self[startIndex], b1 = self[startIndex + 1]
        if b0 == 0xFF && (b1 == 0xD8 || b1 == 0x4F) { return true }
        return self[startIndex + 2] == 0x00 && self[startIndex + 3] == 0x0C && b0 == 0x00 && b1 == 0x00
    }
}

extension DataSet {
    /// The compressed frames of this dataset's encapsulated Pixel Data, using Number of
    /// Frames and the Extended Offset Table when present; nil when Pixel Data is native or absent.
    public func encapsulatedFrames() throws(EncapsulatedPixelData.FrameError) -> [Data]? {
        try encapsulatedFrameFragments()?.map(EncapsulatedPixelData.joined)
    }

    /// The fragments of each frame of this dataset's encapsulated Pixel Data (slices, not
    /// copies); nil when Pixel Data is native or absent.
    public func encapsulatedFrameFragments() throws(EncapsulatedPixelData.FrameError) -> [[Data]]? {
        guard case .encapsulated(let pixelData)? = self[.pixelData]?.value else { return nil }
        let frames = integer(.numberOfFrames) ?? 1
        let offsets = self[.extendedOffsetTable]?.bytes.map { readBinary($0, size: 8) { $0 }.compactMap { $0 } }
        let lengths = self[.extendedOffsetTableLengths]?.bytes.map { readBinary($0, size: 8) { $0 }.compactMap { $0 } }
        return try pixelData.frameFragments(count: frames, extendedOffsets: offsets, extendedLengths: lengths)
    }
}
