import NIOCore

/// Decodes the Thrift compact protocol, which Parquet uses for its footer and page headers.
///
/// Only what Parquet needs: structs read field by field (unknown fields skipped, so files from newer
/// writers still read), lists, binary and integers. Every read is bounds-checked and nesting is limited, so
/// hostile bytes end in a ``ParquetDecodingError`` rather than a crash or unbounded recursion.
struct ThriftCompactReader {
    /// The compact protocol's type ids.
    enum FieldType: UInt8 {
        case stop = 0
        case boolTrue = 1
        case boolFalse = 2
        case byte = 3
        case i16 = 4
        case i32 = 5
        case i64 = 6
        case double = 7
        case binary = 8
        case list = 9
        case set = 10
        case map = 11
        case structure = 12
    }

    struct FieldHeader {
        var id: Int16
        var type: FieldType
    }

    private(set) var buffer: ByteBuffer
    private var lastFieldIDs: [Int16] = []
    private let maximumDepth = 64

    private let start: Int

    init(_ buffer: ByteBuffer) {
        self.buffer = buffer
        self.start = buffer.readerIndex
    }

    /// Bytes read so far from the start of the buffer given.
    var consumed: Int { self.buffer.readerIndex - self.start }

    private func failure(_ message: String) -> ParquetDecodingError {
        ParquetDecodingError(.corruptMetadata, "Thrift: \(message) at byte \(self.buffer.readerIndex)")
    }

    mutating func readByte() throws(ParquetDecodingError) -> UInt8 {
        guard let byte = self.buffer.readInteger(as: UInt8.self) else {
            throw ParquetDecodingError(.truncated, "Thrift: the metadata ends early at byte \(self.buffer.readerIndex)")
        }
        return byte
    }

