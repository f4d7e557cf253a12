import NIOCore
import Testing
import TrawlFormats

/// Feeds `bytes` to a transcoder for `encoding` in pieces of `pieceSize` bytes; returns its UTF-8 output.
func transcode(_ bytes: [UInt8], _ encoding: TextEncoding, pieceSize: Int) -> [UInt8] {
    var transcoder = TextTranscoder(encoding)
    var output: [UInt8] = []
    var start = 0
    while start < bytes.count {
        let end = min(start + pieceSize, bytes.count)
        output += Array(transcoder.transcode(ByteBuffer(bytes: bytes[start..<end])).readableBytesView)
        start = end
    }
    output += Array(transcoder.finish().readableBytesView)
    return output
}

/// `text` as UTF-16 code units laid out in bytes of the given order.
func utf16Bytes(_ units: [UInt16], bigEndian: Bool) -> [UInt8] {
    units.flatMap { bigEndian ? [UInt8($0 >> 8), UInt8($0 & 0xFF)] : [UInt8($0 & 0xFF), UInt8($0 >> 8)] }
}

@Suite struct TextTranscoderTests {
    static let pieceSizes = [1, 2, 3, 5, 4_096]

    @Test(arguments: pieceSizes)
    func latin1BytesBecomeTheCodePointsOfTheSameNumber(pieceSize: Int) {
        let bytes = (0...255).map { UInt8($0) }
        let expected = String(String.UnicodeScalarView(bytes.map { Unicode.Scalar($0) }))
        #expect(transcode(bytes, .latin1, pieceSize: pieceSize) == Array(expected.utf8))
        #expect(transcode(Array("José,Zürich".utf8), .utf8, pieceSize: pieceSize) == Array("José,Zürich".utf8))
    }

    @Test(arguments: pieceSizes)
    func windows1252ReadsItsPrintableCharactersAt0x80To0x9F(pieceSize: Int) {
        let bytes: [UInt8] = [0x80, 0x35, 0x20, 0x93, 0x71, 0x94, 0x20, 0x96, 0x20, 0x6E, 0xEF, 0x76, 0x99, 0x81, 0xE9]
        #expect(transcode(bytes, .windows1252, pieceSize: pieceSize) == Array("€5 “q” – nïv™\u{81}é".utf8))
        #expect(
            transcode(bytes, .latin1, pieceSize: pieceSize)
                == Array("\u{80}5 \u{93}q\u{94} \u{96} nïv\u{99}\u{81}é".utf8)
        )
    }

    @Test(arguments: pieceSizes)
    func utf16InEitherByteOrderIsJoinedAcrossPieces(pieceSize: Int) {
        let text = "user,host\nJosé,日本 🔒 srv-01\n"
        let units = Array(text.utf16)
        #expect(
            transcode(utf16Bytes(units, bigEndian: false), .utf16LittleEndian, pieceSize: pieceSize) == Array(text.utf8)
        )
        #expect(
            transcode(utf16Bytes(units, bigEndian: true), .utf16BigEndian, pieceSize: pieceSize) == Array(text.utf8)
        )
    }

    @Test(arguments: pieceSizes)
    func unpairedSurrogatesAndALastOddByteBecomeReplacementCharacters(pieceSize: Int) {
        // As the WHATWG decoder: a high surrogate and an odd byte both left at the end make one U+FFFD.
        let units: [UInt16] = [0x41, 0xD800, 0x42, 0xDC00, 0x43, 0xD83D, 0xDD12, 0xDBFF]
        let expected = String(decoding: units, as: UTF16.self)
        #expect(expected.unicodeScalars.filter { $0 == "\u{FFFD}" }.count == 3)
        let bytes = utf16Bytes(units, bigEndian: false)
        #expect(transcode(bytes, .utf16LittleEndian, pieceSize: pieceSize) == Array(expected.utf8))
        #expect(transcode(bytes + [0x44], .utf16LittleEndian, pieceSize: pieceSize) == Array(expected.utf8))
        #expect(transcode([0x41, 0x00, 0x42], .utf16LittleEndian, pieceSize: pieceSize) == Array("A\u{FFFD}".utf8))
    }

    @Test(arguments: pieceSizes)
    func aByteOrderMarkDecidesTheEncodingAndIsRemoved(pieceSize: Int) {
        let text = "time,user\n1,José 🔒\n"
        let marked: [[UInt8]] = [
            [0xEF, 0xBB, 0xBF] + Array(text.utf8),
            [0xFF, 0xFE] + utf16Bytes(Array(text.utf16), bigEndian: false),
            [0xFE, 0xFF] + utf16Bytes(Array(text.utf16), bigEndian: true),
        ]
        for declared in TextEncoding.allCases {
            for bytes in marked { #expect(transcode(bytes, declared, pieceSize: pieceSize) == Array(text.utf8)) }
        }
        #expect(transcode([0xEF, 0xBB, 0xBF, 0xEF, 0xBB, 0xBF], .utf8, pieceSize: pieceSize) == [0xEF, 0xBB, 0xBF])
    }

    @Test func objectsShorterThanAByteOrderMarkAreReadAsDeclared() {
        #expect(transcode([], .utf8, pieceSize: 1).isEmpty)
        #expect(transcode([0x61], .utf8, pieceSize: 1) == [0x61])
        #expect(transcode([0xE9, 0x0A], .latin1, pieceSize: 1) == Array("é\n".utf8))
        #expect(transcode([0xEF, 0xBB], .utf8, pieceSize: 1) == [0xEF, 0xBB])
        #expect(transcode([0xFF, 0xFE], .latin1, pieceSize: 1).isEmpty)
    }

    @Test func utf8AndAsciiPiecesArePassedOnWithoutACopy() {
        let piece = ByteBuffer(string: "{\"user\":\"admin\",\"host\":\"srv-01\"}\n")
        for declared in [TextEncoding.utf8, .latin1, .windows1252] {
            var transcoder = TextTranscoder(declared)
            let first = transcoder.transcode(piece)
            let second = transcoder.transcode(piece)
            #expect(first == piece && second == piece)
            let address = piece.withUnsafeReadableBytes { $0.baseAddress }
            #expect(second.withUnsafeReadableBytes { $0.baseAddress } == address)
            #expect(transcoder.encoding == declared)
        }
    }
}
