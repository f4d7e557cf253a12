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

    /// The framer copies plain ASCII 32 bytes at a time and scans the rest 32 and 8 at a time: bodies of every
    /// length around those strides, with a newline or a non-ASCII character at every position, frame as the
    /// byte-by-byte rules say.
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

    /// A body that leaves the plain-ASCII copy halfway has had part of it copied past the buffer's end: batches
    /// mixing plain and sanitized bodies (and tags of other lengths) frame as each event framed alone.
    @Test func batchesMixingPlainAndSanitizedBodiesFrameAsEachEventAlone() throws {
        let bodies: [[UInt8]] = [
            Array(String(repeating: "plain ascii ", count: 9).utf8),
            Array(String(repeating: "x", count: 40).utf8) + [0x0A] + Array("tail".utf8),
            Array("short".utf8),
            Array(String(repeating: "caf\u{E9} ", count: 12).utf8),
            Array(String(repeating: "y", count: 70).utf8) + [0xFF, 0x41],
            [],
            Array(String(repeating: "z", count: 33).utf8),
        ]
        let framer = DevoSyslogFramer(hostname: "vm")
        let events = bodies.enumerated().map { index, body in
            Event(
                tag: index % 2 == 0 ? "my.app.test.event" : "edr.sentinelone.dv.process",
                body: ByteBuffer(bytes: body),
                metadata: EventMetadata(
                    source: "s",
                    unit: "u",
                    offset: Int64(index),
                    pullingID: PullingID(microseconds: 0)
                )
            )
        }
        var expected = ByteBuffer()
        for event in events {
            var alone = framer.frame(event)
            expected.writeBuffer(&alone)
        }
        var framed = ByteBuffer(string: "kept ")
        let acknowledgement = Acknowledgement(unit: "u")
        try framer.frame(
            [
                EventBatch(events: Array(events[..<3]), acknowledgement: acknowledgement),
                EventBatch(events: Array(events[3...]), acknowledgement: acknowledgement),
            ],
            into: &framed,
            output: "out"
        )
        #expect(framed.readString(length: 5) == "kept ")
        #expect(framed == expected)
        #expect(String(buffer: framed).split(separator: "\n").count == bodies.count)
    }

    @Test func octetCountingPrefixesTheFrameLengthAndKeepsNewlines() {
        let frame = "<14>Jan  1 00:00:00 vm my.app.test.event: a\nb\n"
        #expect(self.frame(Array("a\nb".utf8), policy: .octetCounting) == Array("\(frame.utf8.count) \(frame)".utf8))
    }
}
