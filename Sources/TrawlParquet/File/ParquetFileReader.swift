import NIOCore

/// How much memory a file may make the reader use: a page of a few kilobytes can claim two gigabytes
/// uncompressed, and a hostile object must not take the collector's memory with it.
public struct ParquetReadLimits: Sendable {
    /// The most bytes a row group's column chunks may claim uncompressed (the sum of their
    /// `total_uncompressed_size`); the decoded pages of a row group stay within it.
    public var maximumRowGroupBytes: Int64

    public init(maximumRowGroupBytes: Int64 = 1 << 30) {
        self.maximumRowGroupBytes = maximumRowGroupBytes
    }
}

/// Opens a Parquet file: checks the `PAR1` magic at both ends, decodes the footer and rebuilds the schema.
/// Row groups are then read one at a time, so memory is bounded by a row group, not by the file.
public struct ParquetFileReader: Sendable {
    /// The file's name in errors (a path or `s3://bucket/key`).
    public let name: String
    public let source: any ParquetByteSource
    public let metadata: ParquetFileMetadata
    public let schema: ParquetSchema
    public let limits: ParquetReadLimits

    /// `PAR1`, at both ends of every Parquet file: how a reader tells Parquet from other objects.
    public static let magic: [UInt8] = Array("PAR1".utf8)
    /// How much of the file's end is fetched first: most footers fit, which saves a second read.
    static let tailGuess = 64 << 10

    /// Reads the footer of `source`.
    ///
    /// - Throws: ``ParquetError`` naming the file: `notParquet` without the magic, `truncated` when the
    ///   footer's length points outside the file, `corruptMetadata` when the footer cannot be decoded.
    public static func open(
        _ source: any ParquetByteSource,
        name: String,
        limits: ParquetReadLimits = ParquetReadLimits()
    ) async throws(ParquetError)
        -> ParquetFileReader
    {
        let location = ParquetError.Location(file: name)
        let size = source.size
        guard size >= 12 else {
            throw ParquetError(.notParquet, "\(size) bytes is too short for a Parquet file", location: location)
        }
        let tailLength = min(size, Self.tailGuess)
        let head: ByteBuffer
        var tail: ByteBuffer
        do {
            head = try await source.read(offset: 0, length: 4)
            tail = try await source.read(offset: size - tailLength, length: tailLength)
        } catch let error as ParquetError {
            throw error
        } catch {
            throw ParquetError(.truncated, "cannot read the footer: \(error)", location: location)
        }
        guard tail.readableBytes == tailLength else {
            throw ParquetError(.truncated, "the file is shorter than its announced \(size) bytes", location: location)
        }
        try Self.checkMagic(head: head, tail: tail, name: name)
        let (footerOffset, footerLength) = try Self.footerPosition(tail: tail, size: size, name: name)
        var footer: ByteBuffer
        if footerLength <= tailLength - 8 {
            footer = tail.getSlice(at: tail.writerIndex - 8 - footerLength, length: footerLength) ?? ByteBuffer()
        } else {
            do {
                footer = try await source.read(offset: footerOffset, length: footerLength)
            } catch let error as ParquetError {
                throw error
            } catch {
                throw ParquetError(.truncated, "cannot read the footer: \(error)", location: location)
            }
        }
        let (metadata, schema) = try Self.decodeFooter(footer, at: footerOffset, name: name)
        return ParquetFileReader(name: name, source: source, metadata: metadata, schema: schema, limits: limits)
    }

    /// Where the footer lies, from the file's last 8 bytes (its length, then `PAR1`).
    static func footerPosition(
        tail: ByteBuffer,
        size: Int,
        name: String
    ) throws(ParquetError) -> (offset: Int, length: Int) {
        let lengthField = tail.getInteger(at: tail.writerIndex - 8, endianness: .little, as: UInt32.self) ?? 0
        let footerLength = Int(lengthField)
        guard footerLength > 0, footerLength <= size - 12 else {
            throw ParquetError(
                .truncated,
                "the footer claims \(footerLength) bytes, but the file has \(size - 12) between its magic numbers",
                location: ParquetError.Location(file: name)
            )
        }
        return (size - 8 - footerLength, footerLength)
    }

    /// Decodes the footer and checks the row groups against the schema.
    static func decodeFooter(
        _ footer: ByteBuffer,
        at offset: Int,
        name: String
    ) throws(ParquetError) -> (ParquetFileMetadata, ParquetSchema) {
        var reader = ThriftCompactReader(footer)
        let metadata: ParquetFileMetadata
        let schema: ParquetSchema
        do throws(ParquetDecodingError) {
            metadata = try ParquetFileMetadata.decode(&reader)
            schema = try ParquetSchema(elements: metadata.schema)
        } catch {
            throw ParquetError(error.code, "footer: \(error.message)", location: .init(file: name, offset: offset))
        }
        for (index, group) in metadata.rowGroups.enumerated() where group.columns.count != schema.leaves.count {
            throw ParquetError(
                .corruptMetadata,
                "the row group has \(group.columns.count) column chunks for \(schema.leaves.count) schema columns",
                location: ParquetError.Location(file: name, rowGroup: index)
            )
        }
        return (metadata, schema)
    }

    /// Parquet files begin and end with `PAR1`.
    static func checkMagic(head: ByteBuffer, tail: ByteBuffer, name: String) throws(ParquetError) {
        let startsWell = Array(head.readableBytesView.prefix(4)) == Self.magic
        guard startsWell, Array(tail.readableBytesView.suffix(4)) == Self.magic else {
            throw ParquetError(
                startsWell ? .truncated : .notParquet,
                startsWell
                    ? "the file starts with PAR1 but does not end with it: it was cut short (an upload or copy that did not finish) or has bytes appended"
                    : "the file does not start with the PAR1 magic: it is not Parquet",
                location: .init(file: name)
            )
        }
    }
}
