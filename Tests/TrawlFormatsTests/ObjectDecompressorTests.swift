import NIOCore
import Testing
import TrawlFormats
import TrawlTesting

/// Decompresses everything `data` compresses to, feeding `pieceSize` bytes at a time and pulling at most
/// `maxBytes` at once; also returns the largest piece handed out.
func decompress(
    _ data: [UInt8],
    pieceSize: Int,
    maxBytes: Int
) throws -> (bytes: [UInt8], largest: Int, format: CompressionFormat?) {
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
    return (out, largest, decompressor.format)
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

    @Test func magicBytesDecideTheFormatWhateverTheKeySays() {
        #expect(CompressionFormat.detect([0x1f, 0x8b, 0x08]) == .gzip)
        #expect(CompressionFormat.detect([0x28, 0xb5, 0x2f, 0xfd, 0]) == .zstd)
        #expect(CompressionFormat.detect(Array("BZh91AY".utf8)) == .bzip2)
        #expect(CompressionFormat.detect(Array("BZhello".utf8)) == .none)
        #expect(CompressionFormat.detect([0xff, 0x06, 0x00, 0x00] + Array("sNaPpY".utf8)) == .snappyFramed)
        #expect(CompressionFormat.detect(Array("{\"Records\":[]}".utf8)) == .none)
        #expect(CompressionFormat.detect([UInt8]()) == .none)
    }
}
