/// Variable-length values (BYTE_ARRAY, FIXED_LEN_BYTE_ARRAY) packed in one array: value `i` is
/// `bytes[ends[i - 1]..<ends[i]]`, so a page of strings is two allocations, not one per value.
public struct ParquetByteArrays: Sendable, Equatable {
    public var bytes: [UInt8] = []
    public var ends: [Int] = []

    public init() {}

    public var count: Int { self.ends.count }

    public func range(_ index: Int) -> Range<Int> {
        (index == 0 ? 0 : self.ends[index - 1])..<self.ends[index]
    }

    public subscript(index: Int) -> ArraySlice<UInt8> { self.bytes[self.range(index)] }

    mutating func append(_ value: UnsafeRawBufferPointer) {
        self.bytes.append(contentsOf: value)
        self.ends.append(self.bytes.count)
    }

    mutating func append(from other: ParquetByteArrays, at index: Int) {
        self.bytes.append(contentsOf: other.bytes[other.range(index)])
        self.ends.append(self.bytes.count)
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
