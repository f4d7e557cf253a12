import Foundation
import NIOCore
import NIOPosix
import Synchronization
import Testing
import TrawlCore
import TrawlSinks
import TrawlTesting

/// The `syslog` output over plain TCP and UDP against a real rsyslog (TLS is the `devo` output's stream,
/// tested in SyslogStreamSinkAgainstRsyslogTests).
@Suite struct SyslogOutputAgainstRsyslogTests {
    static func batch(_ events: [Event]) -> [EventBatch] {
        [EventBatch(events: events, acknowledgement: Acknowledgement(unit: "test"))]
    }

    static func start(_ transport: RsyslogServer.Transport) async throws -> (TemporaryDirectory, RsyslogServer) {
        let directory = try TemporaryDirectory()
        let certificates = try await TestCertificates.make(in: directory.path)
        let rsyslog = try await RsyslogServer(
            directory: directory.path,
            certificates: certificates,
            transport: transport
        )
        return (directory, rsyslog)
    }

    @Test func plainTCPDeliversTheFramedBytesIncludingAMultiLineEvent() async throws {
        let (directory, rsyslog) = try await Self.start(.tcp)
        defer {
            rsyslog.stop()
            directory.remove()
        }
        let sink = SyslogStreamSink(
            name: "syslog",
            configuration: .init(host: "127.0.0.1", port: rsyslog.port, tls: nil, location: "outputs.syslog.settings"),
            context: nil,
            framer: DevoSyslogFramer(hostname: "vm", multiline: .octetCounting),
            logger: RecordingLogger().logger
        )
        try await sink.write(Self.batch([Event.test("{\"a\":1}"), Event.test("one\ntwo", tag: "my.app.multi")]))
        try await sink.close()
        let expected =
            "<14>Jan  1 00:00:00 vm my.app.test.event: {\"a\":1}\n<14>Jan  1 00:00:00 vm my.app.multi: one\ntwo\n"
        let received = try await rsyslog.waitForBytes(expected.utf8.count)
        #expect(String(decoding: received, as: UTF8.self) == expected)
    }

    @Test func udpSendsOneDatagramPerLineAndRefusesOversizeEventsBeforeSending() async throws {
        let (directory, rsyslog) = try await Self.start(.udp)
        defer {
            rsyslog.stop()
            directory.remove()
        }
        let sink = SyslogDatagramSink(
            name: "syslog",
            configuration: .init(
                host: "127.0.0.1",
                port: rsyslog.port,
                maxMessageBytes: 1_000,
                location: "outputs.syslog.settings"
            ),
            framer: DevoSyslogFramer(hostname: "vm"),
            logger: RecordingLogger().logger
        )
        let oversize = Event.test(String(repeating: "y", count: 2_000))
        let refusal = await #expect(throws: EventsRefused.self) {
            try await sink.write(Self.batch([Event.test("before"), oversize, Event.test("after")]))
        }
        #expect(refusal?.positions == [1])
        #expect(refusal?.error.code.id == 504)
        #expect(refusal?.error.location == "outputs.syslog.settings.max_message_bytes")
        #expect(refusal?.error.message.contains("the longest is 2") == true, "\(String(describing: refusal))")
        try await sink.write(Self.batch([Event.test("before"), Event.test("línea\ndos"), Event.test("after")]))
        try await sink.close()
        let expected =
            "<14>Jan  1 00:00:00 vm my.app.test.event: before\n"
            + "<14>Jan  1 00:00:00 vm my.app.test.event: línea\\ndos\n"
            + "<14>Jan  1 00:00:00 vm my.app.test.event: after\n"
        let received = try await rsyslog.waitForBytes(expected.utf8.count)
        #expect(String(decoding: received, as: UTF8.self) == expected)
    }

    @Test func overUDPEachLineIsExactlyOneDatagramAndALookupIsItsLegacyLines() async throws {
        let received = DatagramCollector()
        let listener = try await DatagramBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(received) }
            }
            .bind(host: "127.0.0.1", port: 0)
            .get()
        let sink = SyslogDatagramSink(
            name: "syslog",
            configuration: .init(
                host: "127.0.0.1",
                port: listener.localAddress!.port!,
                location: "outputs.syslog.settings"
            ),
            framer: DevoSyslogFramer(hostname: "vm", sendsLookups: true),
            logger: RecordingLogger().logger
        )
        let update = LookupUpdate(
            table: "cewl",
            columns: [.init("cve_id", type: "str")],
            mode: .full,
            rows: [[.string("CVE-1")]],
            transactionID: "1.5"
        )
        try await sink.write(
            Self.batch([Event.test("a"), Event.lookup(update, metadata: Event.test("x").metadata), Event.test("b")])
        )
        try await sink.close()
        #expect(await eventually { received.datagrams.count >= 5 })
        try await Task.sleep(for: .milliseconds(200))
        try await listener.close()
        #expect(
            received.datagrams == [
                "<14>Jan  1 00:00:00 vm my.app.test.event: a",
                #"<14>Jan  1 00:00:00 vm my.lookup.control.cewl.FULL: 1.5_cewl|START|[{"cve_id":{"type":"str","key":true}}]"#,
                #"<14>Jan  1 00:00:00 vm my.lookup.data.cewl: 1.5_cewl|"CVE-1""#,
                #"<14>Jan  1 00:00:00 vm my.lookup.control.cewl.FULL: 1.5_cewl|END|[{"cve_id":{"type":"str","key":true}}]"#,
                "<14>Jan  1 00:00:00 vm my.app.test.event: b",
            ]
        )
    }
}

/// Keeps every datagram a UDP listener receives, as text.
final class DatagramCollector: ChannelInboundHandler, Sendable {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>

    private let received = Mutex<[String]>([])

    var datagrams: [String] { self.received.withLock { $0 } }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let envelope = self.unwrapInboundIn(data)
        self.received.withLock { $0.append(String(buffer: envelope.data)) }
    }
}
