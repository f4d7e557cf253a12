/// DELTA_BINARY_PACKED: a first value, then blocks of bit-packed deltas above each block's minimum.
/// Arithmetic wraps, as the encoding defines; INT32 columns keep the low 32 bits.
enum DeltaBinaryPackedDecoder {
    /// Decodes up to `count` values (the encoding's own total must not be smaller) and leaves `reader`
    /// just past the encoded data, where DELTA_LENGTH_BYTE_ARRAY's bytes begin.
    static func decode(
        _ reader: inout ParquetByteReader,
        count: Int,
        what: String
    ) throws(ParquetDecodingError) -> [Int64] {
        let blockSize = try reader.varint(what: what)
        let miniblocks = try reader.varint(what: what)
        let total = try reader.varint(what: what)
        var value = try reader.zigzag(what: what)
        guard blockSize > 0, blockSize % 128 == 0, blockSize <= 1 << 20, miniblocks > 0, blockSize % miniblocks == 0,
            (blockSize / miniblocks) % 32 == 0
        else {
            throw ParquetDecodingError(
                .corruptPage,
                "\(what) has a block of \(blockSize) values in \(miniblocks) miniblocks"
            )
        }
        guard total >= UInt64(count) else {
            throw ParquetDecodingError(.corruptPage, "\(what) hold \(total) values where \(count) are needed")
        }
        let perMiniblock = Int(blockSize / miniblocks)
        var values: [Int64] = []
        values.reserveCapacity(count)
        guard total > 0 else { return values }
        if count > 0 { values.append(value) }
        var left = Int(clamping: total) - 1
        while left > 0 {
            let minimum = try reader.zigzag(what: what)
            let widths = try reader.slice(Int(miniblocks), what: what)
            for width in widths {
                guard left > 0 else { break }
                guard width <= 64 else {
                    throw ParquetDecodingError(.corruptPage, "\(what) has a miniblock bit width of \(width)")
                }
                let packed = try reader.slice(perMiniblock * Int(width) / 8, what: what)
                let taken = min(perMiniblock, left)
                for index in 0..<taken {
                    value = value &+ minimum &+ Int64(bitPattern: unpackBits(packed, index: index, width: Int(width)))
                    if values.count < count { values.append(value) }
                }
                left -= taken
            }
        }
        return values
    }
}

/// DELTA_LENGTH_BYTE_ARRAY (delta-packed lengths, then the bytes one after another) and DELTA_BYTE_ARRAY
/// (each value shares a prefix with the one before; prefix lengths delta-packed, then the suffixes as
/// DELTA_LENGTH_BYTE_ARRAY).
enum DeltaByteArrayDecoder {
    static func decodeLengths(
        _ reader: inout ParquetByteReader,
        count: Int,
        into arrays: inout ParquetByteArrays
    ) throws(ParquetDecodingError) {
        for suffix in try Self.suffixes(&reader, count: count, what: "DELTA_LENGTH_BYTE_ARRAY values") {
            arrays.append(suffix)
        }
    }

    static func decodeShared(
        _ reader: inout ParquetByteReader,
        count: Int,
        into arrays: inout ParquetByteArrays
    ) throws(ParquetDecodingError) {
        let what = "DELTA_BYTE_ARRAY values"
        let prefixes = try DeltaBinaryPackedDecoder.decode(&reader, count: count, what: what)
        let suffixes = try Self.suffixes(&reader, count: count, what: what)
        var previous: [UInt8] = []
        for (prefix, suffix) in zip(prefixes, suffixes) {
            guard prefix >= 0, prefix <= Int64(previous.count) else {
                throw ParquetDecodingError(
                    .corruptPage,
                    "\(what): a prefix of \(prefix) bytes after a value of \(previous.count)"
                )
            }
            previous.removeSubrange(Int(prefix)...)
            previous.append(contentsOf: suffix)
            previous.withUnsafeBytes { arrays.append($0) }
        }
    }

    private static func suffixes(
        _ reader: inout ParquetByteReader,
        count: Int,
        what: String
    ) throws(ParquetDecodingError) -> [UnsafeRawBufferPointer] {
        let lengths = try DeltaBinaryPackedDecoder.decode(&reader, count: count, what: what)
        var slices: [UnsafeRawBufferPointer] = []
        slices.reserveCapacity(count)
        for length in lengths {
            guard length >= 0, length <= Int64(reader.remaining) else {
                throw ParquetDecodingError(.corruptPage, "\(what): a length of \(length) past the page's end")
            }
            slices.append(try reader.slice(Int(length), what: what))
        }
        return slices
    }
}

/// BYTE_STREAM_SPLIT: the k-th bytes of all values stored together, stream after stream.
enum ByteStreamSplitDecoder {
    static func decode(
        _ reader: inout ParquetByteReader,
        count: Int,
        into values: inout ParquetValueBuilder
    ) throws(ParquetDecodingError) {
        let width: Int
        switch values.type {
        case .int32, .float: width = 4
        case .int64, .double: width = 8
        case .fixedLenByteArray: width = values.typeLength
        default:
            throw ParquetDecodingError(.corruptPage, "BYTE_STREAM_SPLIT is not defined for \(values.type)")
        }
        guard width > 0, count <= reader.remaining / width else {
            throw ParquetByteReader.truncated("BYTE_STREAM_SPLIT values")
        }
        let streams = try reader.slice(reader.remaining - reader.remaining % width, what: "BYTE_STREAM_SPLIT values")
        let stride = streams.count / width
        var joined = [UInt8](repeating: 0, count: count * width)
        for index in 0..<count {
            for byte in 0..<width { joined[index * width + byte] = streams[byte * stride + index] }
        }
        var failure: ParquetDecodingError?
        joined.withUnsafeBytes { bytes in
            var plain = ParquetByteReader(bytes)
            do throws(ParquetDecodingError) {
                try PlainDecoder.decodeFixedWidth(&plain, count: count, into: &values)
            } catch {
                failure = error
            }
        }
        if let failure { throw failure }
    }
}
