import NIOCore

// Decoders of the footer and page header structs from parquet.thrift. Required fields that are missing
// are reported by name; enum values this reader does not know are kept as raw numbers where a newer
// writer may use them (encodings, codecs) and refused where the reader could not go on (physical types).

private func missing(_ field: String, in structure: String) -> ParquetDecodingError {
    ParquetDecodingError(.corruptMetadata, "\(structure) has no \(field)")
}

extension ParquetFileMetadata {
    static func decode(_ reader: inout ThriftCompactReader) throws(ParquetDecodingError) -> ParquetFileMetadata {
        var version: Int32?
        var schema: [ParquetSchemaElement]?
        var numRows: Int64?
        var rowGroups: [ParquetRowGroup]?
        var keyValues: [(key: String, value: String?)] = []
        var createdBy: String?
        try reader.readStruct { (reader, field) throws(ParquetDecodingError) in
            switch (field.id, field.type) {
            case (1, .i32): version = try reader.readI32()
            case (2, .list):
                schema = try reader.readList { (reader) throws(ParquetDecodingError) in try .decode(&reader) }
            case (3, .i64): numRows = try reader.readI64()
            case (4, .list):
                rowGroups = try reader.readList { (reader) throws(ParquetDecodingError) in try .decode(&reader) }
            case (5, .list):
                keyValues = try reader.readList { (reader) throws(ParquetDecodingError) in
                    var key: String?
                    var value: String?
                    try reader.readStruct { (reader, field) throws(ParquetDecodingError) in
                        switch (field.id, field.type) {
                        case (1, .binary): key = try reader.readString()
                        case (2, .binary): value = try reader.readString()
                        default: return false
                        }
                        return true
                    }
                    guard let key else { throw missing("key", in: "KeyValue") }
                    return (key, value)
                }
            case (6, .binary): createdBy = try reader.readString()
            default: return false
            }
            return true
        }
        guard let version else { throw missing("version", in: "FileMetaData") }
        guard let schema, !schema.isEmpty else { throw missing("schema", in: "FileMetaData") }
        guard let numRows, numRows >= 0 else { throw missing("num_rows", in: "FileMetaData") }
        guard let rowGroups else { throw missing("row_groups", in: "FileMetaData") }
        return ParquetFileMetadata(
            version: version,
            schema: schema,
            numRows: numRows,
            rowGroups: rowGroups,
            keyValueMetadata: keyValues,
            createdBy: createdBy
        )
    }
}

extension ParquetSchemaElement {
    static func decode(_ reader: inout ThriftCompactReader) throws(ParquetDecodingError) -> ParquetSchemaElement {
        var element = ParquetSchemaElement(name: "")
        var name: String?
        try reader.readStruct { (reader, field) throws(ParquetDecodingError) in
            switch (field.id, field.type) {
            case (1, .i32):
                let raw = try reader.readI32()
                guard let type = ParquetPhysicalType(rawValue: raw) else {
                    throw ParquetDecodingError(.corruptMetadata, "SchemaElement has an unknown physical type \(raw)")
                }
                element.type = type
            case (2, .i32): element.typeLength = try reader.readI32()
            case (3, .i32):
                let raw = try reader.readI32()
                guard let repetition = ParquetRepetition(rawValue: raw) else {
                    throw ParquetDecodingError(.unsupported, "SchemaElement has an unknown repetition type \(raw)")
                }
                element.repetition = repetition
            case (4, .binary): name = try reader.readString()
            case (5, .i32): element.numChildren = try reader.readI32()
            case (6, .i32): element.convertedType = ParquetConvertedType(rawValue: try reader.readI32())
            case (7, .i32): element.scale = try reader.readI32()
            case (8, .i32): element.precision = try reader.readI32()
            case (9, .i32): element.fieldID = try reader.readI32()
            case (10, .structure): element.logicalType = try ParquetLogicalType.decode(&reader)
            default: return false
            }
            return true
        }
        guard let name else { throw missing("name", in: "SchemaElement") }
        element.name = name
        return element
    }

