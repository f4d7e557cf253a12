import CTrawlCompression

/// One step of a streaming decompressor: read what it can of `input`, write what it can to `output`.
///
/// Codecs keep their own state between calls, so an object flows through them chunk by chunk as it arrives
/// and is never held whole.
protocol DecompressionCodec: AnyObject {
    /// Decompresses from `input` into `output`; returns the bytes consumed and produced. Both zero means it
    /// needs more input (or, at the end of the input, that it is done).
    func process(
        _ input: UnsafeRawBufferPointer,
        _ output: UnsafeMutableRawBufferPointer
    ) throws(DecompressionFailure) -> (consumed: Int, produced: Int)

    /// Called at the end of the input: throws unless the last stream or member ended properly.
    func finish() throws(DecompressionFailure)

    /// Chunks the format says to skip (snappy's skippable types) and their bytes: skipped as it requires, but
    /// counted, since a damaged data chunk's type looks the same.
    var skipped: (chunks: Int, bytes: Int64) { get }
}

extension DecompressionCodec {
    var skipped: (chunks: Int, bytes: Int64) { (0, 0) }
}

/// Why decompression stopped, for the SourceError 301 message.
public struct DecompressionFailure: Error, Sendable, CustomStringConvertible {
    public var description: String
}

/// Copies bytes as they are.
final class IdentityCodec: DecompressionCodec {
    func process(
        _ input: UnsafeRawBufferPointer,
        _ output: UnsafeMutableRawBufferPointer
    ) throws(DecompressionFailure) -> (consumed: Int, produced: Int) {
        let count = min(input.count, output.count)
        if count > 0 { output.baseAddress!.copyMemory(from: input.baseAddress!, byteCount: count) }
        return (count, count)
    }

    func finish() throws(DecompressionFailure) {}
}

/// Gzip with ISA-L's igzip: member after member (concatenated gzip files are common in S3), checking each
/// member's CRC32 and length. Zero bytes after the last member (padding some writers add) are ignored.
final class GzipCodec: DecompressionCodec {
    private let state: UnsafeMutablePointer<inflate_state>
    /// True between the first byte of a member and its trailer.
    private var inMember = false
    /// True once a member ended and only padding has been seen since.
    private var afterMember = false
    /// Members that ended, so data after the last one that is no gzip is told from a damaged member.
    private var membersEnded = 0

    init() {
        self.state = .allocate(capacity: 1)
        isal_inflate_init(self.state)
        self.state.pointee.crc_flag = UInt32(IGZIP_GZIP)
    }

    deinit { self.state.deallocate() }

    func process(
        _ input: UnsafeRawBufferPointer,
        _ output: UnsafeMutableRawBufferPointer
    ) throws(DecompressionFailure) -> (consumed: Int, produced: Int) {
        var skipped = 0
        if !self.inMember {
            if self.afterMember {
                while skipped < input.count, input[skipped] == 0 { skipped += 1 }
                if skipped == input.count { return (skipped, 0) }
                guard input[skipped] == 0x1f, skipped + 1 == input.count || input[skipped + 1] == 0x8b else {
                    throw DecompressionFailure(
                        description:
                            "gzip member \(self.membersEnded) ended and the data that follows is not gzip (trailing garbage; gzip -dc would ignore it)"
                    )
                }
                isal_inflate_reset(self.state)
                self.state.pointee.crc_flag = UInt32(IGZIP_GZIP)
                self.afterMember = false
            }
            guard skipped < input.count else { return (skipped, 0) }
            self.inMember = true
        }
        let available = input.count - skipped
        self.state.pointee.next_in = UnsafeMutablePointer(
            mutating: input.baseAddress.map { $0.assumingMemoryBound(to: UInt8.self) + skipped }
        )
        self.state.pointee.avail_in = UInt32(clamping: available)
        self.state.pointee.next_out = output.baseAddress?.assumingMemoryBound(to: UInt8.self)
        self.state.pointee.avail_out = UInt32(clamping: output.count)
        let before = (self.state.pointee.avail_in, self.state.pointee.avail_out)
        let status = isal_inflate(self.state)
        // On an error igzip's counters mean nothing (an invalid distance can leave `avail_in` wrapped past
        // zero), so they are read only after a success.
        guard status >= 0 else { throw Self.failure(status) }
        let consumed = Int(before.0 - self.state.pointee.avail_in)
        let produced = Int(before.1 - self.state.pointee.avail_out)
        if self.state.pointee.block_state == ISAL_BLOCK_FINISH {
            self.inMember = false
            self.afterMember = true
            self.membersEnded += 1
        }
        return (skipped + consumed, produced)
    }

