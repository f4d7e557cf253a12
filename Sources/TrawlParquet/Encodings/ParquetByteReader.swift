/// A bounds-checked cursor over a page's bytes, for the value and level decoders.
struct ParquetByteReader {
    let bytes: UnsafeRawBufferPointer
    private(set) var position: Int

    init(_ bytes: UnsafeRawBufferPointer, position: Int = 0) {
        self.bytes = bytes
        self.position = position
    }

    var remaining: Int { self.bytes.count - self.position }

    static func truncated(_ what: String) -> ParquetDecodingError {
        ParquetDecodingError(.corruptPage, "the page ends inside \(what)")
    }

    mutating func skip(_ count: Int, what: String) throws(ParquetDecodingError) {
        guard count >= 0, count <= self.remaining else { throw Self.truncated(what) }
        self.position += count
    }

    mutating func byte(what: String) throws(ParquetDecodingError) -> UInt8 {
        guard self.remaining >= 1 else { throw Self.truncated(what) }
        defer { self.position += 1 }
        return self.bytes[self.position]
    }

    mutating func littleEndian<T: FixedWidthInteger>(_: T.Type, what: String) throws(ParquetDecodingError) -> T {
        guard self.remaining >= MemoryLayout<T>.size else { throw Self.truncated(what) }
        defer { self.position += MemoryLayout<T>.size }
        return T(littleEndian: self.bytes.loadUnaligned(fromByteOffset: self.position, as: T.self))
    }

    mutating func varint(what: String) throws(ParquetDecodingError) -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            let byte = try self.byte(what: what)
            result |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 { return result }
            shift += 7
            guard shift < 64 else { throw ParquetDecodingError(.corruptPage, "a varint in \(what) is too long") }
        }
    }

    mutating func zigzag(what: String) throws(ParquetDecodingError) -> Int64 {
        let raw = try self.varint(what: what)
        return Int64(bitPattern: (raw >> 1) ^ (0 &- (raw & 1)))
    }

    /// The next `count` bytes as a sub-buffer, advancing past them.
    mutating func slice(_ count: Int, what: String) throws(ParquetDecodingError) -> UnsafeRawBufferPointer {
        guard count >= 0, count <= self.remaining else { throw Self.truncated(what) }
        defer { self.position += count }
        return UnsafeRawBufferPointer(rebasing: self.bytes[self.position..<(self.position + count)])
    }
}

/// Value `index` of LSB-first bit-packed `bytes` of `width` (0 to 64) bits each: the packing of the
/// RLE/bit-packed hybrid and of DELTA_BINARY_PACKED's miniblocks. Bytes past the end read as zero.
func unpackBits(_ bytes: UnsafeRawBufferPointer, index: Int, width: Int) -> UInt64 {
    guard width > 0 else { return 0 }
    let bit = index * width
    let start = bit >> 3
    let shift = bit & 7
    var window: UInt64 = 0
    if start + 8 <= bytes.count {
        // Away from the end, the eight bytes holding the value are one little-endian load.
        window = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: start, as: UInt64.self))
    } else {
        for offset in 0..<min(8, bytes.count - start) { window |= UInt64(bytes[start + offset]) << UInt64(8 * offset) }
    }
    var result = window >> UInt64(shift)
    if shift + width > 64, start + 8 < bytes.count {
        result |= UInt64(bytes[start + 8]) << UInt64(64 - shift)
    }
    return width == 64 ? result : result & ((1 << UInt64(width)) - 1)
}
