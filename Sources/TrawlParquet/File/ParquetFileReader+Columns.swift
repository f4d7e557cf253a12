import NIOCore

extension ParquetFileReader {
    /// Reads and decodes column `column` of row group `rowGroup`: one ranged read of the chunk's bytes.
    ///
    /// - Throws: ``ParquetError`` naming the file, row group and column.
    public func readColumn(rowGroup: Int, column: Int) async throws(ParquetError) -> ParquetColumnData {
        let leaf = self.schema.leaves[column]
        let location = ParquetError.Location(file: self.name, rowGroup: rowGroup, column: leaf.dottedPath)
        let chunk = self.metadata.rowGroups[rowGroup].columns[column]
        guard chunk.filePath == nil else {
            throw ParquetError(
                .unsupported,
                "the column's data is in another file (\(chunk.filePath ?? ""))",
                location: location
            )
        }
        guard let metadata = chunk.metadata else {
            throw ParquetError(.corruptMetadata, "the column chunk has no metadata", location: location)
        }
        var start = metadata.dataPageOffset
        if let dictionary = metadata.dictionaryPageOffset, dictionary > 0, dictionary < start { start = dictionary }
        let length = metadata.totalCompressedSize
        guard start >= 4, length >= 0, start + length <= Int64(self.source.size) else {
            var at = location
            at.offset = Int(clamping: start)
            throw ParquetError(
                .truncated,
                "the chunk's \(length) bytes at offset \(start) lie outside the file's \(self.source.size)",
                location: at
            )
        }
        let bytes: ByteBuffer
        do {
            bytes = try await self.source.read(offset: Int(start), length: Int(length))
        } catch let error as ParquetError {
            throw error
        } catch {
            throw ParquetError(.truncated, "cannot read the chunk: \(error)", location: location)
        }
        do throws(ParquetDecodingError) {
            return try ParquetColumnChunkReader(leaf: leaf, metadata: metadata).read(bytes)
        } catch {
            var at = location
            at.offset = Int(start)
            throw error.at(at)
        }
    }
}