    func finish() throws(DecompressionFailure) {
        if self.inMember {
            throw DecompressionFailure(description: "the gzip data ends in the middle of a member (truncated object)")
        }
    }

    private static func failure(_ status: Int32) -> DecompressionFailure {
        let reason: String
        switch status {
        case ISAL_INVALID_BLOCK: reason = "invalid deflate block"
        case ISAL_INVALID_SYMBOL: reason = "invalid deflate symbol"
        case ISAL_INVALID_LOOKBACK: reason = "invalid deflate distance"
        case ISAL_INVALID_WRAPPER: reason = "invalid gzip header"
        case ISAL_INCORRECT_CHECKSUM: reason = "gzip checksum mismatch"
        default: reason = "igzip error \(status)"
        }
        return DecompressionFailure(description: "gzip: \(reason)")
    }
}

/// Zstandard frames, one after another, with zstd's streaming API.
final class ZstdCodec: DecompressionCodec {
    private let stream: OpaquePointer
    /// True while a frame is incomplete.
    private var inFrame = false
    /// Frames that ended, so data after the last one that is no zstd is told from a damaged frame.
    private var framesEnded = 0

    init() {
        self.stream = ZSTD_createDStream()
        ZSTD_initDStream(self.stream)
    }

    deinit { ZSTD_freeDStream(self.stream) }

    func process(
        _ input: UnsafeRawBufferPointer,
        _ output: UnsafeMutableRawBufferPointer
    ) throws(DecompressionFailure) -> (consumed: Int, produced: Int) {
        guard !input.isEmpty || self.inFrame else { return (0, 0) }
        var inBuffer = ZSTD_inBuffer(src: input.baseAddress, size: input.count, pos: 0)
        var outBuffer = ZSTD_outBuffer(dst: output.baseAddress, size: output.count, pos: 0)
        let hint = ZSTD_decompressStream(self.stream, &outBuffer, &inBuffer)
        if ZSTD_isError(hint) != 0 {
            let reason = String(cString: ZSTD_getErrorName(hint))
            if !self.inFrame, self.framesEnded > 0 {
                throw DecompressionFailure(
                    description:
                        "zstd frame \(self.framesEnded) ended and the data that follows is not zstd (trailing garbage: \(reason))"
                )
            }
            throw DecompressionFailure(description: "zstd: \(reason)")
        }
        if hint == 0, self.inFrame || inBuffer.pos > 0 { self.framesEnded += 1 }
        self.inFrame = hint != 0
        return (inBuffer.pos, outBuffer.pos)
    }

    func finish() throws(DecompressionFailure) {
        if self.inFrame {
            throw DecompressionFailure(description: "the zstd data ends in the middle of a frame (truncated object)")
        }
    }
}

/// bzip2, stream after stream (pbzip2 and concatenated files write several).
final class Bzip2Codec: DecompressionCodec {
    private let stream: UnsafeMutablePointer<bz_stream>
    private var inStream = false
    private var initialised = false
    /// Streams that ended, so data after the last one that is no bzip2 is told from a damaged stream.
    private var streamsEnded = 0

    init() {
        self.stream = .allocate(capacity: 1)
        self.stream.initialize(to: bz_stream())
    }

    deinit {
        if self.initialised { BZ2_bzDecompressEnd(self.stream) }
        self.stream.deallocate()
    }

