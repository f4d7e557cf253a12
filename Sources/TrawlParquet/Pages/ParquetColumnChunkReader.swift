import NIOCore

/// One column of one row group, decoded: its levels (one entry per value slot, nulls and empty lists
/// included) and its non-null values in order.
public struct ParquetColumnData: Sendable {
    public var leaf: ParquetSchema.Leaf
    /// Definition levels, a byte each (a column nested deeper is refused); empty when the column's maximum
    /// is 0 (every slot holds a value).
    public var definitionLevels: [UInt8]
    /// Repetition levels, a byte each; empty when the column's maximum is 0 (one slot per row).
    public var repetitionLevels: [UInt8]
    public var values: ParquetValues
    /// How many slots the levels describe.
    public var slotCount: Int
}

/// Reads the pages of one column chunk: the dictionary page, then data pages (v1 and v2), each
/// decompressed and decoded. Counts from headers are checked against the chunk's metadata and the bytes
/// present before anything is allocated for them.
struct ParquetColumnChunkReader {
    /// The most value slots one page may announce: enough for any writer's pages, small enough that a
    /// hostile header cannot make the reader allocate without bound.
    static let maximumPageValues = 1 << 26

    let leaf: ParquetSchema.Leaf
    let metadata: ParquetColumnMetadata
    /// The most bytes the chunk's pages may decompress to, whatever the chunk claims.
    var maximumBytes: Int64 = 1 << 30