    init(name: String) {
        self.name = name
    }
}

extension ParquetLogicalType {
    static func decode(_ reader: inout ThriftCompactReader) throws(ParquetDecodingError) -> ParquetLogicalType? {
        var result: ParquetLogicalType?
        try reader.readStruct { (reader, field) throws(ParquetDecodingError) in
            guard field.type == .structure else { return false }
            switch field.id {
            case 1: result = .string
            case 2: result = .map
            case 3: result = .list
            case 4: result = .enumeration
            case 5:
                var scale: Int32 = 0
                var precision: Int32 = 0
                try reader.readStruct { (reader, field) throws(ParquetDecodingError) in
                    switch (field.id, field.type) {
                    case (1, .i32): scale = try reader.readI32()
                    case (2, .i32): precision = try reader.readI32()
                    default: return false
                    }
                    return true
                }
                result = .decimal(scale: scale, precision: precision)
                return true
            case 6: result = .date
            case 7, 8:
                var adjusted = false
                var unit = ParquetTimeUnit.millis
                try reader.readStruct { (reader, field) throws(ParquetDecodingError) in
                    switch (field.id, field.type) {
                    case (1, .boolTrue), (1, .boolFalse): adjusted = ThriftCompactReader.bool(field)
                    case (2, .structure): unit = try ParquetTimeUnit.decode(&reader)
                    default: return false
                    }
                    return true
                }
                result =
                    field.id == 7
                    ? .time(adjustedToUTC: adjusted, unit: unit) : .timestamp(adjustedToUTC: adjusted, unit: unit)
                return true
            case 10:
                var width: Int8 = 0
                var signed = true
                try reader.readStruct { (reader, field) throws(ParquetDecodingError) in
                    switch (field.id, field.type) {
                    case (1, .byte): width = try reader.readI8()
                    case (2, .boolTrue), (2, .boolFalse): signed = ThriftCompactReader.bool(field)
                    default: return false
                    }
                    return true
                }
                result = .integer(bitWidth: width, signed: signed)
                return true
            case 11: result = .unknown
            case 12: result = .json
            case 13: result = .bson
            case 14: result = .uuid
            case 15: result = .float16
            default: result = .other(field.id)
            }
            return false
        }
        return result
    }
}

extension ParquetTimeUnit {
    static func decode(_ reader: inout ThriftCompactReader) throws(ParquetDecodingError) -> ParquetTimeUnit {
        var unit = ParquetTimeUnit.millis
        try reader.readStruct { (_, field) throws(ParquetDecodingError) in
            switch field.id {
            case 2: unit = .micros
            case 3: unit = .nanos
            default: unit = .millis
            }
            return false
        }
        return unit
    }
}

extension ParquetRowGroup {
    static func decode(_ reader: inout ThriftCompactReader) throws(ParquetDecodingError) -> ParquetRowGroup {
        var columns: [ParquetColumnChunk]?
        var totalByteSize: Int64 = 0
        var numRows: Int64?
        try reader.readStruct { (reader, field) throws(ParquetDecodingError) in
            switch (field.id, field.type) {
            case (1, .list):
                columns = try reader.readList { (reader) throws(ParquetDecodingError) in try .decode(&reader) }
            case (2, .i64): totalByteSize = try reader.readI64()
            case (3, .i64): numRows = try reader.readI64()
            default: return false
            }
            return true
        }
        guard let columns else { throw missing("columns", in: "RowGroup") }
        guard let numRows, numRows >= 0 else { throw missing("num_rows", in: "RowGroup") }
        return ParquetRowGroup(columns: columns, totalByteSize: totalByteSize, numRows: numRows)
    }
}