    mutating func readVarint() throws(ParquetDecodingError) -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            let byte = try self.readByte()
            result |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 { return result }
            shift += 7
            guard shift < 64 else { throw self.failure("a varint longer than 10 bytes") }
        }
    }

    mutating func readZigzag() throws(ParquetDecodingError) -> Int64 {
        let raw = try self.readVarint()
        return Int64(bitPattern: (raw >> 1) ^ (0 &- (raw & 1)))
    }

    mutating func readI32() throws(ParquetDecodingError) -> Int32 {
        let value = try self.readZigzag()
        guard let narrowed = Int32(exactly: value) else { throw self.failure("an i32 out of range (\(value))") }
        return narrowed
    }

    mutating func readI64() throws(ParquetDecodingError) -> Int64 { try self.readZigzag() }

    mutating func readI8() throws(ParquetDecodingError) -> Int8 { Int8(bitPattern: try self.readByte()) }

    mutating func readDouble() throws(ParquetDecodingError) -> Double {
        guard let bits = self.buffer.readInteger(endianness: .little, as: UInt64.self) else {
            throw ParquetDecodingError(.truncated, "Thrift: the metadata ends inside a double")
        }
        return Double(bitPattern: bits)
    }

    mutating func readBinary() throws(ParquetDecodingError) -> ByteBuffer {
        let length = try self.readVarint()
        guard length <= UInt64(self.buffer.readableBytes), let slice = self.buffer.readSlice(length: Int(length))
        else {
            throw ParquetDecodingError(
                .truncated,
                "Thrift: a binary of \(length) bytes runs past the end of the metadata (\(self.buffer.readableBytes) left)"
            )
        }
        return slice
    }

    mutating func readString() throws(ParquetDecodingError) -> String {
        let bytes = try self.readBinary()
        return String(decoding: bytes.readableBytesView, as: UTF8.self)
    }

    /// A list or set header: the element type and count (bounded by the bytes left, one byte per element
    /// at least, so a hostile count cannot make a caller reserve unbounded memory).
    mutating func readListHeader() throws(ParquetDecodingError) -> (type: FieldType, count: Int) {
        let header = try self.readByte()
        guard let type = FieldType(rawValue: header & 0x0F) else {
            throw self.failure("a list of unknown element type \(header & 0x0F)")
        }
        var count = UInt64(header >> 4)
        if count == 15 { count = try self.readVarint() }
        guard count <= UInt64(self.buffer.readableBytes) else {
            throw ParquetDecodingError(.truncated, "Thrift: a list of \(count) elements cannot fit in the bytes left")
        }
        return (type, Int(count))
    }

    /// Reads a struct: calls `field` for each field header; it reads the fields it knows and returns false
    /// for the others, which are skipped.
    mutating func readStruct(
        _ field: (inout ThriftCompactReader, FieldHeader) throws(ParquetDecodingError) -> Bool
    ) throws(ParquetDecodingError) {
        guard self.lastFieldIDs.count < self.maximumDepth else { throw self.failure("structs nested too deeply") }
        self.lastFieldIDs.append(0)
        defer { self.lastFieldIDs.removeLast() }
        while true {
            let header = try self.readByte()
            guard let type = FieldType(rawValue: header & 0x0F) else {
                throw self.failure("a field of unknown type \(header & 0x0F)")
            }
            if type == .stop { return }
            let delta = Int16(header >> 4)
            let id: Int16
            if delta == 0 {
                let value = try self.readZigzag()
                guard let narrowed = Int16(exactly: value) else { throw self.failure("a field id out of range") }
                id = narrowed
            } else {
                id = self.lastFieldIDs[self.lastFieldIDs.count - 1] &+ delta
            }
            self.lastFieldIDs[self.lastFieldIDs.count - 1] = id
            if try !field(&self, FieldHeader(id: id, type: type)) {
                try self.skip(type)
            }
        }
    }

    /// The value of a boolean field: in the compact protocol it is the field header's type.
    static func bool(_ header: FieldHeader) -> Bool { header.type == .boolTrue }

    /// Skips a value of `type`.
    mutating func skip(_ type: FieldType, depth: Int = 0) throws(ParquetDecodingError) {
        guard depth < self.maximumDepth else { throw self.failure("values nested too deeply") }
        switch type {
        case .stop: throw self.failure("a stop where a value was expected")
        case .boolTrue, .boolFalse: return
        case .byte: _ = try self.readByte()
        case .i16, .i32, .i64: _ = try self.readVarint()
        case .double: _ = try self.readDouble()
        case .binary: _ = try self.readBinary()
        case .list, .set:
            let (element, count) = try self.readListHeader()
            for _ in 0..<count {
                if element == .boolTrue || element == .boolFalse {
                    _ = try self.readByte()
                } else {
                    try self.skip(element, depth: depth + 1)
                }
            }
        case .map:
            let count = try self.readVarint()
            guard count > 0 else { return }
            guard count <= UInt64(self.buffer.readableBytes) else {
                throw ParquetDecodingError(.truncated, "Thrift: a map of \(count) entries cannot fit in the bytes left")
            }
            let types = try self.readByte()
            guard let key = FieldType(rawValue: types >> 4), let value = FieldType(rawValue: types & 0x0F) else {
                throw self.failure("a map of unknown key or value type")
            }
            for _ in 0..<count {
                for part in [key, value] {
                    if part == .boolTrue || part == .boolFalse {
                        _ = try self.readByte()
                    } else {
                        try self.skip(part, depth: depth + 1)
                    }
                }
            }
        case .structure:
            try self.readStruct { (reader, header) throws(ParquetDecodingError) in
                try reader.skip(header.type, depth: depth + 1)
                return true
            }
        }
    }

    /// Reads a list whose elements `element` decodes.
    mutating func readList<T>(
        _ element: (inout ThriftCompactReader) throws(ParquetDecodingError) -> T
    ) throws(ParquetDecodingError) -> [T] {
        let (_, count) = try self.readListHeader()
        var values: [T] = []
        values.reserveCapacity(count)
        for _ in 0..<count { values.append(try element(&self)) }
        return values
    }
}
