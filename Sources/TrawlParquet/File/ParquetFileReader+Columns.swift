import NIOCore

extension ParquetFileReader {
    /// Reads and decodes column `column` of row group `rowGroup`: one ranged read of the chunk's bytes.
    ///
    /// - Throws: ``ParquetError`` naming the file, row group and column.
    public func readColumn(rowGroup: Int, column: Int) async throws(ParquetError) -> ParquetColumnData {
        let (start, length) = try self.chunkRange(rowGroup: rowGroup, column: column)
        let bytes: ByteBuffer
        do {
            bytes = try await self.source.read(offset: start, length: length)
        } catch let error as ParquetError {
            throw error
        } catch {
            throw ParquetError(
                .truncated,
                "cannot read the chunk: \(error)",
                location: self.location(rowGroup: rowGroup, column: column, offset: start)
            )
        }
        return try self.decodeColumn(rowGroup: rowGroup, column: column, chunk: bytes)
    }

    /// Checks that the row group's chunks claim no more memory than ``limits`` allow; each chunk's pages
    /// are then held to its claim as they are decompressed.
    ///
    /// - Throws: ``ParquetError`` (`limitExceeded`) naming the file and row group.
    public func checkLimits(rowGroup: Int) throws(ParquetError) {
        try self.checkLimits(rowGroup: rowGroup) { _ in true }
    }

    /// ``checkLimits(rowGroup:)`` for the columns `reading` selects.
    func checkLimits(rowGroup: Int, reading: (Int) -> Bool) throws(ParquetError) {
        var claimed: Int64 = 0
        for (index, chunk) in self.metadata.rowGroups[rowGroup].columns.enumerated() where reading(index) {
            let size = chunk.metadata?.totalUncompressedSize ?? 0
            claimed = claimed.addingReportingOverflow(max(0, size)).partialValue
            if claimed < 0 || claimed > self.limits.maximumRowGroupBytes {
                throw ParquetError(
                    .limitExceeded,
                    "the row group's columns claim more than \(self.limits.maximumRowGroupBytes) bytes uncompressed, the limit",
                    location: ParquetError.Location(file: self.name, rowGroup: rowGroup)
                )
            }
        }
    }

    func location(rowGroup: Int, column: Int, offset: Int? = nil) -> ParquetError.Location {
        ParquetError.Location(
            file: self.name,
            rowGroup: rowGroup,
            column: self.schema.leaves[column].dottedPath,
            offset: offset
        )
    }

    /// Where the chunk's bytes lie in the file, checked against the file's size.
    func chunkRange(rowGroup: Int, column: Int) throws(ParquetError) -> (start: Int, length: Int) {
        let chunk = self.metadata.rowGroups[rowGroup].columns[column]
        guard chunk.filePath == nil else {
            throw ParquetError(
                .unsupported,
                "the column's data is in another file (\(chunk.filePath ?? ""))",
                location: self.location(rowGroup: rowGroup, column: column)
            )
        }
        guard let metadata = chunk.metadata else {
            throw ParquetError(
                .corruptMetadata,
                "the column chunk has no metadata",
                location: self.location(rowGroup: rowGroup, column: column)
            )
        }
        var start = metadata.dataPageOffset
        if let dictionary = metadata.dictionaryPageOffset, dictionary > 0, dictionary < start { start = dictionary }
        let length = metadata.totalCompressedSize
        guard start >= 4, length >= 0, start <= Int64(self.source.size), length <= Int64(self.source.size) - start
        else {
            throw ParquetError(
                .truncated,
                "the chunk's \(length) bytes at offset \(start) lie outside the file's \(self.source.size)",
                location: self.location(rowGroup: rowGroup, column: column, offset: Int(clamping: start))
            )
        }
        return (Int(start), Int(length))
    }

    /// Decodes a chunk's bytes (read from ``chunkRange(rowGroup:column:)``).
    func decodeColumn(rowGroup: Int, column: Int, chunk: ByteBuffer) throws(ParquetError) -> ParquetColumnData {
        let leaf = self.schema.leaves[column]
        guard let metadata = self.metadata.rowGroups[rowGroup].columns[column].metadata else {
            throw ParquetError(
                .corruptMetadata,
                "the column chunk has no metadata",
                location: self.location(rowGroup: rowGroup, column: column)
            )
        }
        do throws(ParquetDecodingError) {
            return try ParquetColumnChunkReader(
                leaf: leaf,
                metadata: metadata,
                maximumBytes: self.limits.maximumRowGroupBytes
            ).read(chunk)
        } catch {
            let start = (try? self.chunkRange(rowGroup: rowGroup, column: column))?.start
            throw error.at(self.location(rowGroup: rowGroup, column: column, offset: start))
        }
    }
}
