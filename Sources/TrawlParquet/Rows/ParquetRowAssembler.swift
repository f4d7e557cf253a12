import NIOCore

/// How rows are rendered as JSON.
public struct ParquetJSONOptions: Sendable {
    /// Keep object fields whose value is null (`"a":null`); by default they are left out. Nulls inside
    /// arrays are always kept, since leaving them out would shift the elements.
    public var keepNulls = false
    /// The top-level fields to render, in schema order whatever the order here; nil renders every field.
    /// The columns of the other fields are not even read.
    public var fields: Set<String>?

    public init(keepNulls: Bool = false, fields: Set<String>? = nil) {
        self.keepNulls = keepNulls
        self.fields = fields
    }

    /// Whether the column `leaf` is part of the rendered fields.
    func reads(_ leaf: ParquetSchema.Leaf) -> Bool {
        guard let fields = self.fields, let top = leaf.path.first else { return true }
        return fields.contains(top)
    }
}

extension ParquetFileReader {
    /// The rows of row group `rowGroup`, each a JSON object with the schema's fields in order, rendered
    /// into one buffer: row `i` is `buffer[ends[i - 1]..<ends[i]]`. Lists become arrays, maps objects,
    /// structs objects; see ``ParquetJSONValueWriter`` for values. ``rowRenderer(rowGroup:options:)``
    /// hands the same rows out in pieces of bounded size.
    ///
    /// - Throws: ``ParquetError`` naming the file, row group and column.
    public func jsonRows(
        rowGroup: Int,
        options: ParquetJSONOptions = ParquetJSONOptions()
    ) async throws(ParquetError) -> (buffer: ByteBuffer, ends: [Int]) {
        var renderer = try await self.rowRenderer(rowGroup: rowGroup, options: options)
        return try renderer.all()
    }

    /// Reads and decodes every column of row group `rowGroup`, ready to render its rows piece by piece.
    ///
    /// - Throws: ``ParquetError`` naming the file, row group and column.
    public func rowRenderer(
        rowGroup: Int,
        options: ParquetJSONOptions = ParquetJSONOptions()
    ) async throws(ParquetError) -> ParquetRowRenderer {
        try self.checkLimits(rowGroup: rowGroup) { options.reads(self.schema.leaves[$0]) }
        var columns: [ParquetColumnData] = []
        columns.reserveCapacity(self.schema.leaves.count)
        for (index, leaf) in self.schema.leaves.enumerated() {
            if options.reads(leaf) {
                columns.append(try await self.readColumn(rowGroup: rowGroup, column: index))
            } else {
                columns.append(
                    ParquetColumnData(
                        leaf: leaf,
                        definitionLevels: [],
                        repetitionLevels: [],
                        values: .boolean([]),
                        slotCount: 0
                    )
                )
            }
        }
        return try self.rowRenderer(rowGroup: rowGroup, columns: columns, options: options)
    }

    /// A renderer of row group `rowGroup` from its decoded columns (every leaf, in order).
    func rowRenderer(
        rowGroup: Int,
        columns: [ParquetColumnData],
        options: ParquetJSONOptions
    ) throws(ParquetError) -> ParquetRowRenderer {
        let rows = self.metadata.rowGroups[rowGroup].numRows
        let location = ParquetError.Location(file: self.name, rowGroup: rowGroup)
        // Every row takes at least one slot of every column: a row count past that is a lie.
        guard rows >= 0, columns.allSatisfy({ !options.reads($0.leaf) || Int64($0.slotCount) >= rows }) else {
            throw ParquetError(
                .corruptMetadata,
                "the row group claims \(rows) rows, more than its columns hold (or fewer than none)",
                location: location
            )
        }
        if let deep = self.schema.leaves.first(where: { $0.maxDefinitionLevel > 255 }) {
            throw ParquetError(
                .unsupported,
                "column \(deep.dottedPath) is nested \(deep.maxDefinitionLevel) levels deep; rows are rendered up to 255",
                location: location
            )
        }
        return ParquetRowRenderer(
            assembler: ParquetRowAssembler(
                plan: ParquetRowPlan(schema: self.schema, fields: options.fields),
                columns: columns,
                options: options,
                rows: Int(rows)
            ),
            location: location
        )
    }
}

/// The rows of one decoded row group, rendered as JSON a piece at a time: memory holds the decoded
/// columns and one piece, not the whole row group's JSON, and pieces of a few hundred KiB are reused by
/// the allocator instead of faulted in fresh.
public struct ParquetRowRenderer {
    var assembler: ParquetRowAssembler
    let location: ParquetError.Location

