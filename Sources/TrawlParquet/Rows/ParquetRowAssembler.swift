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

/// Where a leaf stands in the row group's levels and values, and how far its levels go.
private struct ParquetLeafCursor {
    var slot = 0
    var value = 0
    /// The slots the leaf's levels cover: its slot count, or fewer if a level array is shorter, so that no
    /// read goes past a level array whatever a column claims.
    var slotCount: Int
    var valueCount: Int
    /// Where the leaf's values are: which table, and which array of it.
    var valueKind: ParquetLeafValueTables.Kind
    var valueColumn: Int
    var maxDefinition: UInt8
    var maxRepetition: UInt8
    /// Where the leaf's levels start in the assembler's definitions and repetitions.
    var definitionStart: Int
    var repetitionStart: Int
}

/// Rebuilds nested rows from the columns' repetition and definition levels (the Dremel record assembly)
/// and writes each as JSON. Every leaf has a cursor; a field reads its presence, list lengths and values
/// from the leaves beneath it, and a null or empty field consumes exactly one slot of each of them.
///
/// Rendering a piece walks the plan through pointers taken for that piece (``ParquetRowWalk``), so the
/// per-value work has no reference counting, uniqueness checks or array bounds checks; every index it
/// reads is either the plan's own (built from the schema) or checked against a cursor's counts.
struct ParquetRowAssembler {
    private let plan: ParquetRowPlan
    private let columns: [ParquetColumnData]
    private let options: ParquetJSONOptions
    let rows: Int
    private var rowsDone = 0
    /// Whether the rows were checked to have used every slot (once all were rendered).
    private var checked = false
    private var cursors: [ParquetLeafCursor] = []
    /// Every leaf's levels, in two arrays instead of two per leaf.
    private var definitions: [UInt8] = []
    private var repetitions: [UInt8] = []
    private var values = ParquetLeafValueTables()
    private var storage = ParquetJSONStorage()

