/// The schema as a tree, rebuilt from the footer's depth-first list, with what reading needs for each leaf
/// column: its path and its maximum definition and repetition levels.
public struct ParquetSchema: Sendable {
    /// A field: a group (with children) or a primitive column (a leaf).
    public struct Node: Sendable {
        public var element: ParquetSchemaElement
        public var children: [Node]
        /// For a leaf, its index among the leaf columns (the order of a row group's column chunks).
        public var leafIndex: Int?

        public var name: String { self.element.name }
        public var repetition: ParquetRepetition { self.element.repetition ?? .required }
        public var isLeaf: Bool { self.children.isEmpty && self.element.numChildren == nil }
    }

    /// A primitive column, in the order its chunks appear in each row group.
    public struct Leaf: Sendable {
        public var element: ParquetSchemaElement
        public var path: [String]
        public var maxDefinitionLevel: Int
        public var maxRepetitionLevel: Int

        /// The dotted path, as errors name the column.
        public var dottedPath: String { self.path.joined(separator: ".") }
    }

    public var root: Node
    public var leaves: [Leaf]

    /// Rebuilds the tree. Throws when the element counts do not add up (a corrupt footer).
    /// A DECIMAL's scale places the decimal point when its values are rendered: it must lie within the 38
    /// digits an unscaled value of up to 16 bytes has (the format asks for 0 <= scale <= precision). A
    /// hostile file's scale of millions would otherwise have each value padded with that many zeros.
    static func checkDecimalScale(of element: ParquetSchemaElement, path: [String]) throws(ParquetDecodingError) {
        let scale: Int32?
        switch element.logicalType {
        case .decimal(let logicalScale, _): scale = logicalScale
        default: scale = element.convertedType == .decimal ? element.scale ?? 0 : nil
        }
        guard let scale, !(0...38).contains(scale) else { return }
        throw ParquetDecodingError(
            .corruptMetadata,
            "schema field \(path.joined(separator: ".")) is a DECIMAL with scale \(scale), outside 0...38"
        )
    }

    init(elements: [ParquetSchemaElement]) throws(ParquetDecodingError) {
        var position = 0
        var leaves: [Leaf] = []
        self.root = try Self.node(
            at: &position,
            in: elements,
            path: [],
            definition: 0,
            repetition: 0,
            isRoot: true,
            leaves: &leaves
        )
        guard position == elements.count else {
            throw ParquetDecodingError(
                .corruptMetadata,
                "the schema lists \(elements.count) elements but its tree holds \(position)"
            )
        }
        guard !leaves.isEmpty else { throw ParquetDecodingError(.corruptMetadata, "the schema has no columns") }
        self.leaves = leaves
    }

    private static func node(
        at position: inout Int,
        in elements: [ParquetSchemaElement],
        path: [String],
        definition: Int,
        repetition: Int,
        isRoot: Bool,
        leaves: inout [Leaf]
    ) throws(ParquetDecodingError) -> Node {
        guard position < elements.count else {
            throw ParquetDecodingError(
                .corruptMetadata,
                "the schema's child counts run past its \(elements.count) elements"
            )
        }
        let element = elements[position]
        position += 1
        var definition = definition
        var repetition = repetition
        var path = path
        if !isRoot {
            path.append(element.name)
            switch element.repetition ?? .required {
            case .required: break
            case .optional: definition += 1
            case .repeated:
                definition += 1
                repetition += 1
            }
        }
        guard let count = element.numChildren else {
            guard !isRoot else { throw ParquetDecodingError(.corruptMetadata, "the schema's root is not a group") }
            guard element.type != nil else {
                throw ParquetDecodingError(.corruptMetadata, "schema field \(path.joined(separator: ".")) has no type")
            }
            try Self.checkDecimalScale(of: element, path: path)
            leaves.append(
                Leaf(element: element, path: path, maxDefinitionLevel: definition, maxRepetitionLevel: repetition)
            )
            return Node(element: element, children: [], leafIndex: leaves.count - 1)
        }
        guard count >= 0, count <= elements.count - position else {
            throw ParquetDecodingError(
                .corruptMetadata,
                "schema group \(isRoot ? "root" : path.joined(separator: ".")) claims \(count) children"
            )
        }
        var children: [Node] = []
        children.reserveCapacity(Int(count))
        for _ in 0..<count {
            children.append(
                try Self.node(
                    at: &position,
                    in: elements,
                    path: path,
                    definition: definition,
                    repetition: repetition,
                    isRoot: false,
                    leaves: &leaves
                )
            )
        }
        return Node(element: element, children: children, leafIndex: nil)
    }
}