    /// The rows of the row group.
    public var rows: Int { self.assembler.rows }

    /// The next rows, as many as fit in about `maxBytes` (at least one): row `i` of the piece is
    /// `buffer[ends[i - 1]..<ends[i]]`, offsets from the buffer's start. Nil once every row was rendered.
    ///
    /// - Throws: ``ParquetError`` naming the file and row group when the columns do not add up to the rows.
    public mutating func next(maxBytes: Int = 256 << 10) throws(ParquetError) -> (buffer: ByteBuffer, ends: [Int])? {
        do throws(ParquetDecodingError) {
            return try self.assembler.render(maxBytes: maxBytes)
        } catch {
            throw error.at(self.location)
        }
    }

    /// Every row left, in one buffer.
    mutating func all() throws(ParquetError) -> (buffer: ByteBuffer, ends: [Int]) {
        let first = try self.next(maxBytes: .max)
        while try self.next(maxBytes: .max) != nil {}
        return first ?? (ByteBuffer(), [])
    }
}

/// Rebuilds nested rows from the columns' repetition and definition levels (the Dremel record assembly)
/// and writes each as JSON. Every leaf has a cursor; a field reads its presence, list lengths and values
/// from the leaves beneath it, and a null or empty field consumes exactly one slot of each of them.
///
/// The hot loop touches only value types without references (the plan's nodes, the cursors, the levels
/// gathered into one array), so it runs without reference counting per value.
struct ParquetRowAssembler {
    /// Where a leaf stands, and what it needs to answer for its slots.
    private struct Cursor {
        var slot = 0
        var value = 0
        var slotCount: Int
        var valueCount: Int
        var maxDefinition: UInt8
        var maxRepetition: UInt8
        /// Where the leaf's levels start in ``definitions`` and ``repetitions``.
        var definitionStart: Int
        var repetitionStart: Int
    }

    private let plan: ParquetRowPlan
    private let columns: [ParquetColumnData]
    private let options: ParquetJSONOptions
    let rows: Int
    private var rowsDone = 0
    /// Whether the rows were checked to have used every slot (once all were rendered).
    private var checked = false
    private var cursors: [Cursor] = []
    /// Every leaf's levels, one byte each (deeper schemas are refused before rendering): a quarter of the memory of the decoded levels, in two arrays instead of two per leaf.
    private var definitions: [UInt8] = []
    private var repetitions: [UInt8] = []
    private var writer = ParquetJSONValueWriter()

    init(plan: ParquetRowPlan, columns: [ParquetColumnData], options: ParquetJSONOptions, rows: Int) {
        self.plan = plan
        self.columns = columns
        self.options = options
        self.rows = rows
        self.definitions.reserveCapacity(columns.reduce(0) { $0 + $1.definitionLevels.count })
        self.repetitions.reserveCapacity(columns.reduce(0) { $0 + $1.repetitionLevels.count })
        for column in columns {
            self.cursors.append(
                Cursor(
                    slotCount: column.slotCount,
                    valueCount: column.values.count,
                    maxDefinition: UInt8(truncatingIfNeeded: column.leaf.maxDefinitionLevel),
                    maxRepetition: UInt8(truncatingIfNeeded: column.leaf.maxRepetitionLevel),
                    definitionStart: self.definitions.count,
                    repetitionStart: self.repetitions.count
                )
            )
            // Levels never exceed their column's maximum (the page decoder checks), so they fit a byte.
            self.definitions.append(contentsOf: column.definitionLevels.lazy.map { UInt8(truncatingIfNeeded: $0) })
            self.repetitions.append(contentsOf: column.repetitionLevels.lazy.map { UInt8(truncatingIfNeeded: $0) })
        }
    }

    /// The next rows, up to about `maxBytes` of JSON (at least one row); nil once all were rendered, after
    /// checking that the rows used every slot of every column.
    mutating func render(maxBytes: Int) throws(ParquetDecodingError) -> (buffer: ByteBuffer, ends: [Int])? {
        guard self.rowsDone < self.rows else {
            if !self.checked {
                self.checked = true
                for (index, column) in self.columns.enumerated()
                where self.options.reads(column.leaf) && self.cursors[index].slot != column.slotCount {
                    throw ParquetDecodingError(
                        .corruptPage,
                        "column \(column.leaf.dottedPath) holds \(column.slotCount) slots, the rows used \(self.cursors[index].slot)"
                    )
                }
            }
            return nil
        }
        var ends: [Int] = []
        self.writer.out.removeAll(keepingCapacity: true)
        while self.rowsDone < self.rows, ends.isEmpty || self.writer.out.count < maxBytes {
            try self.writeStruct(self.plan.root, definition: 0)
            ends.append(self.writer.out.count)
            self.rowsDone += 1
        }
        return (ByteBuffer(bytes: self.writer.out), ends)
    }

