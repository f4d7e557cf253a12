import CTrawlCompression
import NIOCore

/// Decompresses one page. Parquet records each page's uncompressed size, so every codec decompresses in
/// one call into a buffer of exactly that size; a page that inflates to any other size is corrupt.
enum ParquetPageCodec {
    static func decompress(
        _ input: ByteBuffer,
        codec: Int32,
        uncompressedSize: Int
    ) throws(ParquetDecodingError) -> ByteBuffer {
        guard let known = ParquetCompressionCodec(rawValue: codec) else {
            throw ParquetDecodingError(.unsupported, "compression codec \(codec) is unknown")
        }
        if known == .uncompressed {
            guard input.readableBytes == uncompressedSize else {
                throw Self.sizeMismatch(
                    produced: input.readableBytes,
                    expected: uncompressedSize,
                    codec: "UNCOMPRESSED"
                )
            }
            return input
        }
        var output = ByteBuffer()
        output.reserveCapacity(uncompressedSize)
        var failure: ParquetDecodingError?
        _ = input.withUnsafeReadableBytes { source in
            output.writeWithUnsafeMutableBytes(minimumWritableBytes: uncompressedSize) { target in
                let target = UnsafeMutableRawBufferPointer(rebasing: target[0..<uncompressedSize])
                do throws(ParquetDecodingError) {
                    let produced: Int
                    switch known {
                    case .snappy: produced = try Self.snappy(source, into: target)
                    case .gzip: produced = try Self.gzip(source, into: target)
                    case .zstd: produced = try Self.zstd(source, into: target)
                    case .lz4Raw: produced = try Self.lz4Block(source, into: target)
                    case .lz4: produced = try Self.hadoopLZ4(source, into: target)
                    case .brotli: produced = try Self.brotli(source, into: target)
                    case .lzo: throw ParquetDecodingError(.unsupported, "the LZO codec is not supported")
                    case .uncompressed: produced = 0
                    }
                    guard produced == uncompressedSize else {
                        throw Self.sizeMismatch(produced: produced, expected: uncompressedSize, codec: "\(known)")
                    }
                    return produced
                } catch {
                    failure = error
                    return 0
                }
            }
        }
        if let failure { throw failure }
        return output
    }

    private static func sizeMismatch(produced: Int, expected: Int, codec: String) -> ParquetDecodingError {
        ParquetDecodingError(
            .corruptPage,
            "\(codec) page decompressed to \(produced) bytes, its header says \(expected)"
        )
    }

    private static func snappy(
        _ source: UnsafeRawBufferPointer,
        into target: UnsafeMutableRawBufferPointer
    ) throws(ParquetDecodingError) -> Int {
        guard let input = source.baseAddress?.assumingMemoryBound(to: CChar.self) else { return 0 }
        var length = 0
        guard snappy_uncompressed_length(input, source.count, &length) == SNAPPY_OK, length <= target.count else {
            throw ParquetDecodingError(.corruptPage, "SNAPPY page is not valid snappy data or too large")
        }
        guard
            snappy_uncompress(input, source.count, target.baseAddress?.assumingMemoryBound(to: CChar.self), &length)
                == SNAPPY_OK
        else {
            throw ParquetDecodingError(.corruptPage, "SNAPPY page is not valid snappy data")
        }
        return length
    }

