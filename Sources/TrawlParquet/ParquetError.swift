/// Why a Parquet file could not be read, and where: the file, and when known the row group, column and page.
///
/// Modelled as a struct with an extensible nested ``Code`` (as `HTTPClientError` is) so new failures do not
/// break callers that switch over an enum. Every failure of the reader is one of these: a corrupt or hostile
/// file ends in an error, never a crash or an endless loop.
public struct ParquetError: Error, Sendable, CustomStringConvertible {
    /// What kind of failure this is.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let name: String

        private init(_ name: String) { self.name = name }

        /// The bytes are not Parquet: the `PAR1` magic is missing at either end.
        public static let notParquet = Code("notParquet")
        /// The file ends before a structure it announces (footer, page, value) does.
        public static let truncated = Code("truncated")
        /// The Thrift-encoded metadata (footer or page header) cannot be decoded or contradicts itself.
        public static let corruptMetadata = Code("corruptMetadata")
        /// A page's data cannot be decoded (levels, values, compression).
        public static let corruptPage = Code("corruptPage")
        /// The file uses a feature this reader does not implement.
        public static let unsupported = Code("unsupported")
        /// The file needs more memory than ``ParquetReadLimits`` allow (a hostile or unusual file).
        public static let limitExceeded = Code("limitExceeded")

        public var description: String { self.name }
    }

    /// Where in the file the failure was found.
    public struct Location: Sendable, Equatable, CustomStringConvertible {
        public var file: String
        public var rowGroup: Int?
        public var column: String?
        /// The byte offset in the file of the structure being read, if known.
        public var offset: Int?

        public init(file: String, rowGroup: Int? = nil, column: String? = nil, offset: Int? = nil) {
            self.file = file
            self.rowGroup = rowGroup
            self.column = column
            self.offset = offset
        }

        /// Where in the file, without its name (`row group 2, column x, offset 4`); empty when only the file
        /// is known. For messages whose location already names the file.
        public var withinFile: String {
            var parts: [String] = []
            if let rowGroup { parts.append("row group \(rowGroup)") }
            if let column { parts.append("column \(column)") }
            if let offset { parts.append("offset \(offset)") }
            return parts.joined(separator: ", ")
        }

        public var description: String {
            let within = self.withinFile
            return within.isEmpty ? self.file : "\(self.file), \(within)"
        }
    }

    public var code: Code
    public var message: String
    public var location: Location

    public init(_ code: Code, _ message: String, location: Location) {
        self.code = code
        self.message = message
        self.location = location
    }

    public var description: String { "\(self.location): \(self.message)" }
}

/// A failure found below the file level (Thrift decoding, a page's values), before the caller adds where.
struct ParquetDecodingError: Error, Sendable {
    var code: ParquetError.Code
    var message: String

    init(_ code: ParquetError.Code, _ message: String) {
        self.code = code
        self.message = message
    }

    func at(_ location: ParquetError.Location) -> ParquetError {
        ParquetError(self.code, self.message, location: location)
    }
}