    // MARK: Levels

    private func ranOut(_ leaf: Int) -> ParquetDecodingError {
        ParquetDecodingError(
            .corruptPage,
            "column \(self.columns[leaf].leaf.dottedPath) ran out of values for the rows"
        )
    }

    private func definition(at leaf: Int) throws(ParquetDecodingError) -> Int {
        let cursor = self.cursors[leaf]
        guard cursor.slot < cursor.slotCount else { throw self.ranOut(leaf) }
        return cursor.maxDefinition == 0 ? 0 : Int(self.definitions[cursor.definitionStart + cursor.slot])
    }

    /// The repetition level of the leaf's next slot, or 0 when it has none left (a new row would start).
    private func nextRepetition(at leaf: Int) -> Int {
        let cursor = self.cursors[leaf]
        guard cursor.maxRepetition > 0, cursor.slot < cursor.slotCount else { return 0 }
        return Int(self.repetitions[cursor.repetitionStart + cursor.slot])
    }

    /// Skips one slot of every leaf under `node` (the node is null or empty here).
    private mutating func skipSlot(_ node: Int) {
        for leaf in self.plan.nodes[node].leaves { self.cursors[leaf].slot += 1 }
    }

    /// The levels a node adds when it is present.
    private func level(of node: ParquetRowPlan.Node, definition: Int) -> Int {
        node.repetition == .required ? definition : definition + 1
    }

    private mutating func writeKey(_ node: ParquetRowPlan.Node) {
        self.plan.keyBytes.withUnsafeBufferPointer { keys in
            self.writer.out.append(contentsOf: UnsafeBufferPointer(rebasing: keys[node.key]))
        }
    }

    // MARK: Nodes

    /// Writes the fields of a group present at `definition` (its own level).
    private mutating func writeStruct(_ id: Int, definition: Int) throws(ParquetDecodingError) {
        let node = self.plan.nodes[id]
        self.writer.byte(UInt8(ascii: "{"))
        var first = true
        for position in node.children {
            let childID = self.plan.childIDs[position]
            let child = self.plan.nodes[childID]
            if child.repetition == .optional, try self.definition(at: child.firstLeaf) <= definition {
                self.skipSlot(childID)
                if self.options.keepNulls {
                    if !first { self.writer.byte(UInt8(ascii: ",")) }
                    first = false
                    self.writeKey(child)
                    self.writer.null()
                }
                continue
            }
            if !first { self.writer.byte(UInt8(ascii: ",")) }
            first = false
            self.writeKey(child)
            try self.writeField(childID, definition: definition)
        }
        self.writer.byte(UInt8(ascii: "}"))
    }

    /// Writes a field whose presence (if optional) has been checked; `definition` is its parent's level.
    private mutating func writeField(_ id: Int, definition: Int) throws(ParquetDecodingError) {
        let node = self.plan.nodes[id]
        if node.repetition == .repeated {
            // A repeated field without a LIST annotation is a list of its instances.
            try self.writeRepeated(id, element: id, definition: definition)
            return
        }
        let own = self.level(of: node, definition: definition)
        switch node.kind {
        case .leaf: try self.writeLeaf(node.leaf, node.rendering)
        case .structure: try self.writeStruct(id, definition: own)
        case .list: try self.writeRepeated(node.repeated, element: node.element, definition: own)
        case .map: try self.writeMap(node.repeated, key: node.element, value: node.value, definition: own)
        }
    }

    /// Writes the instances of `repeated` (whose parent sits at `definition`) as an array: each instance
    /// is the element itself (the legacy two-level forms and unannotated repeated fields), or holds it as
    /// its only child (the standard three-level list).
    private mutating func writeRepeated(_ repeated: Int, element: Int, definition: Int) throws(ParquetDecodingError) {
        let node = self.plan.nodes[repeated]
        let leaf = node.firstLeaf
        let inside = definition + 1
        let depth = self.plan.nodes[repeated].repetitionLevel
        self.writer.byte(UInt8(ascii: "["))
        if try self.definition(at: leaf) < inside {
            self.skipSlot(repeated)
        } else {
            var first = true
            repeat {
                if !first { self.writer.byte(UInt8(ascii: ",")) }
                first = false
                if element != repeated {
                    try self.writeElement(element, definition: inside)
                } else if node.kind == .leaf {
                    try self.writeLeaf(node.leaf, node.rendering)
                } else {
                    try self.writeInstance(repeated, definition: inside)
                }
            } while self.nextRepetition(at: leaf) == depth
        }
        self.writer.byte(UInt8(ascii: "]"))
    }

