import NIOCore

/// Parquet's physical types: how values are stored.
public enum ParquetPhysicalType: Int32, Sendable {
    case boolean = 0
    case int32 = 1
    case int64 = 2
    case int96 = 3
    case float = 4
    case double = 5
    case byteArray = 6
    case fixedLenByteArray = 7
}

/// Whether a schema field is required, optional or repeated.
public enum ParquetRepetition: Int32, Sendable {
    case required = 0
    case optional = 1
    case repeated = 2
}

/// The legacy annotation of a field's meaning (superseded by ``ParquetLogicalType`` but still what many
/// writers, parquet-mr through Avro among them, set).
public enum ParquetConvertedType: Int32, Sendable {
    case utf8 = 0
    case map = 1
    case mapKeyValue = 2
    case list = 3
    case enumeration = 4
    case decimal = 5
    case date = 6
    case timeMillis = 7
    case timeMicros = 8
    case timestampMillis = 9
    case timestampMicros = 10
    case uint8 = 11
    case uint16 = 12
    case uint32 = 13
    case uint64 = 14
    case int8 = 15
    case int16 = 16
    case int32 = 17
    case int64 = 18
    case json = 19
    case bson = 20
    case interval = 21
}

/// The unit of a time or timestamp.
public enum ParquetTimeUnit: Sendable, Equatable {
    case millis
    case micros
    case nanos
}

/// A field's logical type annotation.
public enum ParquetLogicalType: Sendable, Equatable {
    case string
    case map
    case list
    case enumeration
    case decimal(scale: Int32, precision: Int32)
    case date
    case time(adjustedToUTC: Bool, unit: ParquetTimeUnit)
    case timestamp(adjustedToUTC: Bool, unit: ParquetTimeUnit)
    case integer(bitWidth: Int8, signed: Bool)
    case unknown
    case json
    case bson
    case uuid
    case float16
    /// An annotation this reader does not know (from a newer format version); the physical type decides.
    case other(Int16)
}

/// One element of the footer's flattened, depth-first schema.
public struct ParquetSchemaElement: Sendable {
    public var type: ParquetPhysicalType?
    public var typeLength: Int32?
    public var repetition: ParquetRepetition?
    public var name: String
    public var numChildren: Int32?
    public var convertedType: ParquetConvertedType?
    public var scale: Int32?
    public var precision: Int32?
    public var fieldID: Int32?
    public var logicalType: ParquetLogicalType?
}

/// Compression codecs of column chunks.
public enum ParquetCompressionCodec: Int32, Sendable {
    case uncompressed = 0
    case snappy = 1
    case gzip = 2
    case lzo = 3
    case brotli = 4
    case lz4 = 5
    case zstd = 6
    case lz4Raw = 7
}

/// Value and level encodings.
public enum ParquetEncoding: Int32, Sendable {
    case plain = 0
    case plainDictionary = 2
    case rle = 3
    case bitPacked = 4
    case deltaBinaryPacked = 5
    case deltaLengthByteArray = 6
    case deltaByteArray = 7
    case rleDictionary = 8
    case byteStreamSplit = 9
}

/// Where one column's data of one row group lies, and how it is stored.
public struct ParquetColumnMetadata: Sendable {
    public var type: ParquetPhysicalType
    public var encodings: [Int32]
    public var pathInSchema: [String]
    public var codec: Int32
    public var numValues: Int64
    public var totalUncompressedSize: Int64
    public var totalCompressedSize: Int64
    public var dataPageOffset: Int64
    public var indexPageOffset: Int64?
    public var dictionaryPageOffset: Int64?
}

/// One column of one row group.
public struct ParquetColumnChunk: Sendable {
    /// Set when the column's data lives in another file (not supported: the reader reports it).
    public var filePath: String?
    public var fileOffset: Int64
    public var metadata: ParquetColumnMetadata?
}

/// A horizontal slice of the file: every column's values for `numRows` rows.
public struct ParquetRowGroup: Sendable {
    public var columns: [ParquetColumnChunk]
    public var totalByteSize: Int64
    public var numRows: Int64
}

/// The footer: schema, row groups and who wrote the file.
public struct ParquetFileMetadata: Sendable {
    public var version: Int32
    public var schema: [ParquetSchemaElement]
    public var numRows: Int64
    public var rowGroups: [ParquetRowGroup]
    public var keyValueMetadata: [(key: String, value: String?)]
    public var createdBy: String?
}

/// The kinds of pages in a column chunk.
public enum ParquetPageType: Int32, Sendable {
    case dataPage = 0
    case indexPage = 1
    case dictionaryPage = 2
    case dataPageV2 = 3
}

/// The header before each page of a column chunk.
public struct ParquetPageHeader: Sendable {
    public struct DataPage: Sendable {
        public var numValues: Int32
        public var encoding: Int32
        public var definitionLevelEncoding: Int32
        public var repetitionLevelEncoding: Int32
    }

    public struct DataPageV2: Sendable {
        public var numValues: Int32
        public var numNulls: Int32
        public var numRows: Int32
        public var encoding: Int32
        public var definitionLevelsByteLength: Int32
        public var repetitionLevelsByteLength: Int32
        public var isCompressed: Bool
    }

    public struct DictionaryPage: Sendable {
        public var numValues: Int32
        public var encoding: Int32
        public var isSorted: Bool?
    }

    public var type: Int32
    public var uncompressedPageSize: Int32
    public var compressedPageSize: Int32
    public var crc: Int32?
    public var dataPage: DataPage?
    public var dictionaryPage: DictionaryPage?
    public var dataPageV2: DataPageV2?
}