    func read(_ chunk: ByteBuffer) throws(ParquetDecodingError) -> ParquetColumnData {
        let type = self.metadata.type
        guard type == self.leaf.element.type else {
            throw ParquetDecodingError(
                .corruptMetadata,
                "the chunk's type \(type) differs from the schema's \(self.leaf.element.type.map { "\($0)" } ?? "none")"
            )
        }
        let depth = max(self.leaf.maxDefinitionLevel, self.leaf.maxRepetitionLevel)
        guard depth <= Int(UInt8.max) else {
            throw ParquetDecodingError(
                .unsupported,
                "the column is nested \(depth) levels deep; levels are read up to 255"
            )
        }
        var builder = ParquetValueBuilder(type: type, typeLength: Int(self.leaf.element.typeLength ?? 0))
        var definitions: [UInt8] = []
        var repetitions: [UInt8] = []
        var dictionary: ParquetValues?
        var slots = 0
        var remaining = chunk
        let expected = self.metadata.numValues
        // The chunk's claim bounds its pages together, not only each one.
        var budget =
            self.metadata.totalUncompressedSize > 0
            ? min(self.metadata.totalUncompressedSize, self.maximumBytes) : self.maximumBytes
        while slots < expected {
            guard remaining.readableBytes > 0 else {
                throw ParquetDecodingError(.truncated, "the chunk ends after \(slots) of its \(expected) values")
            }
            var thrift = ThriftCompactReader(remaining)
            let header = try ParquetPageHeader.decode(&thrift)
            remaining.moveReaderIndex(forwardBy: thrift.consumed)
            guard let body = remaining.readSlice(length: Int(header.compressedPageSize)) else {
                throw ParquetDecodingError(
                    .truncated,
                    "a page of \(header.compressedPageSize) bytes runs past the chunk's end (\(remaining.readableBytes) left)"
                )
            }
            guard header.uncompressedPageSize >= 0, Int64(header.uncompressedPageSize) <= budget else {
                throw ParquetDecodingError(
                    .corruptMetadata,
                    "a page claims \(header.uncompressedPageSize) bytes uncompressed, more than the \(budget) left of its chunk's"
                )
            }
            budget -= Int64(header.uncompressedPageSize)
            switch ParquetPageType(rawValue: header.type) {
            case .dictionaryPage:
                guard let page = header.dictionaryPage else {
                    throw ParquetDecodingError(.corruptMetadata, "a dictionary page without its header")
                }
                guard dictionary == nil else {
                    throw ParquetDecodingError(.corruptPage, "a second dictionary page in one chunk")
                }
                guard Int(page.numValues) <= Self.maximumPageValues else {
                    throw ParquetDecodingError(.corruptMetadata, "a dictionary of \(page.numValues) values")
                }
                let data = try ParquetPageCodec.decompress(
                    body,
                    codec: self.metadata.codec,
                    uncompressedSize: Int(header.uncompressedPageSize)
                )
                var entries = ParquetValueBuilder(type: type, typeLength: builder.typeLength)
                try data.withUnsafeReadableBytes { (bytes) throws(ParquetDecodingError) in
                    var reader = ParquetByteReader(bytes)
                    try PlainDecoder.decode(&reader, count: Int(page.numValues), into: &entries)
                }
                dictionary = entries.finish()
            case .dataPage:
                guard let page = header.dataPage else {
                    throw ParquetDecodingError(.corruptMetadata, "a data page without its header")
                }
                let count = try self.checkedCount(page.numValues, slots: slots)
                let data = try ParquetPageCodec.decompress(
                    body,
                    codec: self.metadata.codec,
                    uncompressedSize: Int(header.uncompressedPageSize)
                )
                try data.withUnsafeReadableBytes { (bytes) throws(ParquetDecodingError) in
                    var reader = ParquetByteReader(bytes)
                    if self.leaf.maxRepetitionLevel > 0 {
                        try self.levels(
                            &reader,
                            count: count,
                            maximum: self.leaf.maxRepetitionLevel,
                            lengthPrefixed: true,
                            encoding: page.repetitionLevelEncoding,
                            what: "repetition levels",
                            into: &repetitions
                        )
                    }
                    let present = try self.definitionLevels(
                        &reader,
                        count: count,
                        lengthPrefixed: true,
                        encoding: page.definitionLevelEncoding,
                        into: &definitions
                    )
                    try self.values(
                        &reader,
                        encoding: page.encoding,
                        count: present,
                        dictionary: dictionary,
                        into: &builder
                    )
                }
                slots += count
            case .dataPageV2:
                guard let page = header.dataPageV2 else {
                    throw ParquetDecodingError(.corruptMetadata, "a v2 data page without its header")
                }
                let count = try self.checkedCount(page.numValues, slots: slots)
                let levelBytes = Int(page.repetitionLevelsByteLength) + Int(page.definitionLevelsByteLength)
                guard levelBytes <= body.readableBytes, levelBytes <= Int(header.uncompressedPageSize) else {
                    throw ParquetDecodingError(.corruptPage, "a v2 page's levels are longer than the page")
                }
                var levels = body
                let levelData = levels.readSlice(length: levelBytes) ?? ByteBuffer()
                let data =
                    page.isCompressed
                    ? try ParquetPageCodec.decompress(
                        levels,
                        codec: self.metadata.codec,
                        uncompressedSize: Int(header.uncompressedPageSize) - levelBytes
                    ) : levels
                try levelData.withUnsafeReadableBytes { (bytes) throws(ParquetDecodingError) in
                    var reader = ParquetByteReader(bytes)
                    if self.leaf.maxRepetitionLevel > 0 {
                        var repetitionReader = ParquetByteReader(
                            try reader.slice(Int(page.repetitionLevelsByteLength), what: "repetition levels")
                        )
                        try self.levels(
                            &repetitionReader,
                            count: count,
                            maximum: self.leaf.maxRepetitionLevel,
                            lengthPrefixed: false,
                            encoding: ParquetEncoding.rle.rawValue,
                            what: "repetition levels",
                            into: &repetitions
                        )
                    } else {
                        try reader.skip(Int(page.repetitionLevelsByteLength), what: "repetition levels")
                    }
                    var definitionReader = ParquetByteReader(
                        try reader.slice(Int(page.definitionLevelsByteLength), what: "definition levels")
                    )
                    let present = try self.definitionLevels(
                        &definitionReader,
                        count: count,
                        lengthPrefixed: false,
                        encoding: ParquetEncoding.rle.rawValue,
                        into: &definitions
                    )
                    try data.withUnsafeReadableBytes { (values) throws(ParquetDecodingError) in
                        var valueReader = ParquetByteReader(values)
                        try self.values(
                            &valueReader,
                            encoding: page.encoding,
                            count: present,
                            dictionary: dictionary,
                            into: &builder
                        )
                    }
                }
                slots += count
            default:
                continue
            }
        }
        if let first = repetitions.first, first != 0 {
            throw ParquetDecodingError(
                .corruptPage,
                "the chunk's first repetition level is \(first): a column chunk must begin with a new row"
            )
        }
        guard slots == expected else {
            throw ParquetDecodingError(.corruptPage, "the pages hold \(slots) values, the chunk's metadata \(expected)")
        }
        return ParquetColumnData(
            leaf: self.leaf,
            definitionLevels: definitions,
            repetitionLevels: repetitions,
            values: builder.finish(),
            slotCount: slots
        )
    }

    private func checkedCount(_ announced: Int32, slots: Int) throws(ParquetDecodingError) -> Int {
        let count = Int(announced)
        guard count <= Self.maximumPageValues, Int64(slots + count) <= self.metadata.numValues else {
            throw ParquetDecodingError(
                .corruptPage,
                "a page announces \(announced) values, more than the \(self.metadata.numValues - Int64(slots)) left in the chunk"
            )
        }
        return count
    }

