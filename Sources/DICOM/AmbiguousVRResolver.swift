/// Settles the VR of implicit-VR elements whose dictionary entry offers a choice
/// ("US or SS", "OB or OW", "US or OW"), from the attributes that decide it, the way
/// PS3.5 and the IOD definitions in PS3.3 tie them together.
enum AmbiguousVRResolver {
    static func resolve(_ dataSet: inout DataSet, inheritedPixelRepresentation: UInt16?) {
        let pixelRepresentation = dataSet.firstUnsignedShort(.pixelRepresentation) ?? inheritedPixelRepresentation
        var changes: [DataElement] = []
        for element in dataSet.elements {
            if case .sequence(var items) = element.value {
                for index in items.indices {
                    resolve(&items[index], inheritedPixelRepresentation: pixelRepresentation)
                }
                var copy = element
                copy.value = .sequence(items)
                changes.append(copy)
                continue
            }
            guard element.isVRInferred, let vr = StandardDictionary.vr(for: element.tag) else { continue }
            var copy = element
            switch vr {
            case .usOrSS:
                copy.vr = pixelRepresentation == 1 ? .SS : .US
            case .usOrOW:
                // LUT Data: one entry in the LUT Descriptor means US (PS3.3 C.11.1.1.1).
                copy.vr = dataSet.firstUnsignedShort(.lutDescriptor) == 1 ? .US : .OW
            case .usOrSSOrOW, .obOrOW:
                // Implicit VR Little Endian encodes these as OW (PS3.5 A.1).
                copy.vr = .OW
            case .single, .none:
                continue
            }
            if copy.vr != element.vr { changes.append(copy) }
        }
        for change in changes { dataSet.set(change) }
    }
}

extension DataSet {
    /// The first value of a US element, read in the dataset's byte order.
    func firstUnsignedShort(_ tag: Tag) -> UInt16? {
        guard let bytes = self[tag]?.bytes, bytes.count >= 2 else { return nil }
        let value = UInt16(bytes[bytes.startIndex]) | UInt16(bytes[bytes.startIndex + 1]) << 8
        return byteOrder == .littleEndian ? value : value.byteSwapped
    }
}