extension ParquetColumnChunk {
    static func decode(_ reader: inout ThriftCompactReader) throws(ParquetDecodingError) -> ParquetColumnChunk {
        var chunk = ParquetColumnChunk(filePath: nil, fileOffset: 0, metadata: nil)
        try reader.readStruct { (reader, field) throws(ParquetDecodingError) in
            switch (field.id, field.type) {
            case (1, .binary): chunk.filePath = try reader.readString()
            case (2, .i64): chunk.fileOffset = try reader.readI64()
            case (3, .structure): chunk.metadata = try ParquetColumnMetadata.decode(&reader)
            default: return false
            }
            return true
        }
        return chunk
    }
}

extension ParquetColumnMetadata {
    static func decode(_ reader: inout ThriftCompactReader) throws(ParquetDecodingError) -> ParquetColumnMetadata {
        var type: ParquetPhysicalType?
        var encodings: [Int32] = []
        var path: [String]?
        var codec: Int32?
        var numValues: Int64?
        var uncompressed: Int64 = 0
        var compressed: Int64?
        var dataPageOffset: Int64?
        var indexPageOffset: Int64?
        var dictionaryPageOffset: Int64?
        try reader.readStruct { (reader, field) throws(ParquetDecodingError) in
            switch (field.id, field.type) {
            case (1, .i32):
                let raw = try reader.readI32()
                guard let physical = ParquetPhysicalType(rawValue: raw) else {
                    throw ParquetDecodingError(.corruptMetadata, "ColumnMetaData has an unknown physical type \(raw)")
                }
                type = physical
            case (2, .list):
                encodings = try reader.readList { (reader) throws(ParquetDecodingError) in try reader.readI32() }
            case (3, .list):
                path = try reader.readList { (reader) throws(ParquetDecodingError) in try reader.readString() }
            case (4, .i32): codec = try reader.readI32()
            case (5, .i64): numValues = try reader.readI64()
            case (6, .i64): uncompressed = try reader.readI64()
            case (7, .i64): compressed = try reader.readI64()
            case (9, .i64): dataPageOffset = try reader.readI64()
            case (10, .i64): indexPageOffset = try reader.readI64()
            case (11, .i64): dictionaryPageOffset = try reader.readI64()
            default: return false
            }
            return true
        }
        guard let type else { throw missing("type", in: "ColumnMetaData") }
        guard let path, !path.isEmpty else { throw missing("path_in_schema", in: "ColumnMetaData") }
        guard let codec else { throw missing("codec", in: "ColumnMetaData") }
        guard let numValues, numValues >= 0 else { throw missing("num_values", in: "ColumnMetaData") }
        guard let compressed, compressed >= 0 else { throw missing("total_compressed_size", in: "ColumnMetaData") }
        guard let dataPageOffset, dataPageOffset >= 0 else { throw missing("data_page_offset", in: "ColumnMetaData") }
        return ParquetColumnMetadata(
            type: type,
            encodings: encodings,
            pathInSchema: path,
            codec: codec,
            numValues: numValues,
            totalUncompressedSize: uncompressed,
            totalCompressedSize: compressed,
            dataPageOffset: dataPageOffset,
            indexPageOffset: indexPageOffset,
            dictionaryPageOffset: dictionaryPageOffset
        )
    }
}

extension ParquetPageHeader {
    static func decode(_ reader: inout ThriftCompactReader) throws(ParquetDecodingError) -> ParquetPageHeader {
        var type: Int32?
        var uncompressed: Int32?
        var compressed: Int32?
        var header = ParquetPageHeader(type: 0, uncompressedPageSize: 0, compressedPageSize: 0)
        try reader.readStruct { (reader, field) throws(ParquetDecodingError) in
            switch (field.id, field.type) {
            case (1, .i32): type = try reader.readI32()
            case (2, .i32): uncompressed = try reader.readI32()
            case (3, .i32): compressed = try reader.readI32()
            case (4, .i32): header.crc = try reader.readI32()
            case (5, .structure): header.dataPage = try DataPage.decode(&reader)
            case (7, .structure): header.dictionaryPage = try DictionaryPage.decode(&reader)
            case (8, .structure): header.dataPageV2 = try DataPageV2.decode(&reader)
            default: return false
            }
            return true
        }
        guard let type else { throw missing("type", in: "PageHeader") }
        guard let uncompressed, uncompressed >= 0 else { throw missing("uncompressed_page_size", in: "PageHeader") }
        guard let compressed, compressed >= 0 else { throw missing("compressed_page_size", in: "PageHeader") }
        header.type = type
        header.uncompressedPageSize = uncompressed
        header.compressedPageSize = compressed
        return header
    }

