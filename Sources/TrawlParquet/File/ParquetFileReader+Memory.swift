import NIOCore

extension ParquetFileReader {
    /// Every row of a Parquet file held in memory, rendered as JSON, without suspending: for callers that
    /// already hold the bytes (small objects, the fuzz target). Row `i` of the result's buffer ends at
    /// `ends[i]`.
    ///
    /// - Throws: ``ParquetError`` as the reader's other entry points do.
    public static func jsonRows(
        ofFile bytes: ByteBuffer,
        name: String,
        options: ParquetJSONOptions = ParquetJSONOptions(),
        limits: ParquetReadLimits = ParquetReadLimits()
    ) throws(ParquetError) -> [(buffer: ByteBuffer, ends: [Int])] {
        let size = bytes.readableBytes
        guard size >= 12 else {
            throw ParquetError(
                .notParquet,
                "\(size) bytes is too short for a Parquet file",
                location: .init(file: name)
            )
        }
        try Self.checkMagic(head: bytes, tail: bytes, name: name)
        let (offset, length) = try Self.footerPosition(tail: bytes, size: size, name: name)
        let footer = bytes.getSlice(at: bytes.readerIndex + offset, length: length) ?? ByteBuffer()
        let (metadata, schema) = try Self.decodeFooter(footer, at: offset, name: name)
        let file = ParquetFileReader(
            name: name,
            source: ParquetBytes(bytes),
            metadata: metadata,
            schema: schema,
            limits: limits
        )
        var groups: [(buffer: ByteBuffer, ends: [Int])] = []
        for rowGroup in metadata.rowGroups.indices {
            try file.checkLimits(rowGroup: rowGroup)
            var columns: [ParquetColumnData] = []
            for column in schema.leaves.indices {
                let (start, count) = try file.chunkRange(rowGroup: rowGroup, column: column)
                let chunk = bytes.getSlice(at: bytes.readerIndex + start, length: count) ?? ByteBuffer()
                columns.append(try file.decodeColumn(rowGroup: rowGroup, column: column, chunk: chunk))
            }
            var renderer = try file.rowRenderer(rowGroup: rowGroup, columns: columns, options: options)
            groups.append(try renderer.all())
        }
        return groups
    }
}
