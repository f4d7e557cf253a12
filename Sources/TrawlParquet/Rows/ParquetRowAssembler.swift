import NIOCore

/// How rows are rendered as JSON.
public struct ParquetJSONOptions: Sendable {
    /// Keep object fields whose value is null (`"a":null`); by default they are left out. Nulls inside
    /// arrays are always kept, since leaving them out would shift the elements.
    public var keepNulls = false

    public init(keepNulls: Bool = false) {
        self.keepNulls = keepNulls
    }
}

extension ParquetFileReader {
    /// The rows of row group `rowGroup`, each a JSON object with the schema's fields in order, rendered
    /// into one buffer: row `i` is `buffer[ends[i - 1]..<ends[i]]`. Lists become arrays, maps objects,
    /// structs objects; see ``ParquetJSONValueWriter`` for values.
    ///
    /// - Throws: ``ParquetError`` naming the file, row group and column.
    public func jsonRows(
        rowGroup: Int,
        options: ParquetJSONOptions = ParquetJSONOptions()
    ) async throws(ParquetError) -> (buffer: ByteBuffer, ends: [Int]) {
        var columns: [ParquetColumnData] = []
        columns.reserveCapacity(self.schema.leaves.count)
        for index in self.schema.leaves.indices {
            columns.append(try await self.readColumn(rowGroup: rowGroup, column: index))
        }
        return try self.renderRows(rowGroup: rowGroup, columns: columns, options: options)
    }

    /// Renders the rows of row group `rowGroup` from its decoded columns (every leaf, in order).
    func renderRows(
        rowGroup: Int,
        columns: [ParquetColumnData],
        options: ParquetJSONOptions
    ) throws(ParquetError) -> (buffer: ByteBuffer, ends: [Int]) {
        let rows = Int(self.metadata.rowGroups[rowGroup].numRows)
        var assembler = ParquetRowAssembler(schema: self.schema, columns: columns, options: options)
        do throws(ParquetDecodingError) {
            return try assembler.render(rows: rows)
        } catch {
            throw error.at(ParquetError.Location(file: self.name, rowGroup: rowGroup))
        }
    }
}

/// Rebuilds nested rows from the columns' repetition and definition levels (the Dremel record assembly)
/// and writes each as JSON. Every leaf has a cursor; a field reads its presence, list lengths and values
/// from the leaves beneath it, and a null or empty field consumes exactly one slot of each of them.
struct ParquetRowAssembler {
    private let schema: ParquetSchema
    private let columns: [ParquetColumnData]
    private let options: ParquetJSONOptions
    private var slots: [Int]
    private var values: [Int]
    private var writer = ParquetJSONValueWriter()

    init(schema: ParquetSchema, columns: [ParquetColumnData], options: ParquetJSONOptions) {
        self.schema = schema
        self.columns = columns
        self.options = options
        self.slots = Array(repeating: 0, count: columns.count)
        self.values = Array(repeating: 0, count: columns.count)
    }

    /// How a group node is shown.
    private enum Shape {
        case structure
        /// A LIST-annotated group; `element` is the node whose instances are the elements, `repeated` the
        /// node that repeats (the same node in the legacy two-level form).
        case list(repeated: ParquetSchema.Node, element: ParquetSchema.Node)
        case map(repeated: ParquetSchema.Node, key: ParquetSchema.Node, value: ParquetSchema.Node?)
    }

    mutating func render(rows: Int) throws(ParquetDecodingError) -> (buffer: ByteBuffer, ends: [Int]) {
        var ends: [Int] = []
        ends.reserveCapacity(rows)
        for _ in 0..<rows {
            try self.writeStruct(self.schema.root, definition: 0, repetition: 0)
            ends.append(self.writer.buffer.writerIndex)
        }
        for (index, column) in self.columns.enumerated() where self.slots[index] != column.slotCount {
            throw ParquetDecodingError(
                .corruptPage,
                "column \(column.leaf.dottedPath) holds \(column.slotCount) slots, the rows used \(self.slots[index])"
            )
        }
        return (self.writer.buffer, ends)
    }

    // MARK: Levels

    private func firstLeaf(_ node: ParquetSchema.Node) -> Int {
        var node = node
        while let child = node.children.first { node = child }
        return node.leafIndex ?? 0
    }

    private func leaves(_ node: ParquetSchema.Node, into indices: inout [Int]) {
        if let leaf = node.leafIndex {
            indices.append(leaf)
        } else {
            for child in node.children { self.leaves(child, into: &indices) }
        }
    }

