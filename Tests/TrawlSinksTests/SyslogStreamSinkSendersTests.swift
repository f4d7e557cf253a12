import Foundation
import NIOCore
import NIOPosix
import Testing
import TrawlCore
import TrawlTesting

@testable import TrawlSinks

/// Several senders against a plain TCP receiver that stops reading one of the connections: the parts the
/// other connections sent are reported delivered, and only the stalled part is sent again.
@Suite struct SyslogStreamSinkSendersTests {
    /// Reads each connection into `<out>.<n>` (n counts connections in the order their first bytes
    /// arrive, so the port probe that sends nothing is not counted) and never reads connection `stall` past
    /// its first bytes, which it discards. The listening socket's small receive buffer lets the stalled
    /// connection fill up soon.
    static let receiver = """
        import socket, sys, threading
        out, stall = sys.argv[1], int(sys.argv[2])
        server = socket.socket()
        server.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        server.bind(('127.0.0.1', 0))
        server.listen(16)
        print(server.getsockname()[1], flush=True)
        lock, counted, held = threading.Lock(), [0], []
        def read(connection):
            data = connection.recv(65536)
            if not data:
                return
            with lock:
                counted[0] += 1
                n = counted[0]
            if n == stall:
                held.append(connection)
                return
            with open(f'{out}.{n}', 'wb') as f:
                while data:
                    f.write(data)
                    data = connection.recv(65536)
        while True:
            connection, _ = server.accept()
            threading.Thread(target=read, args=(connection,), daemon=True).start()
        """

    /// Plain TCP to the receiver on loopback at `port`, over `senders` connections.
    static func configuration(port: Int, senders: Int) -> SyslogStreamSink.Configuration {
        var configuration = SyslogStreamSink.Configuration(
            host: "127.0.0.1",
            port: port,
            tls: nil,
            location: "outputs.relay.settings"
        )
        configuration.senders = senders
        return configuration
    }

    @Test func aStalledSenderFailsOnlyItsPartAndTheOthersAreReportedDelivered() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let out = "\(directory.path)/received"
        let peer = try await PeerProcess([PeerProcess.python, "-c", Self.receiver, out, "2"], port: 0)
        defer { peer.stop() }
        var configuration = Self.configuration(port: peer.port, senders: 3)
        configuration.writeTimeout = .seconds(2)
        let log = RecordingLogger()
        let sink = try SyslogStreamSink(
            name: "relay",
            configuration: configuration,
            framer: DevoSyslogFramer(hostname: "vm", multiline: .escape),
            logger: log.logger
        )
        // Three parts of about 6 MB: more than a connection's socket buffers hold when nobody reads it.
        let bodies = (0..<18_000).map { "{\"n\":\($0),\"pad\":\"\(String(repeating: "p", count: 1_000))\"}" }
        let batches = stride(from: 0, to: bodies.count, by: 500).map { start in
            EventBatch(
                events: bodies[start..<min(start + 500, bodies.count)].map { Event.test($0) },
                acknowledgement: Acknowledgement(unit: "test")
            )
        }
        let parts = sink.parts(of: batches)
        #expect(parts.count == 3)
        let partial = await #expect(throws: PartialDelivery.self) { try await sink.write(batches) }
        let delivered = try #require(partial?.delivered)
        let sentParts = parts.filter { Set(delivered).isSuperset(of: $0) }
        #expect(sentParts.count == 2, "two parts were sent and one stalled")
        #expect(delivered == sentParts.flatMap { Array($0) })
        #expect("\(try #require(partial?.failure))".contains("could not write to 127.0.0.1:\(peer.port)"))

        // The runtime retries only what was not delivered: the stalled sender connects again.
        try await sink.write(batches.removingEvents(at: delivered))
        try await sink.close()
        let lines = bodies.map { "<14>Jan  1 00:00:00 vm my.app.test.event: \($0)\n" }
        let expectedBytes = lines.reduce(0) { $0 + $1.utf8.count }
        var received: [String] = []
        let complete = await eventually(timeout: .seconds(30)) {
            let files = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
            received = files.filter { $0.hasPrefix("received.") }.compactMap {
                try? String(contentsOfFile: "\(directory.path)/\($0)", encoding: .utf8)
            }
            return received.reduce(0) { $0 + $1.utf8.count } >= expectedBytes
        }
        #expect(complete)
        let receivedLines = received.flatMap { $0.split(separator: "\n").map { "\($0)\n" } }
        #expect(receivedLines.count == lines.count)
        #expect(receivedLines.sorted() == lines.sorted(), "every line once, the stalled part sent again")
        // Three connections and the stalled sender's new one; a connection dropped for a reason it logs (once
        // seen in a full local run under load: two more connects) is not what this test is about.
        let connects = log.messages(containing: "Connected to 127.0.0.1:\(peer.port) (sender").count
        let explained = log.messages(containing: "Reconnecting to 127.0.0.1:\(peer.port) because")
        #expect(connects - explained.count == 4, "\(connects) connects; reconnects with a reason: \(explained)")
    }

    @Test func eachSenderConnectsOnAnEventLoopOfItsOwn() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let peer = try await PeerProcess(
            [PeerProcess.python, "-c", Self.receiver, "\(directory.path)/received", "0"],
            port: 0
        )
        defer { peer.stop() }
        // A group of its own, used by nothing else: with round robin, each connection asking the group for a
        // loop twice, both connections came to the same loop. It is shut down (closing what is still open on it)
        // however the test ends.
        let loops = try await MultiThreadedEventLoopGroup.withEventLoopGroup(numberOfThreads: 2) { group in
            let sink = SyslogStreamSink(
                name: "relay",
                configuration: Self.configuration(port: peer.port, senders: 2),
                context: nil,
                framer: DevoSyslogFramer(hostname: "vm", multiline: .escape),
                logger: RecordingLogger().logger,
                group: group
            )
            // One event first (one part: only the first sender connects), then about 2 MB (two parts, one per
            // sender: the second connects), so the connections are made one after the other.
            let small = EventBatch(events: [Event.test("{\"n\":-1}")], acknowledgement: Acknowledgement(unit: "test"))
            let pad = String(repeating: "p", count: 1_000)
            let batch = EventBatch(
                events: (0..<2_000).map { Event.test("{\"n\":\($0),\"pad\":\"\(pad)\"}") },
                acknowledgement: Acknowledgement(unit: "test")
            )
            #expect(sink.parts(of: [small]).count == 1)
            #expect(sink.parts(of: [batch]).count == 2)
            try await sink.write([small])
            try await sink.write([batch])
            let loops = sink.connectionEventLoops.compactMap { $0 }
            try await sink.close()
            return loops
        }
        #expect(loops.count == 2)
        #expect(Set(loops.map { ObjectIdentifier($0) }).count == 2, "the two senders on two event loops")
    }
}
