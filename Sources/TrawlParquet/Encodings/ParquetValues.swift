/// Variable-length values (BYTE_ARRAY, FIXED_LEN_BYTE_ARRAY) packed in one array: value `i` is
/// `bytes[starts[i]..<ends[i]]`, so a page of strings is a few allocations, not one per value.
///
/// A dictionary-encoded column holds its dictionary's bytes once and its values point into them, instead
/// of a copy of an entry per value: decoding copies no bytes, the column takes less memory, and rendering
/// rows reads entries that stay in the cache rather than a stream of copies from main memory.
public struct ParquetByteArrays: Sendable, Equatable {
    /// Values appended one after another, and the entries of a dictionary the values point into.
    public private(set) var bytes: [UInt8] = []
    public private(set) var starts: [Int] = []
    public private(set) var ends: [Int] = []
    /// Where an adopted dictionary's bytes start in ``bytes``.
    private var dictionaryBase: Int?

    public init() {}

    public var count: Int { self.ends.count }

    public func range(_ index: Int) -> Range<Int> {
        self.starts[index]..<self.ends[index]
    }

    public subscript(index: Int) -> ArraySlice<UInt8> { self.bytes[self.range(index)] }

    mutating func append(_ value: UnsafeRawBufferPointer) {
        self.starts.append(self.bytes.count)
        self.bytes.append(contentsOf: value)
        self.ends.append(self.bytes.count)
    }

    /// Appends the entries `indices` of `dictionary`, which the caller checked to be below its count. The
    /// first call adds the dictionary's bytes; a column chunk has one dictionary, so later calls pass the
    /// same one.
    mutating func append(entries indices: [UInt32], of dictionary: ParquetByteArrays) {
        let base: Int
        if let dictionaryBase = self.dictionaryBase {
            base = dictionaryBase
        } else {
            base = self.bytes.count
            self.bytes.append(contentsOf: dictionary.bytes)
            self.dictionaryBase = base
        }
        self.starts.reserveCapacity(self.starts.count + indices.count)
        self.ends.reserveCapacity(self.ends.count + indices.count)
        for index in indices {
            self.starts.append(base + dictionary.starts[Int(index)])
            self.ends.append(base + dictionary.ends[Int(index)])
        }
    }

    /// Equal when they hold the same values, however their bytes are laid out.
    public static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.count == rhs.count && (0..<lhs.count).allSatisfy { lhs[$0] == rhs[$0] }
    }
}

/// A 96-bit timestamp as Impala and Hive wrote it: nanoseconds within the day, then the Julian day.
public struct ParquetInt96: Sendable, Equatable {
    public var nanosecondsOfDay: UInt64
    public var julianDay: UInt32
}

/// The non-null values of a column, in order, in their physical type.
public enum ParquetValues: Sendable, Equatable {
    case boolean([Bool])
    case int32([Int32])
    case int64([Int64])
    case int96([ParquetInt96])
    case float([Float])
    case double([Double])
    case bytes(ParquetByteArrays)

    public var count: Int {
        switch self {
        case .boolean(let values): values.count
        case .int32(let values): values.count
        case .int64(let values): values.count
        case .int96(let values): values.count
        case .float(let values): values.count
        case .double(let values): values.count
        case .bytes(let values): values.count
        }
    }
}