    private func definition(at leaf: Int) throws(ParquetDecodingError) -> Int {
        let column = self.columns[leaf]
        guard self.slots[leaf] < column.slotCount else {
            throw ParquetDecodingError(.corruptPage, "column \(column.leaf.dottedPath) ran out of values for the rows")
        }
        return column.leaf.maxDefinitionLevel == 0 ? 0 : Int(column.definitionLevels[self.slots[leaf]])
    }

    /// The repetition level of the leaf's next slot, or 0 when it has none left (a new row would start).
    private func nextRepetition(at leaf: Int) -> Int {
        let column = self.columns[leaf]
        guard column.leaf.maxRepetitionLevel > 0, self.slots[leaf] < column.slotCount else { return 0 }
        return Int(column.repetitionLevels[self.slots[leaf]])
    }

    /// Skips one slot of every leaf under `node` (the node is null or empty here).
    private mutating func skipSlot(_ node: ParquetSchema.Node) {
        var indices: [Int] = []
        self.leaves(node, into: &indices)
        for leaf in indices { self.slots[leaf] += 1 }
    }

    // MARK: Nodes

    private func shape(_ node: ParquetSchema.Node) -> Shape {
        let element = node.element
        let annotatedList = element.logicalType == .list || element.convertedType == .list
        let annotatedMap =
            element.logicalType == .map || element.convertedType == .map || element.convertedType == .mapKeyValue
        if annotatedList, node.children.count == 1, let repeated = node.children.first,
            repeated.repetition == .repeated
        {
            // The legacy two-level forms: the repeated field is itself the element.
            if repeated.isLeaf || repeated.children.count > 1 || repeated.name == "array"
                || repeated.name == "\(node.name)_tuple"
            {
                return .list(repeated: repeated, element: repeated)
            }
            return .list(repeated: repeated, element: repeated.children[0])
        }
        if annotatedMap, node.children.count == 1, let repeated = node.children.first,
            repeated.repetition == .repeated, !repeated.isLeaf, (1...2).contains(repeated.children.count)
        {
            // A map without values is the set of its keys: an array, as Arrow reads it.
            if repeated.children.count == 1 { return .list(repeated: repeated, element: repeated.children[0]) }
            return .map(
                repeated: repeated,
                key: repeated.children[0],
                value: repeated.children.count == 2 ? repeated.children[1] : nil
            )
        }
        return .structure
    }

    /// The levels a node adds when it is present.
    private func levels(
        of node: ParquetSchema.Node,
        definition: Int,
        repetition: Int
    ) -> (definition: Int, repetition: Int) {
        switch node.repetition {
        case .required: (definition, repetition)
        case .optional: (definition + 1, repetition)
        case .repeated: (definition + 1, repetition + 1)
        }
    }

    /// Writes the fields of a group present at `definition` (its own level).
    private mutating func writeStruct(
        _ node: ParquetSchema.Node,
        definition: Int,
        repetition: Int
    ) throws(ParquetDecodingError) {
        self.writer.beginObject()
        for child in node.children {
            let leaf = self.firstLeaf(child)
            if child.repetition == .optional, try self.definition(at: leaf) <= definition {
                self.skipSlot(child)
                if self.options.keepNulls {
                    self.writer.key(child.name)
                    self.writer.null()
                }
                continue
            }
            self.writer.key(child.name)
            try self.writeField(child, definition: definition, repetition: repetition)
        }
        self.writer.endObject()
    }

    /// Writes a field whose presence (if optional) has been checked; `definition` and `repetition` are
    /// its parent's levels.
    private mutating func writeField(
        _ node: ParquetSchema.Node,
        definition: Int,
        repetition: Int
    ) throws(ParquetDecodingError) {
        if node.repetition == .repeated {
            // A repeated field without a LIST annotation is a list of its instances.
            try self.writeRepeated(node, element: node, definition: definition, repetition: repetition)
            return
        }
        let (own, ownRepetition) = self.levels(of: node, definition: definition, repetition: repetition)
        if node.isLeaf {
            try self.writeLeaf(node)
            return
        }
        switch self.shape(node) {
        case .structure:
            try self.writeStruct(node, definition: own, repetition: ownRepetition)
        case .list(let repeated, let element):
            try self.writeRepeated(repeated, element: element, definition: own, repetition: ownRepetition)
        case .map(let repeated, let key, let value):
            try self.writeMap(repeated, key: key, value: value, definition: own, repetition: ownRepetition)
        }
    }