    init(plan: ParquetRowPlan, columns: [ParquetColumnData], options: ParquetJSONOptions, rows: Int) {
        self.plan = plan
        self.columns = columns
        self.options = options
        self.rows = rows
        self.definitions.reserveCapacity(columns.reduce(0) { $0 + $1.definitionLevels.count })
        self.repetitions.reserveCapacity(columns.reduce(0) { $0 + $1.repetitionLevels.count })
        for column in columns {
            let maxDefinition = UInt8(truncatingIfNeeded: column.leaf.maxDefinitionLevel)
            let maxRepetition = UInt8(truncatingIfNeeded: column.leaf.maxRepetitionLevel)
            var slotCount = column.slotCount
            if maxDefinition > 0 { slotCount = min(slotCount, column.definitionLevels.count) }
            if maxRepetition > 0 { slotCount = min(slotCount, column.repetitionLevels.count) }
            let (valueKind, valueColumn) = self.values.add(column.values)
            self.cursors.append(
                ParquetLeafCursor(
                    slotCount: slotCount,
                    valueCount: column.values.count,
                    valueKind: valueKind,
                    valueColumn: valueColumn,
                    maxDefinition: maxDefinition,
                    maxRepetition: maxRepetition,
                    definitionStart: self.definitions.count,
                    repetitionStart: self.repetitions.count
                )
            )
            self.definitions.append(contentsOf: column.definitionLevels)
            self.repetitions.append(contentsOf: column.repetitionLevels)
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
        // A copied renderer shares the storage until one of them writes.
        if !isKnownUniquelyReferenced(&self.storage) { self.storage = ParquetJSONStorage() }
        var cursors: [ParquetLeafCursor] = []
        swap(&cursors, &self.cursors)
        defer { swap(&cursors, &self.cursors) }
        var rowsDone = self.rowsDone
        defer { self.rowsDone = rowsDone }
        var ends: [Int] = []
        let rows = self.rows
        let root = self.plan.root
        let keepNulls = self.options.keepNulls
        let storage = self.storage
        let buffer = try cursors.withUnsafeMutableBufferPointer { (cursors) throws(ParquetDecodingError) in
            try self.plan.nodes.withUnsafeBufferPointer { (nodes) throws(ParquetDecodingError) in
                try self.plan.childIDs.withUnsafeBufferPointer { (childIDs) throws(ParquetDecodingError) in
                    try self.plan.keyBytes.withUnsafeBufferPointer { (keys) throws(ParquetDecodingError) in
                        try self.definitions.withUnsafeBufferPointer { (definitions) throws(ParquetDecodingError) in
                            try self.repetitions.withUnsafeBufferPointer { (repetitions) throws(ParquetDecodingError) in
                                try self.columns.withUnsafeBufferPointer { (columns) throws(ParquetDecodingError) in
                                    try self.values.withPointers { (values) throws(ParquetDecodingError) in
                                        var walk = ParquetRowWalk(
                                            nodes: nodes,
                                            childIDs: childIDs,
                                            keys: keys,
                                            definitions: definitions,
                                            repetitions: repetitions,
                                            cursors: cursors,
                                            columns: columns,
                                            values: values,
                                            keepNulls: keepNulls,
                                            writer: ParquetJSONValueWriter(storage)
                                        )
                                        while rowsDone < rows, ends.isEmpty || walk.writer.count < maxBytes {
                                            try walk.writeStruct(root, definition: 0)
                                            ends.append(walk.writer.count)
                                            rowsDone += 1
                                        }
                                        return ByteBuffer(bytes: walk.writer.written)
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        return (buffer, ends)
    }
}

/// One piece's walk of the row plan, over pointers into the assembler's arrays that are valid for that
/// piece only. Node, child and leaf ids come from the plan; level and value indexes are checked against
/// the leaf's cursor before they are read.
///
/// Its helpers are `mutating` even where they only read: a non-mutating call copied the whole walk (a few
/// hundred bytes) for every field.
private struct ParquetRowWalk {
    let nodes: UnsafeBufferPointer<ParquetRowPlan.Node>
    let childIDs: UnsafeBufferPointer<Int>
    let keys: UnsafeBufferPointer<UInt8>
    let definitions: UnsafeBufferPointer<UInt8>
    let repetitions: UnsafeBufferPointer<UInt8>
    let cursors: UnsafeMutableBufferPointer<ParquetLeafCursor>
    let columns: UnsafeBufferPointer<ParquetColumnData>
    let values: ParquetLeafValueTables.Pointers
    let keepNulls: Bool
    var writer: ParquetJSONValueWriter

    // MARK: Levels

    private func ranOut(_ leaf: Int) -> ParquetDecodingError {
        ParquetDecodingError(
            .corruptPage,
            "column \(self.columns[leaf].leaf.dottedPath) ran out of values for the rows"
        )
    }

    @inline(__always) private mutating func definition(at leaf: Int) throws(ParquetDecodingError) -> Int {
        let cursor = self.cursors[leaf]
        guard cursor.slot < cursor.slotCount else { throw self.ranOut(leaf) }
        return cursor.maxDefinition == 0 ? 0 : Int(self.definitions[cursor.definitionStart &+ cursor.slot])
    }

    /// The repetition level of the leaf's next slot, or 0 when it has none left (a new row would start).
    @inline(__always) private mutating func nextRepetition(at leaf: Int) -> Int {
        let cursor = self.cursors[leaf]
        guard cursor.maxRepetition > 0, cursor.slot < cursor.slotCount else { return 0 }
        return Int(self.repetitions[cursor.repetitionStart &+ cursor.slot])
    }

    /// Skips one slot of every leaf under `node` (the node is null or empty here).
    @inline(__always) private mutating func skipSlot(_ node: Int) {
        for leaf in self.nodes[node].leaves { self.cursors[leaf].slot &+= 1 }
    }

    @inline(__always) private mutating func writeKey(_ node: Int) {
        // The plan pads its keys, so the word copy's overrun stays inside them.
        let key = self.nodes[node].key
        self.writer.appendWords(UnsafeRawPointer(self.keys.baseAddress! + key.lowerBound), count: key.count)
    }

    // MARK: Nodes

    /// Writes the fields of a group present at `definition` (its own level).
    mutating func writeStruct(_ id: Int, definition: Int) throws(ParquetDecodingError) {
        self.writer.byte(UInt8(ascii: "{"))
        var first = true
        for position in self.nodes[id].children {
            let child = self.childIDs[position]
            if self.nodes[child].repetition == .optional,
                try self.definition(at: self.nodes[child].firstLeaf) <= definition
            {
                self.skipSlot(child)
                if self.keepNulls {
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
            try self.writeField(child, definition: definition)
        }
        self.writer.byte(UInt8(ascii: "}"))
    }

    /// Writes a field whose presence (if optional) has been checked; `definition` is its parent's level.
    private mutating func writeField(_ id: Int, definition: Int) throws(ParquetDecodingError) {
        let repetition = self.nodes[id].repetition
        if repetition == .repeated {
            // A repeated field without a LIST annotation is a list of its instances.
            try self.writeRepeated(id, element: id, definition: definition)
            return
        }
        let own = repetition == .required ? definition : definition + 1
        switch self.nodes[id].kind {
        case .leaf: try self.writeLeaf(self.nodes[id].leaf, self.nodes[id].rendering)
        case .structure: try self.writeStruct(id, definition: own)
        case .list: try self.writeRepeated(self.nodes[id].repeated, element: self.nodes[id].element, definition: own)
        case .map:
            try self.writeMap(
                self.nodes[id].repeated,
                key: self.nodes[id].element,
                value: self.nodes[id].value,
                definition: own
            )
        }
    }

    /// Writes the instances of `repeated` (whose parent sits at `definition`) as an array: each instance
    /// is the element itself (the legacy two-level forms and unannotated repeated fields), or holds it as
    /// its only child (the standard three-level list).
    private mutating func writeRepeated(_ repeated: Int, element: Int, definition: Int) throws(ParquetDecodingError) {
        let leaf = self.nodes[repeated].firstLeaf
        let inside = definition + 1
        let depth = self.nodes[repeated].repetitionLevel
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
                } else if self.nodes[repeated].kind == .leaf {
                    try self.writeLeaf(self.nodes[repeated].leaf, self.nodes[repeated].rendering)
                } else {
                    try self.writeInstance(repeated, definition: inside)
                }
            } while self.nextRepetition(at: leaf) == depth
        }
        self.writer.byte(UInt8(ascii: "]"))
    }

    /// One instance of a repeated group that is itself the element (a struct, or a nested list or map).
    private mutating func writeInstance(_ id: Int, definition: Int) throws(ParquetDecodingError) {
        switch self.nodes[id].kind {
        case .leaf, .structure: try self.writeStruct(id, definition: definition)
        case .list:
            try self.writeRepeated(self.nodes[id].repeated, element: self.nodes[id].element, definition: definition)
        case .map:
            try self.writeMap(
                self.nodes[id].repeated,
                key: self.nodes[id].element,
                value: self.nodes[id].value,
                definition: definition
            )
        }
    }

    /// One element of a three-level list: the single child of the repeated group, possibly null.
    private mutating func writeElement(_ id: Int, definition: Int) throws(ParquetDecodingError) {
        if self.nodes[id].repetition == .optional, try self.definition(at: self.nodes[id].firstLeaf) <= definition {
            self.skipSlot(id)
            self.writer.null()
            return
        }
        try self.writeField(id, definition: definition)
    }

    private mutating func writeMap(_ repeated: Int, key: Int, value: Int, definition: Int) throws(ParquetDecodingError)
    {
        let leaf = self.nodes[repeated].firstLeaf
        let inside = definition + 1
        let depth = self.nodes[repeated].repetitionLevel
        self.writer.byte(UInt8(ascii: "{"))
        if try self.definition(at: leaf) < inside {
            self.skipSlot(repeated)
        } else {
            var first = true
            repeat {
                guard self.nodes[key].kind == .leaf else {
                    throw ParquetDecodingError(.unsupported, "a map has a key that is not a primitive")
                }
                if !first { self.writer.byte(UInt8(ascii: ",")) }
                first = false
                try self.writeMapKey(self.nodes[key].leaf, rendering: self.nodes[key].rendering)
                if value >= 0 {
                    if self.nodes[value].repetition == .optional,
                        try self.definition(at: self.nodes[value].firstLeaf) <= inside
                    {
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
        self.cursors[leaf].slot &+= 1
        let start = self.writer.count
        // A null key writes nothing, which endKey quotes as "".
        if present { self.writeValue(leaf, at: try self.nextValue(leaf), rendering) }
        self.writer.endKey(startingAt: start)
    }

    /// Whether the leaf's current slot holds a value (its definition level is the maximum).
    @inline(__always) private mutating func holdsValue(_ leaf: Int) throws(ParquetDecodingError) -> Bool {
        let cursor = self.cursors[leaf]
        guard cursor.slot < cursor.slotCount else { throw self.ranOut(leaf) }
        return cursor.maxDefinition == 0
            || self.definitions[cursor.definitionStart &+ cursor.slot] == cursor.maxDefinition
    }

    /// The index of the leaf's next value, checked against the values decoded.
    @inline(__always) private mutating func nextValue(_ leaf: Int) throws(ParquetDecodingError) -> Int {
        let index = self.cursors[leaf].value
        guard index < self.cursors[leaf].valueCount else {
            throw ParquetDecodingError(
                .corruptPage,
                "column \(self.columns[leaf].leaf.dottedPath) has fewer values than levels"
            )
        }
        self.cursors[leaf].value = index &+ 1
        return index
    }

    /// A primitive value (or null), consuming one slot.
    private mutating func writeLeaf(_ leaf: Int, _ rendering: ParquetRowPlan.Rendering) throws(ParquetDecodingError) {
        let present = try self.holdsValue(leaf)
        self.cursors[leaf].slot &+= 1
        if present {
            let index = try self.nextValue(leaf)
            self.writeValue(leaf, at: index, rendering)
        } else {
            self.writer.null()
        }
    }

    /// Value `index` of the leaf (checked against its count), shown as `rendering` says.
    @inline(__always) private mutating func writeValue(
        _ leaf: Int,
        at index: Int,
        _ rendering: ParquetRowPlan.Rendering
    ) {
        let column = self.cursors[leaf].valueColumn
        switch self.cursors[leaf].valueKind {
        case .bytes:
            if column < self.values.pinnedBytes.count {
                self.writer.bytes(self.values.pinnedBytes[column][index], rendering)
            } else {
                self.values.byteArrays[column].bytes.withUnsafeBytes { bytes in
                    self.writer.bytes(
                        UnsafeRawBufferPointer(rebasing: bytes[self.values.byteArrays[column].range(index)]),
                        rendering
                    )
                }
            }
        case .int64: self.writer.int64(self.values.int64s[column][index], rendering)
        case .int32: self.writer.int32(self.values.int32s[column][index], rendering)
        case .boolean: self.writer.boolean(self.values.booleans[column][index])
        case .double: self.writer.double(self.values.doubles[column][index])
        case .float: self.writer.double(Double(self.values.floats[column][index]))
        case .int96: self.writer.int96(self.values.int96s[column][index])
        }
    }
}

/// The decoded values of every leaf, split by physical type: the walk reaches a leaf's values through a
/// pointer to its array, where switching over a ``ParquetValues`` copied the enum and retained its array
/// for every value.
struct ParquetLeafValueTables {
    enum Kind: UInt8 {
        case boolean, int32, int64, int96, float, double, bytes
    }

    private var booleans: [[Bool]] = []
    private var int32s: [[Int32]] = []
    private var int64s: [[Int64]] = []
    private var int96s: [[ParquetInt96]] = []
    private var floats: [[Float]] = []
    private var doubles: [[Double]] = []
    private var byteArrays: [ParquetByteArrays] = []

    /// Adds a leaf's values (sharing their storage) and returns where they are.
    mutating func add(_ values: ParquetValues) -> (Kind, Int) {
        switch values {
        case .boolean(let values):
            self.booleans.append(values)
            return (.boolean, self.booleans.count - 1)
        case .int32(let values):
            self.int32s.append(values)
            return (.int32, self.int32s.count - 1)
        case .int64(let values):
            self.int64s.append(values)
            return (.int64, self.int64s.count - 1)
        case .int96(let values):
            self.int96s.append(values)
            return (.int96, self.int96s.count - 1)
        case .float(let values):
            self.floats.append(values)
            return (.float, self.floats.count - 1)
        case .double(let values):
            self.doubles.append(values)
            return (.double, self.doubles.count - 1)
        case .bytes(let values):
            self.byteArrays.append(values)
            return (.bytes, self.byteArrays.count - 1)
        }
    }

    /// The values of a byte array leaf, held in place.
    struct PinnedBytes {
        let bytes: UnsafeRawBufferPointer
        let starts: UnsafeBufferPointer<Int>
        let ends: UnsafeBufferPointer<Int>

        /// Value `index`, which must be below the leaf's value count. Each value's start and end lie in
        /// the bytes, in order, as ``ParquetByteArrays`` appends them.
        @inline(__always) subscript(index: Int) -> UnsafeRawBufferPointer {
            UnsafeRawBufferPointer(rebasing: self.bytes[self.starts[index]..<self.ends[index]])
        }
    }

    /// How many byte array leaves are held in place for a piece, each by three nested closures. More would
    /// deepen the stack without bound for a hostile schema; the rest are reached through their arrays.
    static let pinnedLimit = 256

    /// The tables, valid inside `body` only.
    struct Pointers {
        let booleans: UnsafeBufferPointer<[Bool]>
        let int32s: UnsafeBufferPointer<[Int32]>
        let int64s: UnsafeBufferPointer<[Int64]>
        let int96s: UnsafeBufferPointer<[ParquetInt96]>
        let floats: UnsafeBufferPointer<[Float]>
        let doubles: UnsafeBufferPointer<[Double]>
        let byteArrays: UnsafeBufferPointer<ParquetByteArrays>
        /// The first ``pinnedLimit`` byte array leaves, in the order of ``byteArrays``.
        let pinnedBytes: UnsafeBufferPointer<PinnedBytes>
    }

    func withPointers<R, E: Error>(_ body: (Pointers) throws(E) -> R) throws(E) -> R {
        try self.booleans.withUnsafeBufferPointer { (booleans) throws(E) in
            try self.int32s.withUnsafeBufferPointer { (int32s) throws(E) in
                try self.int64s.withUnsafeBufferPointer { (int64s) throws(E) in
                    try self.int96s.withUnsafeBufferPointer { (int96s) throws(E) in
                        try self.floats.withUnsafeBufferPointer { (floats) throws(E) in
                            try self.doubles.withUnsafeBufferPointer { (doubles) throws(E) in
                                try self.byteArrays.withUnsafeBufferPointer { (byteArrays) throws(E) in
                                    var pinned: [PinnedBytes] = []
                                    pinned.reserveCapacity(min(byteArrays.count, Self.pinnedLimit))
                                    return try self.pinning(from: 0, into: &pinned) { (pinnedBytes) throws(E) in
                                        try body(
                                            Pointers(
                                                booleans: booleans,
                                                int32s: int32s,
                                                int64s: int64s,
                                                int96s: int96s,
                                                floats: floats,
                                                doubles: doubles,
                                                byteArrays: byteArrays,
                                                pinnedBytes: pinnedBytes
                                            )
                                        )
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// Holds the byte arrays of leaves `first` onwards (up to ``pinnedLimit``) in place, then calls `body`
    /// with all that are held.
    private func pinning<R, E: Error>(
        from first: Int,
        into pinned: inout [PinnedBytes],
        _ body: (UnsafeBufferPointer<PinnedBytes>) throws(E) -> R
    ) throws(E) -> R {
        guard first < min(self.byteArrays.count, Self.pinnedLimit) else {
            return try pinned.withUnsafeBufferPointer { (pinned) throws(E) in try body(pinned) }
        }
        return try self.byteArrays[first].bytes.withUnsafeBufferPointer { (bytes) throws(E) in
            try self.byteArrays[first].starts.withUnsafeBufferPointer { (starts) throws(E) in
                try self.byteArrays[first].ends.withUnsafeBufferPointer { (ends) throws(E) in
                    pinned.append(PinnedBytes(bytes: UnsafeRawBufferPointer(bytes), starts: starts, ends: ends))
                    return try self.pinning(from: first + 1, into: &pinned, body)
                }
            }
        }
    }
}
