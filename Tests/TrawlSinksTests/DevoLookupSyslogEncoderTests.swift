import NIOCore
import Testing
import TrawlCore
import TrawlSinks
import TrawlTesting

@Suite struct DevoLookupSyslogEncoderTests {
    static let metadata = EventMetadata(source: "cewl", unit: "t", offset: 0, pullingID: PullingID(microseconds: 0))
    static let columns: [LookupUpdate.Column] = [
        .init("cve_id", type: "str"), .init("vendor", type: "str"), .init("score", type: "float"),
    ]
    static let headers = #"[{"cve_id":{"type":"str","key":true}},{"vendor":{"type":"str"}},{"score":{"type":"float"}}]"#
    static let docExample = """
        <14>Jan  1 00:00:00 vm my.lookup.control.cewl.FULL: 1795417926.2580109_cewl|START|\(headers)
        <14>Jan  1 00:00:00 vm my.lookup.data.cewl: 1795417926.2580109_cewl|"CVE-2024-3400","Palo Alto Networks",10.0
        <14>Jan  1 00:00:00 vm my.lookup.data.cewl: 1795417926.2580109_cewl|"CVE-2023-4966","Citrix",9.4
        <14>Jan  1 00:00:00 vm my.lookup.control.cewl.FULL: 1795417926.2580109_cewl|END|\(headers)

        """
    static let full = LookupUpdate(
        table: "cewl",
        columns: columns,
        mode: .full,
        rows: [
            [.string("CVE-2024-3400"), .string("Palo Alto Networks"), .float(10.0)],
            [.string("CVE-2023-4966"), .string(" Citrix "), .float(9.4)],
        ],
        transactionID: "1795417926.2580109"
    )

    @Test func aFullUploadIsByteForByteTheExampleOfTheDeliveryDoc() {
        let events = DevoLookupSyslogEncoder.events(Self.full, metadata: Self.metadata)
        let framer = DevoSyslogFramer(hostname: "vm")
        let wire = events.map { String(buffer: framer.frame($0)) }.joined()
        #expect(wire == Self.docExample)
    }

    @Test func aLookupEventIsFramedAsTheLegacyLinesAfterASpoolRoundTrip() throws {
        let event = Event.lookup(Self.full, metadata: Self.metadata)
        #expect(event.kind == .lookup)
        #expect(try LookupUpdate(decoding: event.body) == Self.full)
        let framer = DevoSyslogFramer(hostname: "vm", sendsLookups: true)
        var wire = ByteBuffer()
        try framer.frame(
            [EventBatch(events: [Event.test("{\"a\":1}"), event], acknowledgement: Acknowledgement(unit: "t"))],
            into: &wire,
            output: "file"
        )
        #expect(String(buffer: wire) == "<14>Jan  1 00:00:00 vm my.app.test.event: {\"a\":1}\n" + Self.docExample)
    }

    @Test func aCorruptLookupEventIsRefusedWithError504AndNothingIsFramed() {
        var corrupt = Event.lookup(Self.full, metadata: Self.metadata)
        corrupt.body = corrupt.body.getSlice(at: 0, length: 20)!
        let framer = DevoSyslogFramer(hostname: "vm", sendsLookups: true)
        var wire = ByteBuffer()
        let refusal = #expect(throws: EventsRefused.self) {
            try framer.frame(
                [EventBatch(events: [Event.test("ok"), corrupt], acknowledgement: Acknowledgement(unit: "t"))],
                into: &wire,
                output: "file"
            )
        }
        #expect(refusal?.positions == [1])
        #expect(refusal?.error.code.id == 504)
        #expect(wire.readableBytes == 0)
    }

    @Test func deletionsQuotesNewlinesAndNumericStringsFollowTheSDK() {
        let update = LookupUpdate(
            table: "cewl",
            columns: Self.columns,
            mode: .incremental,
            rows: [[.string("CVE-1"), .string("say \"hi\"\nthere"), .string("7.5")]],
            deletions: [[.string("CVE-0"), .string("x"), .int(3)]],
            transactionID: "1.5"
        )
        let events = DevoLookupSyslogEncoder.events(update, metadata: Self.metadata)
        #expect(
            events.map(\.tag) == [
                "my.lookup.control.cewl.INC", "my.lookup.data.cewl", "my.lookup.data.cewl.DELETE",
                "my.lookup.control.cewl.INC",
            ]
        )
        #expect(String(buffer: events[1].body) == #"1.5_cewl|"CVE-1","say ""hi""\nthere",7.5"#)
        #expect(String(buffer: events[2].body) == #"1.5_cewl|"CVE-0","x",3"#)
    }

    @Test func theTransactionIDIsTheSDKsFloatUnixTime() {
        #expect(
            LookupUpdate.transactionID(at: UTCTimestamp(microsecondsSinceEpoch: 1_795_417_926_258_010))
                == "1795417926.258010"
        )
        #expect(
            LookupUpdate.transactionID(at: UTCTimestamp(microsecondsSinceEpoch: 1_000_000_000_000_042))
                == "1000000000.000042"
        )
    }
}
