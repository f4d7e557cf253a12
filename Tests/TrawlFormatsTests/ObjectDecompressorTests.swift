import NIOCore
import Testing
import TrawlFormats
import TrawlTesting

/// Decompresses everything `data` compresses to, feeding `pieceSize` bytes at a time and pulling at most
/// `maxBytes` at once; also returns the largest piece handed out and the chunks skipped.
func decompress(
    _ data: [UInt8],
    pieceSize: Int,
    maxBytes: Int
) throws -> (
    bytes: [UInt8], largest: Int, format: CompressionFormat?, formats: [CompressionFormat],
    skipped: (chunks: Int, bytes: Int64)
) {
    var decompressor = ObjectDecompressor()
    var out: [UInt8] = []
    var largest = 0
    var start = 0
    while start < data.count {
        let end = min(start + pieceSize, data.count)
        decompressor.feed(ByteBuffer(bytes: data[start..<end]))
        while let piece = try decompressor.next(maxBytes: maxBytes) {
            largest = max(largest, piece.readableBytes)
            out += piece.readableBytesView
        }
        start = end
    }
    decompressor.endInput()
    while let piece = try decompressor.next(maxBytes: maxBytes) {
        largest = max(largest, piece.readableBytes)
        out += piece.readableBytesView
    }
    #expect(decompressor.producedBytes == Int64(out.count))
    return (out, largest, decompressor.format, decompressor.formats, decompressor.skipped)
}

/// Text that compresses like logs do (repetitive, not trivially).
func sampleLogText(lines: Int) -> [UInt8] {
    var text = ""
    for index in 0..<lines {
        text +=
            "{\"event.category\":\"file\",\"seq\":\(index),\"path\":\"C:\\\\Users\\\\u\(index % 97)\\\\f\(index * 7919 % 10007).txt\"}\n"
    }
    return Array(text.utf8)
}

@Suite(.onComputeThreads) struct ObjectDecompressorTests {
    static let formats: [(String, CompressionFormat)] = [
        ("gzip", .gzip), ("gzip-multi", .gzip), ("zstd", .zstd), ("zstd-multi", .zstd), ("snappy", .snappyFramed),
        ("bzip2", .bzip2), ("bzip2-multi", .bzip2), ("none", .none),
    ]

    @Test(arguments: formats.map(\.0))
    func decompressesWhatARealCompressorWroteWhateverThePieceSizes(format: String) async throws {
        let original = sampleLogText(lines: 5_000)
        let compressed = try await PeerCompressor.compress(original, format: format)
        for pieceSize in [1, 7, 1_000, 65_536] where pieceSize > 1 || compressed.count < 200_000 {
            let result = try decompress(compressed, pieceSize: pieceSize, maxBytes: 4_096)
            #expect(result.bytes == original, "\(format) in pieces of \(pieceSize)")
            #expect(result.largest <= 4_096)
            #expect(result.format == Self.formats.first { $0.0 == format }!.1)
        }
    }

    /// A Firehose stream set to GZIP over CloudWatch Logs subscription data (gzip members already) writes gzip
    /// inside gzip; pipelines nest other pairs too. Each layer is read, to ``ObjectDecompressor/maxLayers``.
    @Test(arguments: [
        ["gzip-multi", "gzip"], ["zstd", "gzip"], ["gzip", "bzip2"], ["snappy", "zstd-multi"],
        ["gzip", "zstd", "gzip"],
    ])
    func dataCompressedTwiceOrThriceIsReadThroughEveryLayer(layers: [String]) async throws {
        let original = sampleLogText(lines: 3_000)
        var compressed = original
        for layer in layers { compressed = try await PeerCompressor.compress(compressed, format: layer) }
        let expected = layers.reversed().map { layer in Self.formats.first { $0.0 == layer }!.1 }
        for pieceSize in [1, 7, 1_000, 65_536] where pieceSize > 1 || compressed.count < 200_000 {
            let result = try decompress(compressed, pieceSize: pieceSize, maxBytes: 4_096)
            #expect(result.bytes == original, "\(layers) in pieces of \(pieceSize)")
            #expect(result.largest <= 4_096)
            #expect(result.formats == expected)
        }
    }

