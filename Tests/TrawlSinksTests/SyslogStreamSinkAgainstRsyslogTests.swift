import Foundation
import NIOCore
import Testing
import TrawlCore
import TrawlTesting

@testable import TrawlSinks

/// The `devo` output's stream against a real rsyslog with mutual TLS: what rsyslog writes is byte for byte
/// what the Devo framer produced, and clients without the right certificate or CA are refused clearly.
@Suite struct SyslogStreamSinkAgainstRsyslogTests {
    struct Receiver {
        let directory: TemporaryDirectory
        let certificates: TestCertificates
        let rsyslog: RsyslogServer

        static func start() async throws -> Receiver {
            let directory = try TemporaryDirectory()
            let certificates = try await TestCertificates.make(in: directory.path)
            let rsyslog = try await RsyslogServer(directory: directory.path, certificates: certificates)
            return Receiver(directory: directory, certificates: certificates, rsyslog: rsyslog)
        }

        func stop() {
            self.rsyslog.stop()
            self.directory.remove()
        }

        func sink(
            certificate: String? = "client",
            chainCA: String = "ca.crt",
            multiline: DevoSyslogFramer.MultilinePolicy = .octetCounting,
            streamPieceBytes: Int? = nil,
            senders: Int = 1,
            logger: RecordingLogger = RecordingLogger()
        ) throws -> SyslogStreamSink {
            var configuration = SyslogStreamSink.Configuration(
                host: "localhost",
                port: self.rsyslog.port,
                tls: SyslogTLSFiles(
                    certificate: certificate.map { self.certificates.path("\($0).crt") },
                    key: certificate.map { self.certificates.path("\($0).key") },
                    chainCA: self.certificates.path(chainCA)
                ),
                location: "outputs.devo.settings"
            )
            if let streamPieceBytes { configuration.streamPieceBytes = streamPieceBytes }
            configuration.senders = senders
            return try SyslogStreamSink(
                name: "devo",
                configuration: configuration,
                framer: DevoSyslogFramer(hostname: "vm", multiline: multiline),
                logger: logger.logger
            )
        }
    }

    static func batch(_ events: [Event]) -> [EventBatch] {
        [EventBatch(events: events, acknowledgement: Acknowledgement(unit: "test"))]
    }