    /// One instance of a repeated group that is itself the element (a struct, or a nested list or map).
    private mutating func writeInstance(_ id: Int, definition: Int) throws(ParquetDecodingError) {
        let node = self.plan.nodes[id]
        switch node.kind {
        case .leaf, .structure: try self.writeStruct(id, definition: definition)
        case .list: try self.writeRepeated(node.repeated, element: node.element, definition: definition)
        case .map: try self.writeMap(node.repeated, key: node.element, value: node.value, definition: definition)
        }
    }

    /// One element of a three-level list: the single child of the repeated group, possibly null.
    private mutating func writeElement(_ id: Int, definition: Int) throws(ParquetDecodingError) {
        let node = self.plan.nodes[id]
        if node.repetition == .optional, try self.definition(at: node.firstLeaf) <= definition {
            self.skipSlot(id)
            self.writer.null()
            return
        }
        try self.writeField(id, definition: definition)
    }

    private mutating func writeMap(_ repeated: Int, key: Int, value: Int, definition: Int) throws(ParquetDecodingError)
    {
        let leaf = self.plan.nodes[repeated].firstLeaf
        let inside = definition + 1
        let depth = self.plan.nodes[repeated].repetitionLevel
        let keyNode = self.plan.nodes[key]
        self.writer.byte(UInt8(ascii: "{"))
        if try self.definition(at: leaf) < inside {
            self.skipSlot(repeated)
        } else {
            var first = true
            repeat {
                guard keyNode.kind == .leaf else {
                    throw ParquetDecodingError(.unsupported, "a map has a key that is not a primitive")
                }
                if !first { self.writer.byte(UInt8(ascii: ",")) }
                first = false
                try self.writeMapKey(keyNode.leaf, rendering: keyNode.rendering)
                if value >= 0 {
                    let valueNode = self.plan.nodes[value]
                    if valueNode.repetition == .optional, try self.definition(at: valueNode.firstLeaf) <= inside {
                        self.skipSlot(value)
                        self.writer.null()
                    } else {
                        try self.writeField(value, definition: inside)
                    }
                } else {
                    self.writer.null()
                }
            } while self.nextRepetition(at: leaf) == depth
        }
        self.writer.byte(UInt8(ascii: "}"))
    }

    private mutating func writeMapKey(_ leaf: Int, rendering: ParquetRowPlan.Rendering) throws(ParquetDecodingError) {
        let present = try self.holdsValue(leaf)
        self.cursors[leaf].slot += 1
        guard present else {
            self.writer.out.append(contentsOf: [UInt8(ascii: "\""), UInt8(ascii: "\""), UInt8(ascii: ":")])
            return
        }
        let index = try self.nextValue(leaf)
        self.writer.key(self.columns[leaf].values, at: index, rendering: rendering)
    }

    /// Whether the leaf's current slot holds a value (its definition level is the maximum).
    private func holdsValue(_ leaf: Int) throws(ParquetDecodingError) -> Bool {
        let cursor = self.cursors[leaf]
        guard cursor.slot < cursor.slotCount else { throw self.ranOut(leaf) }
        return cursor.maxDefinition == 0
            || self.definitions[cursor.definitionStart + cursor.slot] == cursor.maxDefinition
    }

    /// The index of the leaf's next value, checked against the values decoded.
    private mutating func nextValue(_ leaf: Int) throws(ParquetDecodingError) -> Int {
        let index = self.cursors[leaf].value
        guard index < self.cursors[leaf].valueCount else {
            throw ParquetDecodingError(
                .corruptPage,
                "column \(self.columns[leaf].leaf.dottedPath) has fewer values than levels"
            )
        }
        self.cursors[leaf].value += 1
        return index
    }

    /// A primitive value (or null), consuming one slot.
    private mutating func writeLeaf(_ leaf: Int, _ rendering: ParquetRowPlan.Rendering) throws(ParquetDecodingError) {
        let present = try self.holdsValue(leaf)
        self.cursors[leaf].slot += 1
        if present {
            let index = try self.nextValue(leaf)
            self.writer.value(self.columns[leaf].values, at: index, rendering: rendering)
        } else {
            self.writer.null()
        }
    }
}