    /// Decodes definition levels (or, for a required column, none) and returns how many slots hold a value.
    private func definitionLevels(
        _ reader: inout ParquetByteReader,
        count: Int,
        lengthPrefixed: Bool,
        encoding: Int32,
        into definitions: inout [UInt8]
    ) throws(ParquetDecodingError) -> Int {
        let maximum = self.leaf.maxDefinitionLevel
        guard maximum > 0 else { return count }
        let start = definitions.count
        try self.levels(
            &reader,
            count: count,
            maximum: maximum,
            lengthPrefixed: lengthPrefixed,
            encoding: encoding,
            what: "definition levels",
            into: &definitions
        )
        var present = 0
        for index in start..<definitions.count where definitions[index] == UInt8(maximum) { present += 1 }
        return present
    }

    private func levels(
        _ reader: inout ParquetByteReader,
        count: Int,
        maximum: Int,
        lengthPrefixed: Bool,
        encoding: Int32,
        what: String,
        into output: inout [UInt8]
    ) throws(ParquetDecodingError) {
        guard encoding == ParquetEncoding.rle.rawValue else {
            throw ParquetDecodingError(
                .unsupported,
                "\(what) encoded with encoding \(encoding) (only RLE is supported)"
            )
        }
        let bytes: UnsafeRawBufferPointer
        if lengthPrefixed {
            let length = try reader.littleEndian(UInt32.self, what: what)
            bytes = try reader.slice(Int(length), what: what)
        } else {
            bytes = try reader.slice(reader.remaining, what: what)
        }
        var decoder = try RLEBitPackedHybridDecoder(
            bytes,
            bitWidth: RLEBitPackedHybridDecoder.bitWidth(forMaximum: maximum),
            what: what
        )
        let start = output.count
        try decoder.decode(count, into: &output)
        for index in start..<output.count where output[index] > UInt8(maximum) {
            throw ParquetDecodingError(.corruptPage, "\(what) hold \(output[index]), above the maximum \(maximum)")
        }
    }

    private func values(
        _ reader: inout ParquetByteReader,
        encoding: Int32,
        count: Int,
        dictionary: ParquetValues?,
        into builder: inout ParquetValueBuilder
    ) throws(ParquetDecodingError) {
        switch ParquetEncoding(rawValue: encoding) {
        case .plain:
            try PlainDecoder.decode(&reader, count: count, into: &builder)
        case .plainDictionary, .rleDictionary:
            guard let dictionary else {
                throw ParquetDecodingError(.corruptPage, "dictionary-encoded values without a dictionary page")
            }
            guard count > 0 else { return }
            let width = Int(try reader.byte(what: "the dictionary index bit width"))
            var decoder = try RLEBitPackedHybridDecoder(
                try reader.slice(reader.remaining, what: "dictionary indices"),
                bitWidth: width,
                what: "dictionary indices"
            )
            var indices: [UInt32] = []
            indices.reserveCapacity(count)
            try decoder.decode(count, into: &indices)
            try builder.append(entries: indices, of: dictionary)
        case .rle where builder.type == .boolean:
            let length = try reader.littleEndian(UInt32.self, what: "RLE booleans")
            var decoder = try RLEBitPackedHybridDecoder(
                try reader.slice(Int(length), what: "RLE booleans"),
                bitWidth: 1,
                what: "RLE booleans"
            )
            var bits: [UInt32] = []
            try decoder.decode(count, into: &bits)
            builder.booleans.append(contentsOf: bits.lazy.map { $0 == 1 })
        case .deltaBinaryPacked where builder.type == .int32 || builder.type == .int64:
            let decoded = try DeltaBinaryPackedDecoder.decode(&reader, count: count, what: "DELTA_BINARY_PACKED values")
            if builder.type == .int32 {
                builder.int32s.append(contentsOf: decoded.lazy.map { Int32(truncatingIfNeeded: $0) })
            } else {
                builder.int64s.append(contentsOf: decoded)
            }
        case .deltaLengthByteArray where builder.type == .byteArray:
            try DeltaByteArrayDecoder.decodeLengths(&reader, count: count, into: &builder.arrays)
        case .deltaByteArray where builder.type == .byteArray || builder.type == .fixedLenByteArray:
            try DeltaByteArrayDecoder.decodeShared(&reader, count: count, into: &builder.arrays)
        case .byteStreamSplit:
            try ByteStreamSplitDecoder.decode(&reader, count: count, into: &builder)
        default:
            throw ParquetDecodingError(
                .unsupported,
                "values of \(builder.type) encoded with encoding \(encoding) are not supported"
            )
        }
    }
}