    /// Writes the instances of `repeated` (whose parent sits at `definition`/`repetition`) as an array:
    /// each instance is the element itself (the legacy two-level forms and unannotated repeated fields),
    /// or holds it as its only child (the standard three-level list).
    private mutating func writeRepeated(
        _ repeated: ParquetSchema.Node,
        element: ParquetSchema.Node,
        definition: Int,
        repetition: Int
    ) throws(ParquetDecodingError) {
        let leaf = self.firstLeaf(repeated)
        let (inside, depth) = self.levels(of: repeated, definition: definition, repetition: repetition)
        let elementIsRepeated =
            element.leafIndex == repeated.leafIndex && element.name == repeated.name
            && element.children.count == repeated.children.count
        self.writer.beginArray()
        if try self.definition(at: leaf) < inside {
            self.skipSlot(repeated)
        } else {
            repeat {
                if !elementIsRepeated {
                    try self.writeElement(element, definition: inside, repetition: depth)
                } else if repeated.isLeaf {
                    try self.writeLeaf(repeated)
                } else {
                    try self.writeInstance(repeated, definition: inside, repetition: depth)
                }
            } while self.nextRepetition(at: leaf) == depth
        }
        self.writer.endArray()
    }

    /// One instance of a repeated group that is itself the element (a struct).
    private mutating func writeInstance(
        _ node: ParquetSchema.Node,
        definition: Int,
        repetition: Int
    ) throws(ParquetDecodingError) {
        switch self.shape(node) {
        case .structure: try self.writeStruct(node, definition: definition, repetition: repetition)
        case .list(let repeated, let element):
            try self.writeRepeated(repeated, element: element, definition: definition, repetition: repetition)
        case .map(let repeated, let key, let value):
            try self.writeMap(repeated, key: key, value: value, definition: definition, repetition: repetition)
        }
    }

    /// One element of a three-level list: the single child of the repeated group, possibly null.
    private mutating func writeElement(
        _ element: ParquetSchema.Node,
        definition: Int,
        repetition: Int
    ) throws(ParquetDecodingError) {
        if element.repetition == .optional, try self.definition(at: self.firstLeaf(element)) <= definition {
            self.skipSlot(element)
            self.writer.null()
            return
        }
        try self.writeField(element, definition: definition, repetition: repetition)
    }

    private mutating func writeMap(
        _ repeated: ParquetSchema.Node,
        key: ParquetSchema.Node,
        value: ParquetSchema.Node?,
        definition: Int,
        repetition: Int
    ) throws(ParquetDecodingError) {
        let leaf = self.firstLeaf(repeated)
        let (inside, depth) = self.levels(of: repeated, definition: definition, repetition: repetition)
        self.writer.beginObject()
        if try self.definition(at: leaf) < inside {
            self.skipSlot(repeated)
        } else {
            repeat {
                guard key.isLeaf else {
                    throw ParquetDecodingError(.unsupported, "map \(repeated.name) has a key that is not a primitive")
                }
                try self.writeMapKey(key)
                if let value {
                    if value.repetition == .optional, try self.definition(at: self.firstLeaf(value)) <= inside {
                        self.skipSlot(value)
                        self.writer.null()
                    } else {
                        try self.writeField(value, definition: inside, repetition: depth)
                    }
                } else {
                    self.writer.null()
                }
            } while self.nextRepetition(at: leaf) == depth
        }
        self.writer.endObject()
    }

    private mutating func writeMapKey(_ key: ParquetSchema.Node) throws(ParquetDecodingError) {
        guard let index = key.leafIndex else { return }
        let column = self.columns[index]
        let present = self.holdsValue(index)
        self.slots[index] += 1
        guard present else {
            self.writer.key("")
            return
        }
        self.writer.keyFromValue(column, at: self.values[index])
        self.values[index] += 1
    }

    /// Whether the leaf's current slot holds a value (its definition level is the maximum).
    private func holdsValue(_ leaf: Int) -> Bool {
        let column = self.columns[leaf]
        return column.leaf.maxDefinitionLevel == 0
            || Int(column.definitionLevels[self.slots[leaf]]) == column.leaf.maxDefinitionLevel
    }

    /// A primitive value (or null), consuming one slot.
    private mutating func writeLeaf(_ node: ParquetSchema.Node) throws(ParquetDecodingError) {
        guard let index = node.leafIndex else { return }
        let column = self.columns[index]
        guard self.slots[index] < column.slotCount else {
            throw ParquetDecodingError(.corruptPage, "column \(column.leaf.dottedPath) ran out of values for the rows")
        }
        let present = self.holdsValue(index)
        self.slots[index] += 1
        if present {
            guard self.values[index] < column.values.count else {
                throw ParquetDecodingError(
                    .corruptPage,
                    "column \(column.leaf.dottedPath) has fewer values than levels"
                )
            }
            self.writer.value(column, at: self.values[index])
            self.values[index] += 1
        } else {
            self.writer.null()
        }
    }
}
