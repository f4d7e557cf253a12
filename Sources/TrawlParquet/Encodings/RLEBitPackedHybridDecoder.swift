/// Decodes the RLE / bit-packed hybrid encoding: definition and repetition levels, dictionary indices and
/// RLE booleans. Runs alternate between a value repeated N times and groups of 8 bit-packed values.
struct RLEBitPackedHybridDecoder {
    private var reader: ParquetByteReader
    private let bitWidth: Int
    private let what: String

    init(_ bytes: UnsafeRawBufferPointer, bitWidth: Int, what: String) throws(ParquetDecodingError) {
        guard (0...32).contains(bitWidth) else {
            throw ParquetDecodingError(.corruptPage, "\(what) has a bit width of \(bitWidth)")
        }
        self.reader = ParquetByteReader(bytes)
        self.bitWidth = bitWidth
        self.what = what
    }

    /// Appends exactly `count` values to `output`, whose elements must be at least as wide as the bit width
    /// (levels, at most 8 bits wide, are decoded into bytes).
    mutating func decode<Output: FixedWidthInteger & UnsignedInteger>(
        _ count: Int,
        into output: inout [Output]
    ) throws(ParquetDecodingError) {
        guard count > 0 else { return }
        guard self.bitWidth <= Output.bitWidth else {
            throw ParquetDecodingError(
                .unsupported,
                "\(self.what) are \(self.bitWidth) bits wide, more than the \(Output.bitWidth) they are decoded into"
            )
        }
        if self.bitWidth == 0 {
            output.append(contentsOf: repeatElement(0, count: count))
            return
        }
        output.reserveCapacity(output.count + count)
        var left = count
        let mask: UInt64 = self.bitWidth == 32 ? 0xFFFF_FFFF : (1 << UInt64(self.bitWidth)) - 1
        while left > 0 {
            guard self.reader.remaining > 0 else {
                throw ParquetDecodingError(.corruptPage, "\(self.what) has \(count - left) of \(count) values")
            }
            let header = try self.reader.varint(what: self.what)
            if header & 1 == 0 {
                let run = header >> 1
                guard run > 0 else { throw ParquetDecodingError(.corruptPage, "\(self.what) has an empty run") }
                var value: UInt32 = 0
                for index in 0..<((self.bitWidth + 7) / 8) {
                    value |= UInt32(try self.reader.byte(what: self.what)) << UInt32(8 * index)
                }
                guard UInt64(value) <= mask else {
                    throw ParquetDecodingError(.corruptPage, "\(self.what) has a run value wider than its bit width")
                }
                let taken = Int(min(run, UInt64(left)))
                output.append(contentsOf: repeatElement(Output(truncatingIfNeeded: value), count: taken))
                left -= taken
            } else {
                let groups = header >> 1
                guard groups > 0, groups <= UInt64(self.reader.remaining) else {
                    throw ParquetDecodingError(.corruptPage, "\(self.what) has a bit-packed run past the page's end")
                }
                let values = Int(groups) * 8
                let packed = try self.reader.slice(Int(groups) * self.bitWidth, what: self.what)
                let taken = min(values, left)
                for index in 0..<taken {
                    output.append(Output(truncatingIfNeeded: unpackBits(packed, index: index, width: self.bitWidth)))
                }
                left -= taken
            }
        }
    }

    /// The bit width needed for values up to `maximum` (levels are encoded with this width).
    static func bitWidth(forMaximum maximum: Int) -> Int {
        maximum <= 0 ? 0 : Int.bitWidth - maximum.leadingZeroBitCount
    }
}
