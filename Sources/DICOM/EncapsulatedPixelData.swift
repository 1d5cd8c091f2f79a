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
        try Self.pickFragments(frames: numberOfFrames, basicOffsetTable: basicOffsetTable, fragmentOffsets: fragmentOffsets,
                               extendedOffsets: extendedOffsets, extendedLengths: extendedLengths,
                               startsFrame: { Self.startsFrame(fragments[$0]) })
            .map { frame in
                frame.map { pick in
                    let fragment = fragments[pick.index]
                    guard let length = pick.length, length < fragment.count else { return fragment }
                    return fragment.prefix(length)
                }
            }
    }

    /// One fragment of a frame: its index, and the most of its payload the frame takes (the
    /// Extended Offset Table's length), nil for all of it.
    public struct FragmentPick: Sendable, Equatable {
        public let index: Int
        public let length: Int?
    }

    /// Which fragments make each frame, from the tables and the fragments' offsets alone, so
    /// that fragments in memory and fragments left in their file are split alike.
    /// `startsFrame(i)` says whether fragment `i` opens with a start marker; it is asked only
    /// when neither table nor the fragment count decides.
    public static func pickFragments(frames numberOfFrames: Int, basicOffsetTable: [UInt32], fragmentOffsets: [UInt64],
                                     extendedOffsets: [UInt64]?, extendedLengths: [UInt64]?,
                                     startsFrame: (Int) -> Bool) throws(FrameError) -> [[FragmentPick]] {
        let frames = max(numberOfFrames, 1)
        let count = fragmentOffsets.count
        if let offsets = extendedOffsets, !offsets.isEmpty {
            // The extended table addresses the concatenated item stream directly: a frame is
            // the payload of the fragment at its offset (PS3.3 C.7.6.3.1.8 allows one
            // fragment per frame).
            guard offsets.count == frames else { throw .offsetTableMismatch(entries: offsets.count, frames: frames) }
            var result: [[FragmentPick]] = []
            for (frame, start) in offsets.enumerated() {
                guard let index = fragmentOffsets.firstIndex(of: start) else { throw .offsetOutOfRange(frame: frame, offset: start) }
                let length = extendedLengths.flatMap { frame < $0.count ? Int(clamping: $0[frame]) : nil }
                result.append([FragmentPick(index: index, length: length)])
            }
            return result
        }
        if !basicOffsetTable.isEmpty {
            let offsets = basicOffsetTable.map(UInt64.init)
            guard offsets.count == frames else { throw .offsetTableMismatch(entries: offsets.count, frames: frames) }
            var result: [[FragmentPick]] = []
            result.reserveCapacity(frames)
            for (frame, start) in offsets.enumerated() {
                let end = frame + 1 < offsets.count ? offsets[frame + 1] : UInt64.max
                guard let first = fragmentOffsets.firstIndex(of: start) else { throw .offsetOutOfRange(frame: frame, offset: start) }
                var last = first
                while last + 1 < count, fragmentOffsets[last + 1] < end { last += 1 }
                result.append((first...last).map { FragmentPick(index: $0, length: nil) })
            }
            return result
        }
        if frames == 1 { return [(0..<count).map { FragmentPick(index: $0, length: nil) }] }
        if count == frames { return (0..<count).map { [FragmentPick(index: $0, length: nil)] } }
        var starts: [Int] = []
        for index in 0..<count where index == 0 || startsFrame(index) { starts.append(index) }
        guard starts.count == frames else { throw .cannotSplit(fragments: count, frames: frames) }
        return starts.enumerated().map { position, start in
            let end = position + 1 < starts.count ? starts[position + 1] : count
            return (start..<end).map { FragmentPick(index: $0, length: nil) }
        }
    }

    /// A JPEG SOI, JPEG 2000 codestream SOC or JP2 signature box opens a frame.
    public static func startsFrame(_ fragment: Data) -> Bool {
        guard fragment.count >= 4 else { return false }
        let b0 = fragment[fragment.startIndex], b1 = fragment[fragment.startIndex + 1]
        if b0 == 0xFF && (b1 == 0xD8 || b1 == 0x4F) { return true }
        return fragment[fragment.startIndex + 2] == 0x00 && fragment[fragment.startIndex + 3] == 0x0C && b0 == 0x00 && b1 == 0x00
    }

    /// One frame's fragments as one buffer: the fragment itself when it is alone (no copy).
    public static func joined(_ parts: [Data]) -> Data {
        if parts.count == 1, let only = parts.first { return only }
        var joined = Data(capacity: parts.reduce(0) { $0 + $1.count })
        for part in parts { joined.append(part) }
        return joined
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
        let (offsets, lengths) = extendedOffsetTable()
        return try pixelData.frameFragments(count: integer(.numberOfFrames) ?? 1, extendedOffsets: offsets, extendedLengths: lengths)
    }

    /// The Extended Offset Table (7FE0,0001) and its lengths (7FE0,0002), when present.
    func extendedOffsetTable() -> (offsets: [UInt64]?, lengths: [UInt64]?) {
        (self[.extendedOffsetTable]?.bytes.map { readBinary($0, size: 8) { $0 }.compactMap { $0 } },
         self[.extendedOffsetTableLengths]?.bytes.map { readBinary($0, size: 8) { $0 }.compactMap { $0 } })
    }
}