    func process(
        _ input: UnsafeRawBufferPointer,
        _ output: UnsafeMutableRawBufferPointer
    ) throws(DecompressionFailure) -> (consumed: Int, produced: Int) {
        if !self.inStream {
            guard !input.isEmpty else { return (0, 0) }
            if self.initialised { BZ2_bzDecompressEnd(self.stream) }
            self.stream.pointee = bz_stream()
            guard BZ2_bzDecompressInit(self.stream, 0, 0) == BZ_OK else {
                throw DecompressionFailure(description: "bzip2: cannot initialise the decompressor")
            }
            self.initialised = true
            self.inStream = true
        }
        let inputBase = UnsafeMutableRawPointer(mutating: input.baseAddress)
        self.stream.pointee.next_in = inputBase?.assumingMemoryBound(to: CChar.self)
        self.stream.pointee.avail_in = UInt32(clamping: input.count)
        self.stream.pointee.next_out = output.baseAddress?.assumingMemoryBound(to: CChar.self)
        self.stream.pointee.avail_out = UInt32(clamping: output.count)
        let before = (self.stream.pointee.avail_in, self.stream.pointee.avail_out)
        let status = BZ2_bzDecompress(self.stream)
        switch status {
        case BZ_OK: break
        case BZ_STREAM_END:
            self.inStream = false
            self.streamsEnded += 1
        case BZ_DATA_ERROR_MAGIC where self.streamsEnded > 0:
            throw DecompressionFailure(
                description:
                    "bzip2 stream \(self.streamsEnded) ended and the data that follows is not bzip2 (trailing garbage; bzip2 -dc would ignore it)"
            )
        case BZ_DATA_ERROR, BZ_DATA_ERROR_MAGIC:
            throw DecompressionFailure(description: "bzip2: corrupt data")
        default:
            throw DecompressionFailure(description: "bzip2: error \(status)")
        }
        // Read only after a success, as igzip's (``GzipCodec``).
        let consumed = Int(before.0 - self.stream.pointee.avail_in)
        let produced = Int(before.1 - self.stream.pointee.avail_out)
        return (consumed, produced)
    }

    func finish() throws(DecompressionFailure) {
        if self.inStream {
            throw DecompressionFailure(description: "the bzip2 data ends in the middle of a stream (truncated object)")
        }
    }
}

/// The snappy framing format (https://github.com/google/snappy/blob/main/framing_format.txt): chunks of at
/// most 64 KiB, each checked against its masked CRC32C.
final class SnappyFramedCodec: DecompressionCodec {
    /// Bytes of the chunk being assembled (header included).
    private var chunk: [UInt8] = []
    /// Decompressed bytes not yet handed out, from `pendingStart`.
    private var pending: [UInt8] = []
    private var pendingStart = 0
    private var sawIdentifier = false
    /// Chunks decoded so far, to say where damage or trailing garbage starts.
    private var chunks = 0
    /// Skippable chunks (types 0x80-0xfe) passed over, and their bytes.
    private(set) var skipped: (chunks: Int, bytes: Int64) = (0, 0)

    /// Refuses a chunk by its header, before waiting for up to 16 MiB that the length claims: a reserved type
    /// or a data chunk longer than a 64 KiB block can be.
    private func checkHeader(length: Int) throws(DecompressionFailure) {
        let type = self.chunk[0]
        let position = self.chunks == 0 ? "at the start" : "after \(self.chunks) chunk(s)"
        if (0x02...0x7f).contains(type) {
            throw DecompressionFailure(
                description:
                    "snappy: the chunk \(position) has the reserved type 0x\(String(type, radix: 16)): not snappy framing (trailing garbage or damage)"
            )
        }
        let limit: Int
        switch type {
        case 0x00: limit = 4 + 32 + 65_536 + 65_536 / 6
        case 0x01: limit = 4 + 65_536
        case 0xff: limit = 6
        default: return
        }
        guard length <= limit else {
            throw DecompressionFailure(
                description:
                    "snappy: the chunk \(position) (type 0x\(String(type, radix: 16))) claims \(length) bytes, more than such a chunk holds (\(limit))"
            )
        }
    }

