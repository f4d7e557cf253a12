import NIOCore
import Testing
import TrawlCore
import TrawlSinks
import TrawlTesting

@Suite struct DevoSyslogFramerTests {
    private func frame(_ body: [UInt8], policy: DevoSyslogFramer.MultilinePolicy = .escape) -> [UInt8] {
        let event = Event(
            tag: "my.app.test.event",
            body: ByteBuffer(bytes: body),
            metadata: EventMetadata(source: "s", unit: "u", offset: 0, pullingID: PullingID(microseconds: 0))
        )
        var framed = DevoSyslogFramer(hostname: "vm", multiline: policy).frame(event)
        return framed.readBytes(length: framed.readableBytes) ?? []
    }

    @Test func matchesTheDevoSDKBytesExactly() {
        let framed = self.frame(Array(#"{"a":1}"#.utf8))
        #expect(framed == Array("<14>Jan  1 00:00:00 vm my.app.test.event: {\"a\":1}\n".utf8))
        #expect(framed.count == 50)
    }

    @Test func aBodyEndingInANewlineGetsNoSecondOne() {
        #expect(self.frame(Array("x\n".utf8)) == Array("<14>Jan  1 00:00:00 vm my.app.test.event: x\n".utf8))
    }

    @Test func invalidUTF8IsReplacedPerMaximalSubpartAndValidUTF8KeptAsIs() {
        let body: [UInt8] = Array("caf\u{e9} ".utf8) + [0xFF, 0x41, 0xE2, 0x82, 0x42, 0xF0, 0x9F, 0x98, 0x80]
        let framed = self.frame(body)
        let expected = String(decoding: body, as: UTF8.self)
        #expect(String(decoding: framed, as: UTF8.self) == "<14>Jan  1 00:00:00 vm my.app.test.event: \(expected)\n")
        #expect(expected == "caf\u{e9} \u{FFFD}A\u{FFFD}B\u{1F600}")
    }

    @Test func surrogatesAndOverlongEncodingsAreInvalid() {
        let framed = self.frame([0xED, 0xA0, 0x80, 0xC0, 0xAF])
        let text = String(decoding: framed, as: UTF8.self)
        #expect(text.hasSuffix(": \u{FFFD}\u{FFFD}\u{FFFD}\u{FFFD}\u{FFFD}\n"))
    }

    @Test func innerNewlinesAreEscapedSoOneEventStaysOneLine() {
        #expect(
            self.frame(Array("line1\nline2".utf8))
                == Array("<14>Jan  1 00:00:00 vm my.app.test.event: line1\\nline2\n".utf8)
        )
    }

    /// The framer checks plain ASCII 32 and 8 bytes at a time: bodies of every length around those strides,
    /// with a newline or a non-ASCII character at every position, frame as the byte-by-byte rules say.
    @Test func bodiesOfEveryLengthAroundTheFastPathStridesFrameByteForByte() {
        let prefix = Array("<14>Jan  1 00:00:00 vm my.app.test.event: ".utf8)
        for length in 0...70 {
            let plain = (0..<length).map { UInt8(ascii: "a") + UInt8($0 % 26) }
            #expect(self.frame(plain) == prefix + plain + [0x0A], "length \(length)")
            for position in 0..<length {
                var withNewline = plain
                withNewline[position] = 0x0A
                var escaped = plain
                escaped.replaceSubrange(position...position, with: Array("\\n".utf8))
                if position == length - 1 { escaped = Array(plain.dropLast()) }
                #expect(self.frame(withNewline) == prefix + escaped + [0x0A], "newline at \(position) of \(length)")
                var withInvalid = plain
                withInvalid[position] = 0xFF
                var replaced = plain
                replaced.replaceSubrange(position...position, with: [0xEF, 0xBF, 0xBD])
                #expect(self.frame(withInvalid) == prefix + replaced + [0x0A], "0xFF at \(position) of \(length)")
            }
        }
    }

    @Test func octetCountingPrefixesTheFrameLengthAndKeepsNewlines() {
        let frame = "<14>Jan  1 00:00:00 vm my.app.test.event: a\nb\n"
        #expect(self.frame(Array("a\nb".utf8), policy: .octetCounting) == Array("\(frame.utf8.count) \(frame)".utf8))
    }
}
