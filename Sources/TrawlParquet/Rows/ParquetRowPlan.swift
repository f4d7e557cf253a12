/// The schema compiled once per row group for rendering rows: a flat table of nodes with everything the
/// assembler would otherwise recompute per row (a group's shape, the leaves beneath a node, the field's
/// JSON key, how a leaf's values are shown). Node ids index ``nodes``; the table holds no references, so
/// walking it per value costs no reference counting.
struct ParquetRowPlan {
    enum Kind: UInt8 {
        case leaf
        case structure
        /// A LIST-annotated group (or a map without values, shown as the array of its keys).
        case list
        case map
    }

    /// How a leaf's values are shown, decided from its physical, logical and converted types.
    enum Rendering: Equatable {
        case plain
        case unsigned
        case date
        case decimal(scale: Int)
        case time(ParquetTimeUnit)
        case timestamp(ParquetTimeUnit, utc: Bool)
        /// A 16-byte UUID in its canonical form (other lengths as strings).
        case uuid
    }

    struct Node {
        var kind: Kind
        var repetition: ParquetRepetition
        /// The node's children, as a range of ``childIDs``.
        var children: Range<Int>
        /// The leaves beneath the node (contiguous: leaves are numbered depth first).
        var leaves: Range<Int>
        /// The leaf whose levels tell the node's presence and repetition: its leftmost.
        var firstLeaf: Int
        /// `"name":`, as a range of ``keyBytes``.
        var key: Range<Int>
        /// For a leaf, its column; -1 otherwise.
        var leaf: Int
        /// For lists and maps, the child that repeats.
        var repeated: Int
        /// For lists, the node whose instances are the elements (the repeated node itself in the legacy
        /// two-level forms); for maps, the key.
        var element: Int
        /// For maps, the value, or -1.
        var value: Int
        /// The repetition level of the node's instances: how many repeated fields lead to it, itself included.
        var repetitionLevel: Int
        var rendering: Rendering
    }

    private(set) var nodes: [Node] = []
    private(set) var childIDs: [Int] = []
    /// Every node's key, then ``keyPadding`` zeros, so that a key can be copied eight bytes at a time.
    private(set) var keyBytes: [UInt8] = []
    static let keyPadding = 8
    private(set) var root = 0

    /// The plan of `schema`; with `fields`, only those top-level fields are in the rows.
    init(schema: ParquetSchema, fields: Set<String>? = nil) {
        self.root = self.add(schema.root, repetitionLevel: 0, keeping: fields)
        self.keyBytes += repeatElement(0, count: Self.keyPadding)
    }

    private mutating func add(_ node: ParquetSchema.Node, repetitionLevel: Int, keeping: Set<String>? = nil) -> Int {
        let ids = node.children.filter { keeping?.contains($0.name) ?? true }.map {
            self.add($0, repetitionLevel: repetitionLevel + ($0.repetition == .repeated ? 1 : 0))
        }
        let children = self.childIDs.count..<self.childIDs.count + ids.count
        self.childIDs += ids
        let keyStart = self.keyBytes.count
        self.keyBytes += ParquetJSONValueWriter.jsonString(node.name)
        self.keyBytes.append(UInt8(ascii: ":"))
        var firstLeaf = 0
        var leaves = 0..<0
        if let leaf = node.leafIndex {
            firstLeaf = leaf
            leaves = leaf..<leaf + 1
        } else if let first = ids.first, let last = ids.last {
            firstLeaf = self.nodes[first].firstLeaf
            leaves = self.nodes[first].leaves.lowerBound..<self.nodes[last].leaves.upperBound
        }
        var compiled = Node(
            kind: node.isLeaf ? .leaf : .structure,
            repetition: node.repetition,
            children: children,
            leaves: leaves,
            firstLeaf: firstLeaf,
            key: keyStart..<self.keyBytes.count,
            leaf: node.leafIndex ?? -1,
            repeated: -1,
            element: -1,
            value: -1,
            repetitionLevel: repetitionLevel,
            rendering: node.isLeaf ? Self.rendering(of: node.element) : .plain
        )
        if !node.isLeaf { self.shape(node, ids: ids, into: &compiled) }
        self.nodes.append(compiled)
        return self.nodes.count - 1
    }

    /// How a group is shown: a LIST-annotated group with one repeated child is a list (the child, or its
    /// only child, being the element), a MAP-annotated one a map; anything else a struct.
    private func shape(_ node: ParquetSchema.Node, ids: [Int], into compiled: inout Node) {
        let element = node.element
        let annotatedList = element.logicalType == .list || element.convertedType == .list
        let annotatedMap =
            element.logicalType == .map || element.convertedType == .map || element.convertedType == .mapKeyValue
        guard node.children.count == 1, let repeated = node.children.first, repeated.repetition == .repeated else {
            return
        }
        let repeatedID = ids[0]
        let grandchildren = self.nodes[repeatedID].children.map { self.childIDs[$0] }
        if annotatedList {
            compiled.kind = .list
            compiled.repeated = repeatedID
            // The legacy two-level forms: the repeated field is itself the element.
            let twoLevel =
                repeated.isLeaf || repeated.children.count > 1 || repeated.name == "array"
                || repeated.name == "\(node.name)_tuple"
            compiled.element = twoLevel || grandchildren.isEmpty ? repeatedID : grandchildren[0]
        } else if annotatedMap, !repeated.isLeaf, (1...2).contains(repeated.children.count) {
            compiled.repeated = repeatedID
            compiled.element = grandchildren[0]
            if grandchildren.count == 2 {
                compiled.kind = .map
                compiled.value = grandchildren[1]
            } else {
                // A map without values is the set of its keys: an array, as Arrow reads it.
                compiled.kind = .list
            }
        }
    }

    static func rendering(of element: ParquetSchemaElement) -> Rendering {
        switch element.type {
        case .int32:
            switch (element.logicalType, element.convertedType) {
            case (.date, _), (nil, .date): return .date
            case (.decimal(let scale, _), _): return .decimal(scale: Int(scale))
            case (nil, .decimal): return .decimal(scale: Int(element.scale ?? 0))
            case (.time(_, .millis), _), (nil, .timeMillis): return .time(.millis)
            case (.integer(_, false), _), (nil, .uint8), (nil, .uint16), (nil, .uint32): return .unsigned
            default: return .plain
            }
        case .int64:
            switch (element.logicalType, element.convertedType) {
            case (.timestamp(let utc, let unit), _): return .timestamp(unit, utc: utc)
            case (nil, .timestampMillis): return .timestamp(.millis, utc: true)
            case (nil, .timestampMicros): return .timestamp(.micros, utc: true)
            case (.time(_, let unit), _): return .time(unit)
            case (nil, .timeMicros): return .time(.micros)
            case (.decimal(let scale, _), _): return .decimal(scale: Int(scale))
            case (nil, .decimal): return .decimal(scale: Int(element.scale ?? 0))
            case (.integer(_, false), _), (nil, .uint64): return .unsigned
            default: return .plain
            }
        case .byteArray, .fixedLenByteArray:
            switch (element.logicalType, element.convertedType) {
            case (.uuid, _): return .uuid
            case (.decimal(let scale, _), _): return .decimal(scale: Int(scale))
            case (nil, .decimal): return .decimal(scale: Int(element.scale ?? 0))
            default: return .plain
            }
        default:
            return .plain
        }
    }
}