    func process(
        _ input: UnsafeRawBufferPointer,
        _ output: UnsafeMutableRawBufferPointer
    ) throws(DecompressionFailure) -> (consumed: Int, produced: Int) {
        if self.pendingStart < self.pending.count {
            let count = min(output.count, self.pending.count - self.pendingStart)
            self.pending.withUnsafeBytes { bytes in
                output.baseAddress!.copyMemory(from: bytes.baseAddress! + self.pendingStart, byteCount: count)
            }
            self.pendingStart += count
            return (0, count)
        }
        var consumed = 0
        while true {
            if self.chunk.count < 4 {
                guard consumed < input.count else { break }
                self.chunk.append(input[consumed])
                consumed += 1
                continue
            }
            let length = Int(self.chunk[1]) | Int(self.chunk[2]) << 8 | Int(self.chunk[3]) << 16
            if self.chunk.count == 4 { try self.checkHeader(length: length) }
            let take = min(length + 4 - self.chunk.count, input.count - consumed)
            self.chunk.append(contentsOf: input[consumed..<consumed + take])
            consumed += take
            guard self.chunk.count == length + 4 else { break }
            try self.decodeChunk()
            self.chunks += 1
            self.chunk.removeAll(keepingCapacity: true)
            if self.pendingStart < self.pending.count { break }
        }
        return (consumed, 0)
    }

    private func decodeChunk() throws(DecompressionFailure) {
        let type = self.chunk[0]
        let body = self.chunk[4...]
        switch type {
        case 0xff:
            guard Array(body) == Array("sNaPpY".utf8) else {
                throw DecompressionFailure(description: "snappy: bad stream identifier")
            }
            self.sawIdentifier = true
        case 0x00, 0x01:
            guard self.sawIdentifier else {
                throw DecompressionFailure(description: "snappy: data before the stream identifier")
            }
            guard body.count >= 4 else { throw DecompressionFailure(description: "snappy: chunk too short") }
            let expected =
                UInt32(body[body.startIndex]) | UInt32(body[body.startIndex + 1]) << 8
                | UInt32(body[body.startIndex + 2]) << 16 | UInt32(body[body.startIndex + 3]) << 24
            let payload = body.dropFirst(4)
            var decoded: [UInt8]
            if type == 0x01 {
                decoded = Array(payload)
            } else {
                decoded = try Array(payload).withUnsafeBytes { raw in
                    Result { () throws(DecompressionFailure) in
                        try Self.uncompress(raw)
                    }
                }.get()
            }
            guard decoded.count <= 65_536 else {
                throw DecompressionFailure(description: "snappy: chunk decompresses to more than 64 KiB")
            }
            let crc = decoded.withUnsafeBytes { bytes in
                ~crc32_iscsi(
                    UnsafeMutablePointer(mutating: bytes.baseAddress?.assumingMemoryBound(to: UInt8.self)),
                    Int32(bytes.count),
                    0xffff_ffff
                )
            }
            let masked = ((crc >> 15) | (crc << 17)) &+ 0xa282_ead8
            guard masked == expected else { throw DecompressionFailure(description: "snappy: checksum mismatch") }
            self.pending = decoded
            self.pendingStart = 0
        case 0x02...0x7f:
            throw DecompressionFailure(description: "snappy: unskippable chunk type \(type)")
        default:
            self.skipped.chunks += 1
            self.skipped.bytes += Int64(body.count)
        }
    }

    private static func uncompress(_ raw: UnsafeRawBufferPointer) throws(DecompressionFailure) -> [UInt8] {
        let input = raw.baseAddress?.assumingMemoryBound(to: CChar.self)
        var length = 0
        guard snappy_uncompressed_length(input, raw.count, &length) == SNAPPY_OK, length <= 65_536 else {
            throw DecompressionFailure(description: "snappy: corrupt chunk")
        }
        var out = [UInt8](repeating: 0, count: length)
        var outLength = length
        let status = out.withUnsafeMutableBytes { bytes in
            snappy_uncompress(input, raw.count, bytes.baseAddress?.assumingMemoryBound(to: CChar.self), &outLength)
        }
        guard status == SNAPPY_OK else { throw DecompressionFailure(description: "snappy: corrupt chunk") }
        return Array(out[0..<outLength])
    }

    func finish() throws(DecompressionFailure) {
        if !self.chunk.isEmpty {
            throw DecompressionFailure(description: "the snappy data ends in the middle of a chunk (truncated object)")
        }
    }
}