    /// Past ``ObjectDecompressor/maxLayers`` the innermost compression is handed out as it is; a damaged
    /// inner layer fails as a damaged outer one does; text that starts like a bzip2 header stays text.
    @Test func layersStopAtTheLimitAndAnInnerLayerIsCheckedAsAnOuterOne() async throws {
        let original = sampleLogText(lines: 200)
        var fourTimes = original
        for _ in 0..<4 { fourTimes = try await PeerCompressor.compress(fourTimes, format: "gzip") }
        let limited = try decompress(fourTimes, pieceSize: 100, maxBytes: 4_096)
        #expect(limited.formats == [.gzip, .gzip, .gzip])
        #expect(limited.bytes.starts(with: [0x1f, 0x8b]))
        #expect(try decompress(limited.bytes, pieceSize: 100, maxBytes: 4_096).bytes == original)

        var inner = try await PeerCompressor.compress(original, format: "gzip")
        inner[inner.count / 2] ^= 0x40
        let damaged = try await PeerCompressor.compress(inner, format: "gzip")
        #expect(throws: DecompressionFailure.self) { _ = try decompress(damaged, pieceSize: 100, maxBytes: 4_096) }

        let text = Array("BZh9 starts this line\n".utf8) + original
        let gzipped = try await PeerCompressor.compress(text, format: "gzip")
        #expect(try decompress(gzipped, pieceSize: 3, maxBytes: 4_096).bytes == text)
    }

    @Test func aGzipBombIsHandedOutInBoundedPieces() async throws {
        let zeros = [UInt8](repeating: 0x41, count: 20 << 20)
        let compressed = try await PeerCompressor.compress(zeros, format: "gzip")
        #expect(compressed.count < 100_000)
        var decompressor = ObjectDecompressor()
        decompressor.feed(ByteBuffer(bytes: compressed))
        decompressor.endInput()
        var total = 0
        while let piece = try decompressor.next(maxBytes: 65_536) {
            #expect(piece.readableBytes <= 65_536)
            total += piece.readableBytes
        }
        #expect(total == zeros.count)
    }