    /// gzip members one after another (some writers concatenate them), each checked against its CRC.
    private static func gzip(
        _ source: UnsafeRawBufferPointer,
        into target: UnsafeMutableRawBufferPointer
    ) throws(ParquetDecodingError) -> Int {
        let state = UnsafeMutablePointer<inflate_state>.allocate(capacity: 1)
        defer { state.deallocate() }
        var consumed = 0
        var produced = 0
        while consumed < source.count {
            isal_inflate_init(state)
            state.pointee.crc_flag = UInt32(IGZIP_GZIP)
            state.pointee.next_in = UnsafeMutablePointer(
                mutating: source.baseAddress!.assumingMemoryBound(to: UInt8.self) + consumed
            )
            state.pointee.avail_in = UInt32(clamping: source.count - consumed)
            state.pointee.next_out = target.baseAddress?.assumingMemoryBound(to: UInt8.self).advanced(by: produced)
            state.pointee.avail_out = UInt32(clamping: target.count - produced)
            let before = (state.pointee.avail_in, state.pointee.avail_out)
            let status = isal_inflate(state)
            guard status >= 0 else { throw ParquetDecodingError(.corruptPage, "GZIP page: igzip error \(status)") }
            consumed += Int(before.0 - state.pointee.avail_in)
            produced += Int(before.1 - state.pointee.avail_out)
            guard state.pointee.block_state == ISAL_BLOCK_FINISH else {
                throw ParquetDecodingError(
                    .corruptPage,
                    produced == target.count
                        ? "GZIP page inflates to more than its header's size"
                        : "GZIP page ends in the middle of a member"
                )
            }
        }
        return produced
    }

    private static func zstd(
        _ source: UnsafeRawBufferPointer,
        into target: UnsafeMutableRawBufferPointer
    ) throws(ParquetDecodingError) -> Int {
        let result = ZSTD_decompress(target.baseAddress, target.count, source.baseAddress, source.count)
        guard ZSTD_isError(result) == 0 else {
            throw ParquetDecodingError(.corruptPage, "ZSTD page: \(String(cString: ZSTD_getErrorName(result)))")
        }
        return result
    }

    private static func lz4Block(
        _ source: UnsafeRawBufferPointer,
        into target: UnsafeMutableRawBufferPointer
    ) throws(ParquetDecodingError) -> Int {
        guard source.count <= Int(Int32.max), target.count <= Int(Int32.max) else {
            throw ParquetDecodingError(.corruptPage, "LZ4 page larger than 2 GiB")
        }
        let result = LZ4_decompress_safe(
            source.baseAddress?.assumingMemoryBound(to: CChar.self),
            target.baseAddress?.assumingMemoryBound(to: CChar.self),
            Int32(source.count),
            Int32(target.count)
        )
        guard result >= 0 else { throw ParquetDecodingError(.corruptPage, "LZ4 page is not a valid LZ4 block") }
        return Int(result)
    }

    /// The deprecated `LZ4` codec: Hadoop's framing (big-endian uncompressed and compressed lengths before
    /// each LZ4 block) as parquet-mr wrote it, or a bare LZ4 block as some other writers did.
    private static func hadoopLZ4(
        _ source: UnsafeRawBufferPointer,
        into target: UnsafeMutableRawBufferPointer
    ) throws(ParquetDecodingError) -> Int {
        var consumed = 0
        var produced = 0
        var framed = true
        while consumed < source.count {
            guard source.count - consumed >= 8 else {
                framed = false
                break
            }
            let expected = Int(UInt32(bigEndian: source.loadUnaligned(fromByteOffset: consumed, as: UInt32.self)))
            let length = Int(UInt32(bigEndian: source.loadUnaligned(fromByteOffset: consumed + 4, as: UInt32.self)))
            guard length <= source.count - consumed - 8, expected <= target.count - produced,
                let block = try? Self.lz4Block(
                    UnsafeRawBufferPointer(rebasing: source[(consumed + 8)..<(consumed + 8 + length)]),
                    into: UnsafeMutableRawBufferPointer(rebasing: target[produced..<(produced + expected)])
                ), block == expected
            else {
                framed = false
                break
            }
            consumed += 8 + length
            produced += expected
        }
        return framed ? produced : try Self.lz4Block(source, into: target)
    }

    private static func brotli(
        _ source: UnsafeRawBufferPointer,
        into target: UnsafeMutableRawBufferPointer
    ) throws(ParquetDecodingError) -> Int {
        var length = target.count
        let result = BrotliDecoderDecompress(
            source.count,
            source.baseAddress?.assumingMemoryBound(to: UInt8.self),
            &length,
            target.baseAddress?.assumingMemoryBound(to: UInt8.self)
        )
        guard result == BROTLI_DECODER_RESULT_SUCCESS else {
            throw ParquetDecodingError(.corruptPage, "BROTLI page is not valid brotli data or too large")
        }
        return length
    }
}
