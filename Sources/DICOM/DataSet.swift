import Foundation

/// An ordered collection of data elements: a file's dataset, its File Meta Information, or
/// one item of a sequence.
public struct DataSet: Sendable {
    /// Elements in ascending tag order, as PS3.5 7.1 requires them to be encoded.
    public private(set) var elements: [DataElement]
    /// The byte order of the binary values held in `elements`.
    public var byteOrder: ByteOrder
    /// The character set that decodes this dataset's text: its own (0008,0005), or the
    /// enclosing dataset's when an item has none (PS3.5 6.1.2.5.1).
    public var characterSet: SpecificCharacterSet

    public init(elements: [DataElement] = [], byteOrder: ByteOrder = .littleEndian,
                characterSet: SpecificCharacterSet = .default) {
        self.elements = elements
        self.byteOrder = byteOrder
        self.characterSet = characterSet
        if !elements.isSorted { self.elements.sort { $0.tag < $1.tag } }
    }

    public var isEmpty: Bool { elements.isEmpty }
    public var count: Int { elements.count }

    public subscript(tag: Tag) -> DataElement? {
        guard let index = index(of: tag) else { return nil }
        return elements[index]
    }

    /// Inserts the element, or replaces the one with the same tag.
    public mutating func set(_ element: DataElement) {
        // Datasets are mostly built in tag order (a de-identified copy, a parse): past the
        // last element, no search and no insertion in the middle.
        if elements.last.map({ $0.tag < element.tag }) ?? true {
            elements.append(element)
            return
        }
        let position = insertionPoint(of: element.tag)
        if position < elements.count, elements[position].tag == element.tag {
            elements[position] = element
        } else {
            elements.insert(element, at: position)
        }
    }

    @discardableResult
    public mutating func remove(_ tag: Tag) -> DataElement? {
        guard let index = index(of: tag) else { return nil }
        return elements.remove(at: index)
    }

    /// Removes every element for which `shouldRemove` is true (items are not entered).
    public mutating func removeAll(where shouldRemove: (DataElement) throws -> Bool) rethrows {
        try elements.removeAll(where: shouldRemove)
    }

    mutating func reserveCapacity(_ count: Int) { elements.reserveCapacity(count) }

    /// Appends an element known to sort after every element present: the reader's fast path.
    mutating func appendInOrder(_ element: DataElement) {
        if let last = elements.last, last.tag >= element.tag {
            set(element)
        } else {
            elements.append(element)
        }
    }

    private func index(of tag: Tag) -> Int? {
        let position = insertionPoint(of: tag)
        return position < elements.count && elements[position].tag == tag ? position : nil
    }

    private func insertionPoint(of tag: Tag) -> Int {
        var low = 0
        var high = elements.count
        while low < high {
            let middle = (low + high) / 2
            if elements[middle].tag < tag { low = middle + 1 } else { high = middle }
        }
        return low
    }
}

extension Array where Element == DataElement {
    fileprivate var isSorted: Bool {
        zip(self, dropFirst()).allSatisfy { $0.tag < $1.tag }
    }
}