    @Test(arguments: ["gzip", "zstd", "snappy", "bzip2"])
    func aTruncatedObjectIsAnErrorNotAShortRead(format: String) async throws {
        let compressed = try await PeerCompressor.compress(sampleLogText(lines: 2_000), format: format)
        let truncated = Array(compressed[0..<(compressed.count * 2 / 3)])
        #expect(throws: DecompressionFailure.self) {
            _ = try decompress(truncated, pieceSize: 4_096, maxBytes: 65_536)
        }
    }

    @Test(arguments: ["gzip", "zstd", "snappy", "bzip2"])
    func corruptDataIsAnError(format: String) async throws {
        var compressed = try await PeerCompressor.compress(sampleLogText(lines: 2_000), format: format)
        for offset in stride(from: compressed.count / 2, to: compressed.count / 2 + 64, by: 4) {
            compressed[offset] ^= 0x5a
        }
        #expect(throws: DecompressionFailure.self) {
            _ = try decompress(compressed, pieceSize: 4_096, maxBytes: 65_536)
        }
    }

    @Test func garbageAfterTheLastGzipMemberIsAnErrorButZeroPaddingIsNot() async throws {
        let original = sampleLogText(lines: 100)
        let compressed = try await PeerCompressor.compress(original, format: "gzip")
        #expect(try decompress(compressed + [0, 0, 0, 0], pieceSize: 100, maxBytes: 65_536).bytes == original)
        for pieceSize in [1, 100] {
            let failure = #expect(throws: DecompressionFailure.self) {
                _ = try decompress(
                    compressed + compressed + Array("trailing".utf8),
                    pieceSize: pieceSize,
                    maxBytes: 65_536
                )
            }
            #expect(
                failure?.description
                    == "gzip member 2 ended and the data that follows is not gzip (trailing garbage; gzip -dc would ignore it)"
            )
        }
    }

    @Test(arguments: [
        ("zstd-multi", "zstd frame 3 ended"), ("bzip2-multi", "bzip2 stream 3 ended"),
        ("snappy", "snappy: the chunk after 2 chunk(s)"),
    ])
    func dataAfterTheLastFrameStreamOrChunkIsReportedAsTrailingGarbage(format: String, ended: String) async throws {
        let original = sampleLogText(lines: 100)
        let compressed = try await PeerCompressor.compress(original, format: format)
        #expect(try decompress(compressed, pieceSize: 100, maxBytes: 65_536).bytes == original)
        for pieceSize in [1, 100] {
            let failure = #expect(throws: DecompressionFailure.self) {
                _ = try decompress(compressed + Array("trailing".utf8), pieceSize: pieceSize, maxBytes: 65_536)
            }
            #expect(failure?.description.hasPrefix(ended) == true, "\(failure?.description ?? "no failure")")
            #expect(failure?.description.contains("trailing garbage") == true)
        }
    }

    /// Snappy framing says to skip chunks of types 0x80-0xfe, and a data chunk whose type byte was damaged
    /// becomes one: skipped, but counted for the reader to report.
    @Test func snappySkippableChunksAreSkippedAndCounted() async throws {
        let original = sampleLogText(lines: 100)
        let compressed = try await PeerCompressor.compress(original, format: "snappy")
        let skippable: [UInt8] = [0x80, 0x05, 0x00, 0x00, 1, 2, 3, 4, 5, 0xfe, 0x02, 0x00, 0x00, 0, 0]
        let padded = Array(compressed[..<10]) + skippable + Array(compressed[10...])
        let result = try decompress(padded, pieceSize: 7, maxBytes: 65_536)
        #expect(result.bytes == original)
        #expect(result.skipped.chunks == 2)
        #expect(result.skipped.bytes == 7)
        #expect(try decompress(compressed, pieceSize: 7, maxBytes: 65_536).skipped.chunks == 0)
        var damaged = compressed
        damaged[10] = 0x80
        let lost = try decompress(damaged, pieceSize: 7, maxBytes: 65_536)
        #expect(lost.bytes.isEmpty)
        #expect(lost.skipped.chunks == 1)
    }

    @Test func aSnappyChunkClaimingMoreThanABlockIsRefusedAtItsHeader() {
        let identifier: [UInt8] = [0xff, 0x06, 0x00, 0x00] + Array("sNaPpY".utf8)
        let failure = #expect(throws: DecompressionFailure.self) {
            _ = try decompress(identifier + [0x00, 0xff, 0xff, 0xff, 0x01], pieceSize: 100, maxBytes: 65_536)
        }
        #expect(
            failure?.description
                == "snappy: the chunk after 1 chunk(s) (type 0x0) claims 16777215 bytes, more than such a chunk holds (76494)"
        )
    }

    /// The start of a gzip member whose deflate data was damaged (one byte of a real member changed): a
    /// distance back past the start of the output. This libisal, given exactly these 100 bytes at once, fails
    /// with an invalid distance and leaves `avail_in` wrapped past zero, which trapped the collector when it
    /// read igzip's counters before its status.
    static let gzipWithADistanceBeforeItsStart: [UInt8] =
        [
            0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0xff, 0x8d, 0x9c, 0xbb, 0x8e, 0x6c, 0xc7,
            0x0d, 0x45, 0x73, 0x7f, 0xc6, 0xc4, 0x82, 0x50, 0x24, 0xeb, 0x41, 0xde, 0x54, 0xdf, 0xe0, 0x6c,
            0x12, 0xc1, 0x18, 0x3d, 0x00, 0xc3, 0x0f, 0xdd, 0xb1, 0x61, 0x41, 0xd0, 0xbf, 0xbb, 0x6b, 0x1f,
            0x40, 0x11, 0xb7, 0xb0, 0xd3, 0x09, 0x2a, 0x18, 0x2c, 0xf6, 0x59, 0xcd, 0x75, 0xba, 0x7e, 0x7b,
            0xfb, 0xf8, 0xef, 0xc7, 0x3f, 0x3e, 0xbf, 0xfd, 0xdb, 0xf7, 0x9f, 0x1f, 0x3f, 0xfe, 0xf3, 0x97,
            0x5f, 0xdf, 0xbe, 0xbc, 0x49,
        ] + [UInt8](repeating: 0, count: 15)

    @Test(arguments: [100, 1, 64, 99])
    func aGzipDistanceBeforeTheStartIsAFailureNotATrap(pieceSize: Int) {
        let failure = #expect(throws: DecompressionFailure.self) {
            _ = try decompress(Self.gzipWithADistanceBeforeItsStart, pieceSize: pieceSize, maxBytes: 4_096)
        }
        #expect(failure?.description == "gzip: invalid deflate distance")
    }

    /// Damaged objects, as a corrupt upload or a hostile bucket gives them: bytes changed at random (seeded,
    /// so a failure repeats), fed in pieces of random sizes. Each must end in a ``DecompressionFailure`` or in
    /// bytes, never trap; gzip and bzip2 check a CRC, so their bytes must then be the original's, unless the
    /// damage hit the magic bytes and the object no longer reads as that format.
    @Test(arguments: ["gzip", "gzip-multi", "zstd", "zstd-multi", "snappy", "bzip2", "bzip2-multi"])
    func aDamagedObjectEndsInAFailureOrBytesNeverATrap(format: String) async throws {
        let original = sampleLogText(lines: 300)
        let compressed = try await PeerCompressor.compress(original, format: format)
        let expected = Self.formats.first { $0.0 == format }!.1
        var random = SplitMix64(seed: UInt64(compressed.count))
        var failures = 0
        for _ in 0..<2_000 {
            var damaged = compressed
            for _ in 0..<Int.random(in: 1...3, using: &random) {
                damaged[Int.random(in: 0..<damaged.count, using: &random)] ^= UInt8.random(in: 1...255, using: &random)
            }
            do {
                let result = try decompress(
                    damaged,
                    pieceSize: Int.random(in: 1...500, using: &random),
                    maxBytes: 4_096
                )
                if format.hasPrefix("gzip") || format.hasPrefix("bzip2") {
                    #expect(result.bytes == original || result.format != expected, "\(damaged)")
                }
            } catch is DecompressionFailure {
                failures += 1
            }
        }
        #expect(failures > 1_000)
    }

    /// A single member, frame, stream or chunk cut anywhere past its magic bytes is a truncated object.
    @Test(arguments: ["gzip", "zstd", "snappy", "bzip2"])
    func everyCutAfterTheMagicBytesIsAFailure(format: String) async throws {
        let compressed = try await PeerCompressor.compress(sampleLogText(lines: 300), format: format)
        // A snappy stream of its identifier alone is whole (and empty), so its cuts start past it.
        let magic = format == "snappy" ? 10 : 4
        for cut in (magic + 1)..<compressed.count {
            #expect(throws: DecompressionFailure.self, "cut at \(cut) of \(compressed.count)") {
                _ = try decompress(Array(compressed[0..<cut]), pieceSize: 97, maxBytes: 4_096)
            }
        }
    }

    @Test func magicBytesDecideTheFormatWhateverTheKeySays() {
        #expect(CompressionFormat.detect([0x1f, 0x8b, 0x08]) == .gzip)
        #expect(CompressionFormat.detect([0x28, 0xb5, 0x2f, 0xfd, 0]) == .zstd)
        #expect(CompressionFormat.detect(Array("BZh91AY".utf8)) == .bzip2)
        #expect(CompressionFormat.detect(Array("BZhello".utf8)) == .none)
        #expect(CompressionFormat.detect(Array("BZh9 is how this log line starts".utf8)) == .none)
        #expect(CompressionFormat.detect(Array("BZh9".utf8) + [0x17, 0x72, 0x45, 0x38, 0x50, 0x90]) == .bzip2)
        #expect(CompressionFormat.detect([0xff, 0x06, 0x00, 0x00] + Array("sNaPpY".utf8)) == .snappyFramed)
        #expect(CompressionFormat.detect(Array("{\"Records\":[]}".utf8)) == .none)
        #expect(CompressionFormat.detect([UInt8]()) == .none)
    }

    @Test func aKeysSuffixNamesItsCompressionOnlyToTellDamageFromPlainText() {
        #expect(CompressionFormat.named(byKey: "AWSLogs/1/CloudTrail/x.json.gz") == .gzip)
        #expect(CompressionFormat.named(byKey: "a.GZIP") == .gzip)
        #expect(CompressionFormat.named(byKey: "a.log.zst") == .zstd)
        #expect(CompressionFormat.named(byKey: "a.bz2") == .bzip2)
        #expect(CompressionFormat.named(byKey: "a.sz") == .snappyFramed)
        #expect(CompressionFormat.named(byKey: "gz/a.json") == .none)
        #expect(CompressionFormat.named(byKey: "gz") == .none)
        #expect(CompressionFormat.startsLikeText(Array("{\"a\":1}\r\n\tü \u{1B}[0m".utf8)))
        #expect(CompressionFormat.startsLikeText([0xE9, 0x41, 0xFF]))
        #expect(CompressionFormat.startsLikeText([UInt8]()))
        #expect(!CompressionFormat.startsLikeText([0x41, 0x00, 0x42]))
        #expect(!CompressionFormat.startsLikeText([0x1e, 0x8b, 0x08, 0x00]))
    }

    /// The first bytes of an object without a compression suffix are refused only when not UTF-8 either: a
    /// character cut short at their end (the object goes on) and zero bytes are UTF-8.
    @Test func utf8IsToldFromBinaryInAnObjectsFirstBytes() {
        let text = Array("{\"a\":\"é😀日\"}\u{0}\u{0}".utf8)
        #expect(CompressionFormat.startsLikeUTF8(text))
        #expect(CompressionFormat.startsLikeUTF8([UInt8]()))
        for character in ["é", "日", "😀"] {
            let bytes = Array(character.utf8)
            for cut in 1..<bytes.count {
                #expect(CompressionFormat.startsLikeUTF8([0x41] + bytes.prefix(cut)), "\(character) cut after \(cut)")
                #expect(!CompressionFormat.startsLikeUTF8([0x41] + bytes.prefix(cut) + [0x41]), "\(character) \(cut)")
            }
        }
        #expect(!CompressionFormat.startsLikeUTF8([0x41, 0x80, 0x41]))
        #expect(!CompressionFormat.startsLikeUTF8([0xC0, 0xAF]))
        #expect(!CompressionFormat.startsLikeUTF8([0xED, 0xA0, 0x80]))
        #expect(!CompressionFormat.startsLikeUTF8([0x1e, 0x8b, 0x08, 0x00, 0xf3, 0x12, 0xc4, 0x9a, 0x00, 0xff, 0x41]))
    }
}