    init(type: Int32, uncompressedPageSize: Int32, compressedPageSize: Int32) {
        self.type = type
        self.uncompressedPageSize = uncompressedPageSize
        self.compressedPageSize = compressedPageSize
    }
}

extension ParquetPageHeader.DataPage {
    static func decode(_ reader: inout ThriftCompactReader) throws(ParquetDecodingError) -> Self {
        var page = Self(numValues: -1, encoding: -1, definitionLevelEncoding: 3, repetitionLevelEncoding: 3)
        try reader.readStruct { (reader, field) throws(ParquetDecodingError) in
            switch (field.id, field.type) {
            case (1, .i32): page.numValues = try reader.readI32()
            case (2, .i32): page.encoding = try reader.readI32()
            case (3, .i32): page.definitionLevelEncoding = try reader.readI32()
            case (4, .i32): page.repetitionLevelEncoding = try reader.readI32()
            default: return false
            }
            return true
        }
        guard page.numValues >= 0 else {
            throw ParquetDecodingError(.corruptMetadata, "DataPageHeader has a negative or no num_values")
        }
        guard page.encoding >= 0 else { throw missing("encoding", in: "DataPageHeader") }
        return page
    }
}

extension ParquetPageHeader.DataPageV2 {
    static func decode(_ reader: inout ThriftCompactReader) throws(ParquetDecodingError) -> Self {
        var page = Self(
            numValues: -1,
            numNulls: 0,
            numRows: -1,
            encoding: -1,
            definitionLevelsByteLength: -1,
            repetitionLevelsByteLength: -1,
            isCompressed: true
        )
        try reader.readStruct { (reader, field) throws(ParquetDecodingError) in
            switch (field.id, field.type) {
            case (1, .i32): page.numValues = try reader.readI32()
            case (2, .i32): page.numNulls = try reader.readI32()
            case (3, .i32): page.numRows = try reader.readI32()
            case (4, .i32): page.encoding = try reader.readI32()
            case (5, .i32): page.definitionLevelsByteLength = try reader.readI32()
            case (6, .i32): page.repetitionLevelsByteLength = try reader.readI32()
            case (7, .boolTrue), (7, .boolFalse): page.isCompressed = ThriftCompactReader.bool(field)
            default: return false
            }
            return true
        }
        guard page.numValues >= 0, page.numRows >= 0, page.encoding >= 0,
            page.definitionLevelsByteLength >= 0, page.repetitionLevelsByteLength >= 0
        else {
            throw ParquetDecodingError(.corruptMetadata, "DataPageHeaderV2 lacks a count, encoding or level length")
        }
        return page
    }
}

extension ParquetPageHeader.DictionaryPage {
    static func decode(_ reader: inout ThriftCompactReader) throws(ParquetDecodingError) -> Self {
        var page = Self(numValues: -1, encoding: -1, isSorted: nil)
        try reader.readStruct { (reader, field) throws(ParquetDecodingError) in
            switch (field.id, field.type) {
            case (1, .i32): page.numValues = try reader.readI32()
            case (2, .i32): page.encoding = try reader.readI32()
            case (3, .boolTrue), (3, .boolFalse): page.isSorted = ThriftCompactReader.bool(field)
            default: return false
            }
            return true
        }
        guard page.numValues >= 0 else {
            throw ParquetDecodingError(.corruptMetadata, "DictionaryPageHeader has a negative or no num_values")
        }
        guard page.encoding >= 0 else { throw missing("encoding", in: "DictionaryPageHeader") }
        return page
    }
}
