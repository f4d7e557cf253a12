import NIOCore
import Testing
import TrawlCore
import TrawlSinks
import TrawlTesting

@Suite struct DevoLookupSyslogEncoderTests {
    static let metadata = EventMetadata(source: "cewl", unit: "t", offset: 0, pullingID: PullingID(microseconds: 0))
    static let cewl = DevoLookup(
        name: "cewl",
        columns: [.init("cve_id", type: "str"), .init("vendor", type: "str"), .init("score", type: "float")]
    )

    @Test func aFullUploadIsByteForByteTheExampleOfTheDeliveryDoc() {
        let events = DevoLookupSyslogEncoder.events(
            Self.cewl,
            mode: .full,
            rows: [
                [.string("CVE-2024-3400"), .string("Palo Alto Networks"), .float(10.0)],
                [.string("CVE-2023-4966"), .string(" Citrix "), .float(9.4)],
            ],
            id: "1795417926.2580109",
            metadata: Self.metadata
        )
        let framer = DevoSyslogFramer(hostname: "vm")
        let wire = events.map { String(buffer: framer.frame($0)) }.joined()
        let headers = #"[{"cve_id":{"type":"str","key":true}},{"vendor":{"type":"str"}},{"score":{"type":"float"}}]"#
        #expect(
            wire == """
                <14>Jan  1 00:00:00 vm my.lookup.control.cewl.FULL: 1795417926.2580109_cewl|START|\(headers)
                <14>Jan  1 00:00:00 vm my.lookup.data.cewl: 1795417926.2580109_cewl|"CVE-2024-3400","Palo Alto Networks",10.0
                <14>Jan  1 00:00:00 vm my.lookup.data.cewl: 1795417926.2580109_cewl|"CVE-2023-4966","Citrix",9.4
                <14>Jan  1 00:00:00 vm my.lookup.control.cewl.FULL: 1795417926.2580109_cewl|END|\(headers)

                """
        )
    }

    @Test func deletionsQuotesNewlinesAndNumericStringsFollowTheSDK() {
        let events = DevoLookupSyslogEncoder.events(
            Self.cewl,
            mode: .incremental,
            rows: [[.string("CVE-1"), .string("say \"hi\"\nthere"), .string("7.5")]],
            deletions: [[.string("CVE-0"), .string("x"), .int(3)]],
            id: "1.5",
            metadata: Self.metadata
        )
        #expect(
            events.map(\.tag) == [
                "my.lookup.control.cewl.INC", "my.lookup.data.cewl", "my.lookup.data.cewl.DELETE",
                "my.lookup.control.cewl.INC",
            ]
        )
        #expect(String(buffer: events[1].body) == #"1.5_cewl|"CVE-1","say ""hi""\nthere",7.5"#)
        #expect(String(buffer: events[2].body) == #"1.5_cewl|"CVE-0","x",3"#)
    }
}