    @Test func rsyslogReceivesExactlyTheFramedBytes() async throws {
        let receiver = try await Receiver.start()
        defer { receiver.stop() }
        let sink = try receiver.sink()
        let events = [
            Event.test("{\"a\":1}"),
            Event.test("first line\nsecond line", tag: "my.app.multi.line"),
            Event.test("{\"name\":\"ñandú ™ 漢字\"}", tag: "edr.sentinelone.dv.dns"),
            Event.test(String(repeating: "x", count: 200 * 1024), tag: "my.app.big.event"),
        ]
        try await sink.write(Self.batch(events))
        try await sink.close()
        // rsyslog stores each message's raw frame (octet count removed) followed by the template's newline.
        let expected =
            "<14>Jan  1 00:00:00 vm my.app.test.event: {\"a\":1}\n"
            + "<14>Jan  1 00:00:00 vm my.app.multi.line: first line\nsecond line\n"
            + "<14>Jan  1 00:00:00 vm edr.sentinelone.dv.dns: {\"name\":\"ñandú ™ 漢字\"}\n"
            + "<14>Jan  1 00:00:00 vm my.app.big.event: \(String(repeating: "x", count: 200 * 1024))\n"
        let received = try await receiver.rsyslog.waitForBytes(expected.utf8.count)
        #expect(
            received.count == expected.utf8.count,
            "\(String(decoding: received.prefix(300), as: UTF8.self).debugDescription)"
        )
        #expect(received == Data(expected.utf8))
    }

    /// A chunk is framed and flushed piece by piece while later events are still being framed: every line
    /// of several batches arrives once, in order, across many pieces.
    @Test func aChunkWrittenInManyPiecesArrivesWholeAndInOrder() async throws {
        let receiver = try await Receiver.start()
        defer { receiver.stop() }
        let sink = try receiver.sink(multiline: .escape, streamPieceBytes: 4096)
        let bodies = (0..<3_000).map { "{\"n\":\($0),\"pad\":\"\(String(repeating: "p", count: $0 % 300))\"}" }
        let batches = stride(from: 0, to: bodies.count, by: 700).map { start in
            EventBatch(
                events: bodies[start..<min(start + 700, bodies.count)].map { Event.test($0) },
                acknowledgement: Acknowledgement(unit: "test")
            )
        }
        try await sink.write(batches)
        try await sink.close()
        let expected = bodies.map { "<14>Jan  1 00:00:00 vm my.app.test.event: \($0)\n" }.joined()
        let received = try await receiver.rsyslog.waitForBytes(expected.utf8.count)
        #expect(received.count == expected.utf8.count)
        #expect(received == Data(expected.utf8))
    }

    /// With `senders: 3` a chunk goes out in three parts over three TLS connections at once: rsyslog
    /// receives every line once (order across connections is not kept, within each part it is).
    @Test func threeSendersDeliverEveryLineOnceOverThreeConnections() async throws {
        let receiver = try await Receiver.start()
        defer { receiver.stop() }
        let log = RecordingLogger()
        let sink = try receiver.sink(multiline: .escape, streamPieceBytes: 16_384, senders: 3, logger: log)
        let bodies = (0..<3_000).map { "{\"n\":\($0),\"pad\":\"\(String(repeating: "p", count: $0 % 300))\"}" }
        let batches = stride(from: 0, to: bodies.count, by: 700).map { start in
            EventBatch(
                events: bodies[start..<min(start + 700, bodies.count)].map { Event.test($0) },
                acknowledgement: Acknowledgement(unit: "test")
            )
        }
        #expect(sink.senders == 3)
        #expect(sink.parts(of: batches).count == 3)
        try await sink.write(batches)
        try await sink.close()
        let lines = bodies.map { "<14>Jan  1 00:00:00 vm my.app.test.event: \($0)" }
        let received = try await receiver.rsyslog.waitForBytes(lines.reduce(0) { $0 + $1.utf8.count + 1 })
        let receivedLines = String(decoding: received, as: UTF8.self).split(separator: "\n").map(String.init)
        #expect(receivedLines.count == lines.count)
        #expect(receivedLines.sorted() == lines.sorted())
        for sender in 1...3 {
            #expect(log.messages(containing: "over TLS (sender \(sender) of 3)").count == 1)
        }
    }

    @Test func aClientWithoutCertificateIsRefusedWithError503() async throws {
        let receiver = try await Receiver.start()
        defer { receiver.stop() }
        let sink = try receiver.sink(certificate: nil)
        let error = await #expect(throws: TrawlError.self) {
            try await sink.write(Self.batch([Event.test("never delivered")]))
        }
        #expect(error?.code.id == 503)
        #expect(error?.message.contains("the TLS handshake with localhost:\(receiver.rsyslog.port) failed") == true)
        #expect(receiver.rsyslog.received.isEmpty)
    }

    @Test func aCertificateFromAnotherCAIsRefusedWithError503() async throws {
        let receiver = try await Receiver.start()
        defer { receiver.stop() }
        let sink = try receiver.sink(certificate: "other-client")
        let error = await #expect(throws: TrawlError.self) {
            try await sink.write(Self.batch([Event.test("never delivered")]))
        }
        #expect(error?.code.id == 503)
        #expect(receiver.rsyslog.received.isEmpty)
    }

    @Test func aReceiverNotSignedByTheChainCAIsRefusedWithError503() async throws {
        let receiver = try await Receiver.start()
        defer { receiver.stop() }
        let sink = try receiver.sink(chainCA: "other-ca.crt")
        let error = await #expect(throws: TrawlError.self) {
            try await sink.write(Self.batch([Event.test("never delivered")]))
        }
        #expect(error?.code.id == 503)
        #expect(
            error?.message.contains("the other end's certificate is not trusted") == true
                && error?.message.contains("[CERTIFICATE_VERIFY_FAILED]") == true,
            "\(String(describing: error))"
        )
    }

    @Test func aClosedPortIsError502AndUnreadableTLSFilesAreSetupError17() async throws {
        let port = try PeerProcess.refusingPort()
        let sink = try SyslogStreamSink(
            name: "relay",
            configuration: .init(host: "127.0.0.1", port: port, tls: nil, location: "outputs.relay.settings"),
            framer: DevoSyslogFramer(hostname: "vm"),
            logger: RecordingLogger().logger
        )
        let error = await #expect(throws: TrawlError.self) {
            try await sink.write(Self.batch([Event.test("x")]))
        }
        #expect(error?.code.id == 502)
        #expect(error?.location == "outputs.relay.settings")
        #expect(
            error?.message.hasSuffix(
                "cannot connect to 127.0.0.1:\(port): connection refused: nothing accepts connections at that address and port"
            ) == true,
            "\(String(describing: error))"
        )
        let setup = #expect(throws: TrawlError.self) {
            _ = try SyslogTLSFiles(certificate: "/nonexistent/client.crt", key: "/nonexistent/client.key", chainCA: nil)
                .makeContext(location: "outputs.devo.settings")
        }
        #expect(setup?.code.id == 17)
        #expect(setup?.location == "outputs.devo.settings.cert_filename")
    }

    /// `gzip_tls_listener.py` (holding each connection `hold` seconds after the stream ends, unanswered) and a
    /// `devo` sink in gzip mode sending to it with a client certificate.
    static func gzipListenerAndSink(
        in directory: TemporaryDirectory,
        framer: DevoSyslogFramer,
        hold: Int = 0
    ) async throws -> (listener: PeerProcess, sink: SyslogStreamSink, output: String) {
        let certificates = try await TestCertificates.make(in: directory.path)
        let output = "\(directory.path)/decoded.log"
        let listener = try await PeerProcess(
            [
                PeerProcess.python, "\(RepositoryFiles.root)/Tests/Support/peers/gzip_tls_listener.py",
                certificates.path("server-fullchain.crt"), certificates.path("server.key"), certificates.path("ca.crt"),
                output, "\(hold)",
            ],
            port: 0
        )
        var configuration = SyslogStreamSink.Configuration(
            host: "localhost",
            port: listener.port,
            tls: SyslogTLSFiles(
                certificate: certificates.path("client.crt"),
                key: certificates.path("client.key"),
                chainCA: certificates.path("ca.crt")
            ),
            location: "outputs.devo.settings"
        )
        configuration.gzip = true
        do {
            let sink = try SyslogStreamSink(
                name: "devo",
                configuration: configuration,
                framer: framer,
                logger: RecordingLogger().logger
            )
            return (listener, sink, output)
        } catch {
            listener.stop()
            throw error
        }
    }

    @Test func gzipModeSendsConsecutiveMembersThatDecodeToTheFramedLines() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let framer = DevoSyslogFramer(hostname: "vm", multiline: .octetCounting)
        let (listener, sink, output) = try await Self.gzipListenerAndSink(in: directory, framer: framer)
        defer { listener.stop() }
        let events = (0..<2_000).map { Event.test("{\"n\":\($0),\"text\":\"línea\\nsegunda\"}") }
        try await sink.write(Self.batch(events))
        try await sink.close()
        let expected = events.map { String(buffer: framer.frame($0)) }.joined()
        #expect(await eventually(timeout: .seconds(10)) { FileManager.default.fileExists(atPath: output + ".members") })
        let decoded = FileManager.default.contents(atPath: output) ?? Data()
        #expect(String(decoding: decoded, as: UTF8.self) == expected)
        let members =
            Int(
                String(decoding: FileManager.default.contents(atPath: output + ".members") ?? Data(), as: UTF8.self)
                    .trimmingCharacters(in: .whitespacesAndNewlines)
            ) ?? 0
        // Every member but the last holds at least 19,968 bytes of lines, and only a little more.
        #expect(members > 3)
        #expect(members <= (expected.utf8.count + 19_967) / 19_968)
    }

    @Test func closingWaitsAtMostOneSecondForAReceiverThatNeverAnswersCloseNotify() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let framer = DevoSyslogFramer(hostname: "vm")
        let (listener, sink, output) = try await Self.gzipListenerAndSink(in: directory, framer: framer, hold: 30)
        defer { listener.stop() }
        let events = (0..<200).map { Event.test("{\"n\":\($0)}") }
        try await sink.write(Self.batch(events))
        let closing = try await ContinuousClock().measure { try await sink.close() }
        // The receiver read the close_notify and holds the connection open for 30 s without answering: the
        // close waited for the answer, then gave up after closeNotifyWait, not after NIO's five seconds: the
        // upper bound is those five seconds, the rest left to a loaded machine.
        #expect(closing >= .milliseconds(900))
        #expect(closing < .seconds(5))
        #expect(await eventually(timeout: .seconds(10)) { FileManager.default.fileExists(atPath: output + ".members") })
        let decoded = FileManager.default.contents(atPath: output) ?? Data()
        #expect(String(decoding: decoded, as: UTF8.self) == events.map { String(buffer: framer.frame($0)) }.joined())
    }
}
