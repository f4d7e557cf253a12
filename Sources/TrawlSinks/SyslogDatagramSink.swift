import Logging
import NIOCore
import NIOPosix
import Synchronization
import TrawlCore

/// The `syslog` output over UDP: one Devo syslog line per datagram (RFC 5426, without the trailing newline).
///
/// UDP has no acknowledgement: a datagram counts as delivered once the kernel accepted it. The socket is
/// connected, so a receiver that is down (ICMP port unreachable) fails the next write and the events wait
/// in the spool like for any output. An event whose line is longer than `maxMessageBytes` would be cut or
/// dropped by the receiver: it is refused before anything is sent (SinkError 504) and set aside.
public final class SyslogDatagramSink: EventSink {
    public struct Configuration: Sendable {
        public var host: String
        public var port: Int
        /// Longest datagram sent; the receiver's limit (rsyslog's maxMessageSize defaults to 8 KiB).
        public var maxMessageBytes: Int
        /// Where errors point in the configuration (`outputs.syslog.settings`).
        public var location: String

        public init(host: String, port: Int, maxMessageBytes: Int = 8_192, location: String) {
            self.host = host
            self.port = port
            self.maxMessageBytes = maxMessageBytes
            self.location = location
        }
    }

    public let name: String
    public let configuration: Configuration
    private let framer: DevoSyslogFramer
    private let logger: Logger
    private let group: any EventLoopGroup
    private let channel = Mutex<(any Channel)?>(nil)

    public init(
        name: String,
        configuration: Configuration,
        framer: DevoSyslogFramer,
        logger: Logger,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) {
        self.name = name
        self.configuration = configuration
        self.framer = framer
        self.logger = logger
        self.group = group
    }

    public var accepts: EventKinds { self.framer.accepts }

    public var address: String { "\(self.configuration.host):\(self.configuration.port) (udp)" }

    public func write(_ batches: [EventBatch]) async throws {
        let datagrams = try self.datagrams(batches)
        guard !datagrams.isEmpty else { return }
        let channel = try await self.currentChannel()
        do {
            let sent = datagrams.map { channel.write($0) }
            channel.flush()
            try await EventLoopFuture.andAllSucceed(sent, on: channel.eventLoop).get()
        } catch {
            self.drop(channel)
            throw TrawlError(
                .sinkWriteFailed,
                "output \(self.name) could not send to \(self.address): \(NetworkFailure.describe(error))",
                location: self.configuration.location
            )
        }
    }

    /// One datagram per line (a lookup update gives several), without the line's final newline.
    ///
    /// - Throws: ``EventsRefused`` naming the events with a line over `maxMessageBytes` or a corrupt lookup.
    func datagrams(_ batches: [EventBatch]) throws(EventsRefused) -> [ByteBuffer] {
        var datagrams: [ByteBuffer] = []
        var oversize: [Int] = []
        var largest = 0
        var position = 0
        for batch in batches {
            for event in batch.events {
                defer { position += 1 }
                var lines = ByteBuffer()
                do {
                    try self.framer.frameLines(event, into: &lines)
                } catch {
                    throw EventsRefused.malformedLookups(
                        [position],
                        error,
                        output: self.name,
                        location: self.configuration.location
                    )
                }
                var eventDatagrams: [ByteBuffer] = []
                while let line = lines.readLineWithoutNewline() { eventDatagrams.append(line) }
                if let longest = eventDatagrams.map(\.readableBytes).max(), longest > self.configuration.maxMessageBytes
                {
                    oversize.append(position)
                    largest = max(largest, longest)
                } else {
                    datagrams += eventDatagrams
                }
            }
        }
        guard oversize.isEmpty else {
            throw EventsRefused(
                positions: oversize,
                error: TrawlError(
                    .eventsUndeliverable,
                    "output \(self.name): \(oversize.count) events are longer than max_message_bytes "
                        + "(\(self.configuration.maxMessageBytes) bytes; the longest is \(largest) bytes) and cannot go in one UDP datagram",
                    location: "\(self.configuration.location).max_message_bytes",
                    fix:
                        "Raise max_message_bytes up to what the receiver accepts (at most 65507), or use protocol: tcp or tls."
                )
            )
        }
        return datagrams
    }

    public func close() async throws {
        if let channel = self.channel.withLock({ slot -> (any Channel)? in
            defer { slot = nil }
            return slot
        }) {
            try? await channel.close()
        }
    }

    private func currentChannel() async throws -> any Channel {
        if let open = self.channel.withLock({ $0 }), open.isActive { return open }
        let channel: any Channel
        do {
            channel = try await DatagramBootstrap(group: self.group)
                .connect(host: self.configuration.host, port: self.configuration.port)
                .get()
        } catch {
            throw TrawlError(
                .receiverUnreachable,
                "output \(self.name) cannot reach \(self.address): \(NetworkFailure.describe(error))",
                location: self.configuration.location
            )
        }
        self.channel.withLock { $0 = channel }
        self.logger.info("Sending to \(self.address)", metadata: ["output.name": "\(self.name)"])
        return channel
    }

    private func drop(_ channel: any Channel) {
        self.channel.withLock { slot in
            if let open = slot, open === channel { slot = nil }
        }
        channel.close(promise: nil)
    }
}

extension ByteBuffer {
    /// The next line without its newline (escape-framed lines hold no other newline).
    fileprivate mutating func readLineWithoutNewline() -> ByteBuffer? {
        guard self.readableBytes > 0 else { return nil }
        let end = self.withUnsafeReadableBytes { $0.firstIndex(of: UInt8(ascii: "\n")) } ?? self.readableBytes
        let line = self.readSlice(length: end)
        self.moveReaderIndex(forwardBy: min(1, self.readableBytes))
        return line
    }
}
