/// Collects a column's non-null values in typed arrays that grow in place page after page.
struct ParquetValueBuilder {
    let type: ParquetPhysicalType
    let typeLength: Int
    var booleans: [Bool] = []
    var int32s: [Int32] = []
    var int64s: [Int64] = []
    var int96s: [ParquetInt96] = []
    var floats: [Float] = []
    var doubles: [Double] = []
    var arrays = ParquetByteArrays()

    init(type: ParquetPhysicalType, typeLength: Int) {
        self.type = type
        self.typeLength = typeLength
    }

    var count: Int {
        switch self.type {
        case .boolean: self.booleans.count
        case .int32: self.int32s.count
        case .int64: self.int64s.count
        case .int96: self.int96s.count
        case .float: self.floats.count
        case .double: self.doubles.count
        case .byteArray, .fixedLenByteArray: self.arrays.count
        }
    }

    func finish() -> ParquetValues {
        switch self.type {
        case .boolean: .boolean(self.booleans)
        case .int32: .int32(self.int32s)
        case .int64: .int64(self.int64s)
        case .int96: .int96(self.int96s)
        case .float: .float(self.floats)
        case .double: .double(self.doubles)
        case .byteArray, .fixedLenByteArray: .bytes(self.arrays)
        }
    }

    /// Appends the entries `indices` of `dictionary` (the same physical type), once each is checked to be
    /// below its count.
    mutating func append(entries indices: [UInt32], of dictionary: ParquetValues) throws(ParquetDecodingError) {
        let size = dictionary.count
        if let index = indices.first(where: { Int($0) >= size }) {
            throw ParquetDecodingError(.corruptPage, "dictionary index \(index) past the \(size) entries")
        }
        switch dictionary {
        case .boolean(let values): Self.append(indices, of: values, to: &self.booleans)
        case .int32(let values): Self.append(indices, of: values, to: &self.int32s)
        case .int64(let values): Self.append(indices, of: values, to: &self.int64s)
        case .int96(let values): Self.append(indices, of: values, to: &self.int96s)
        case .float(let values): Self.append(indices, of: values, to: &self.floats)
        case .double(let values): Self.append(indices, of: values, to: &self.doubles)
        case .bytes(let values): self.arrays.append(entries: indices, of: values)
        }
    }

    private static func append<Value>(_ indices: [UInt32], of dictionary: [Value], to values: inout [Value]) {
        values.reserveCapacity(values.count + indices.count)
        for index in indices { values.append(dictionary[Int(index)]) }
    }
}

/// Decodes PLAIN-encoded values of one physical type: little-endian numbers, bit-packed booleans,
/// length-prefixed byte arrays and fixed-length byte arrays.
enum PlainDecoder {
    static func decode(
        _ reader: inout ParquetByteReader,
        count: Int,
        into values: inout ParquetValueBuilder
    ) throws(ParquetDecodingError) {
        let what = "PLAIN \(values.type) values"
        switch values.type {
        case .boolean:
            let packed = try reader.slice((count + 7) / 8, what: what)
            values.booleans.reserveCapacity(values.booleans.count + count)
            for index in 0..<count { values.booleans.append(packed[index >> 3] >> UInt8(index & 7) & 1 == 1) }
        case .int32: try Self.fixed(&reader, count: count, what: what, into: &values.int32s)
        case .int64: try Self.fixed(&reader, count: count, what: what, into: &values.int64s)
        case .float:
            var bits: [UInt32] = []
            try Self.fixed(&reader, count: count, what: what, into: &bits)
            values.floats.append(contentsOf: bits.lazy.map(Float.init(bitPattern:)))
        case .double:
            var bits: [UInt64] = []
            try Self.fixed(&reader, count: count, what: what, into: &bits)
            values.doubles.append(contentsOf: bits.lazy.map(Double.init(bitPattern:)))
        case .int96:
            guard count <= reader.remaining / 12 else { throw ParquetByteReader.truncated(what) }
            for _ in 0..<count {
                let nanoseconds = try reader.littleEndian(UInt64.self, what: what)
                let day = try reader.littleEndian(UInt32.self, what: what)
                values.int96s.append(ParquetInt96(nanosecondsOfDay: nanoseconds, julianDay: day))
            }
        case .byteArray:
            guard count <= reader.remaining / 4 else { throw ParquetByteReader.truncated(what) }
            for _ in 0..<count {
                let length = try reader.littleEndian(UInt32.self, what: what)
                values.arrays.append(try reader.slice(Int(length), what: what))
            }
        case .fixedLenByteArray:
            let length = values.typeLength
            guard length >= 0, length == 0 || count <= reader.remaining / length else {
                throw ParquetByteReader.truncated(what)
            }
            for _ in 0..<count { values.arrays.append(try reader.slice(length, what: what)) }
        }
    }

    /// Fixed-width values laid out back to back (PLAIN, or BYTE_STREAM_SPLIT once joined).
    static func decodeFixedWidth(
        _ reader: inout ParquetByteReader,
        count: Int,
        into values: inout ParquetValueBuilder
    ) throws(ParquetDecodingError) {
        switch values.type {
        case .int32, .int64, .float, .double, .fixedLenByteArray: try Self.decode(&reader, count: count, into: &values)
        default: throw ParquetDecodingError(.corruptPage, "\(values.type) values are not fixed-width")
        }
    }

    private static func fixed<T: FixedWidthInteger>(
        _ reader: inout ParquetByteReader,
        count: Int,
        what: String,
        into output: inout [T]
    ) throws(ParquetDecodingError) {
        guard count <= reader.remaining / MemoryLayout<T>.size else { throw ParquetByteReader.truncated(what) }
        let bytes = try reader.slice(count * MemoryLayout<T>.size, what: what)
        output.reserveCapacity(output.count + count)
        for index in 0..<count {
            output.append(
                T(littleEndian: bytes.loadUnaligned(fromByteOffset: index * MemoryLayout<T>.size, as: T.self))
            )
        }
    }
}
