import CompressNIO
import Logging
import Metrics
import NIOCore
import NIOPosix
import NIOSSL
import NIOTLS
import Synchronization
import TrawlCore

/// Sends Devo syslog lines over one TCP or TLS stream: the `devo` output (mutual TLS to a Devo relay) and
/// the `relay` output (an in-house relay).
///
/// It connects on demand and, as Devo's SDK does, opens a new connection when the current one is older
/// than an hour, idle for more than 30 s, or closed by the peer. A batch counts as delivered only once its
/// bytes were written to the socket and flushed without error; on any failure the connection is dropped
/// and the error thrown, so the runtime retries the batch with backoff.
///
/// With `senders` above one it keeps that many connections, as Devo's SDK keeps several senders: a chunk's
/// records are cut into parts of about equal bytes, each framed and sent over its own connection at the same
/// time (one TCP stream is bound by its window over the round trip to a distant relay, and one connection's
/// encryption by one core, so each sender connects on an event loop of its own). Their order across
/// connections is not kept. When some parts were sent and another failed, the sent ones are reported
/// delivered (``PartialDelivery``) and only the rest is retried.
/// Lookups and gzip members go over the first connection, in order.
public final class SyslogStreamSink: EventSink {
    public struct Configuration: Sendable {
        public var host: String
        public var port: Int
        public var tls: SyslogTLSFiles?
        /// Where errors point in the configuration (`outputs.devo.settings`).
        public var location: String
        public var connectTimeout: Duration = .seconds(10)
        public var writeTimeout: Duration = .seconds(60)
        public var maximumConnectionAge: Duration = .seconds(3600)
        public var maximumIdleTime: Duration = .seconds(30)
        /// After a TLS 1.3 handshake the receiver may still refuse the client certificate; this long is
        /// waited for such a refusal before the first write.
        public var refusalWindow: Duration = .milliseconds(300)
        /// How many framed bytes go to the connection in one flush while a chunk is being framed.
        public var streamPieceBytes = 256 << 10
        /// Send the framed lines as consecutive gzip members of about `gzipMemberBytes` each (no length
        /// prefix), as devo-sdk's compressed mode does.
        public var gzip = false
        public var gzipMemberBytes = 19_968
        /// Connections records are sent over at the same time (`senders`).
        public var senders = 1

        public init(host: String, port: Int, tls: SyslogTLSFiles?, location: String) {
            self.host = host
            self.port = port
            self.tls = tls
            self.location = location
        }
    }

    private struct Connection {
        var channel: any Channel
        var openedAt: ContinuousClock.Instant
        var lastWriteAt: ContinuousClock.Instant
    }

    public let name: String
    public let configuration: Configuration
    private let framer: DevoSyslogFramer
    private let logger: Logger
    private let context: NIOSSLContext?
    /// The group's event loops: sender n connects on loop n (modulo their number), so several senders
    /// encrypt and send on as many threads. Letting the group pick (round robin, shared with every other
    /// client of the group) put two senders on one loop as often as not.
    private let eventLoops: [any EventLoop]
    /// One slot per sender.
    private let connections: Mutex<[Connection?]>

    /// A sink using `context` (from ``SyslogTLSFiles/makeContext(location:)``, built when the configuration
    /// is validated) when `configuration.tls` is set.
    public init(
        name: String,
        configuration: Configuration,
        context: NIOSSLContext?,
        framer: DevoSyslogFramer,
        logger: Logger,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) {
        self.name = name
        self.configuration = configuration
        self.framer = framer
        self.logger = logger
        self.eventLoops = Array(group.makeIterator())
        self.context = context
        self.connections = Mutex(Array(repeating: nil, count: max(1, configuration.senders)))
        if let expiry = configuration.tls?.earliestExpiry() {
            Gauge(label: "trawl_output_certificate_expiry_timestamp_seconds", dimensions: [("output", name)])
                .record(expiry.validUntil.date.secondsSinceEpoch)
            if expiry.validUntil.isNear() {
                logger.warning(
                    "Output \(name): the \(expiry.what) \(expiry.validUntil.description()); the receiver refuses it from then on: get a new one (Devo: Administration > Credentials > X.509) and replace the file before then"
                )
            }
        }
    }

    /// A sink that builds its TLS context from `configuration.tls` now (SetupError 17 when it cannot).
    public convenience init(
        name: String,
        configuration: Configuration,
        framer: DevoSyslogFramer,
        logger: Logger
    ) throws {
        self.init(
            name: name,
            configuration: configuration,
            context: try configuration.tls?.makeContext(location: configuration.location),
            framer: framer,
            logger: logger
        )
    }

    public var address: String { "\(self.configuration.host):\(self.configuration.port)" }

    public var accepts: EventKinds { self.framer.accepts }

    public var senders: Int { max(1, self.configuration.senders) }

    public func write(_ batches: [EventBatch]) async throws {
        if !self.configuration.gzip, !batches.contains(where: { $0.events.contains { $0.kind == .lookup } }) {
            try await self.stream(batches)
            return
        }
        var framed = ByteBuffer()
        var eventEnds: [Int]? = self.configuration.gzip ? [] : nil
        try self.framer.frame(batches, into: &framed, output: self.name, eventEnds: &eventEnds)
        let payload = try eventEnds.map { try self.gzipMembers(framed, eventEnds: $0) } ?? framed
        guard payload.readableBytes > 0 else { return }
        try await self.send(sender: 0) { channel in try await channel.writeAndFlush(payload).get() }
    }

    /// Records framed and written in pieces of about `streamPieceBytes`, each flushed as soon as it is
    /// framed, so the event loop encrypts and sends one piece while the next is framed; the batches count as
    /// delivered once every piece was flushed. With several senders, each part of the records goes over its
    /// own connection at the same time. (Lookups and gzip are framed whole first: a malformed lookup is
    /// refused before anything is sent, and gzip members are cut at event ends.)
    private func stream(_ batches: [EventBatch]) async throws {
        guard batches.contains(where: { !$0.events.isEmpty }) else { return }
        let parts = self.parts(of: batches)
        guard parts.count > 1 else {
            try await self.stream(batches, events: parts[0], sender: 0)
            return
        }
        let failures = await withTaskGroup(of: (Int, (any Error)?).self) { group in
            for (sender, part) in parts.enumerated() {
                group.addTask {
                    do {
                        try await self.stream(batches, events: part, sender: sender)
                        return (sender, nil)
                    } catch {
                        return (sender, error)
                    }
                }
            }
            return await group.reduce(into: [Int: any Error]()) { failures, result in
                if let error = result.1 { failures[result.0] = error }
            }
        }
        guard let failure = failures.min(by: { $0.key < $1.key })?.value else { return }
        let delivered = parts.indices.filter { failures[$0] == nil }.flatMap { parts[$0] }
        guard !delivered.isEmpty else { throw failure }
        throw PartialDelivery(delivered: delivered, failure: failure)
    }

    /// The records' flat positions (batches in order) cut into one range per sender, of about equal bytes;
    /// fewer when the records fill fewer than a piece per sender.
    func parts(of batches: [EventBatch]) -> [Range<Int>] {
        let count = batches.reduce(0) { $0 + $1.events.count }
        guard self.senders > 1 else { return [0..<count] }
        let total = batches.reduce(0) { sum, batch in batch.events.reduce(sum) { $0 + $1.body.readableBytes } }
        let wanted = min(self.senders, max(1, total / self.configuration.streamPieceBytes), count)
        guard wanted > 1 else { return [0..<count] }
        var parts: [Range<Int>] = []
        var start = 0
        var position = 0
        var bytes = 0
        for batch in batches {
            for event in batch.events {
                bytes += event.body.readableBytes
                position += 1
                if parts.count < wanted - 1, bytes * wanted >= total * (parts.count + 1) {
                    parts.append(start..<position)
                    start = position
                }
            }
        }
        parts.append(start..<count)
        return parts
    }

    /// Streams the records at flat positions `events` over the connection of `sender`.
    private func stream(_ batches: [EventBatch], events: Range<Int>, sender: Int) async throws {
        let pieceBytes = self.configuration.streamPieceBytes
        try await self.send(sender: sender) { channel in
            var written: [EventLoopFuture<Void>] = []
            var piece = ByteBuffer()
            piece.reserveCapacity(pieceBytes + 4096)
            var position = 0
            for batch in batches {
                let first = position
                position += batch.events.count
                guard position > events.lowerBound, first < events.upperBound else { continue }
                let within = max(events.lowerBound, first) - first..<min(events.upperBound, position) - first
                for event in batch.events[within] {
                    self.framer.frame(event, into: &piece)
                    if piece.readableBytes >= pieceBytes {
                        written.append(channel.writeAndFlush(piece))
                        piece = ByteBuffer()
                        piece.reserveCapacity(pieceBytes + 4096)
                    }
                }
            }
            if piece.readableBytes > 0 { written.append(channel.writeAndFlush(piece)) }
            for future in written { try await future.get() }
        }
    }

    /// Runs `body` with the current connection of `sender` within the write timeout; on failure drops the
    /// connection and throws SinkError 500.
    private func send(sender: Int, _ body: @Sendable (any Channel) async throws -> Void) async throws {
        let channel = try await self.currentChannel(sender: sender)
        do {
            try await Self.withTimeout(self.configuration.writeTimeout, on: channel) { try await body(channel) }
            self.connections.withLock { $0[sender]?.lastWriteAt = .now }
        } catch {
            self.drop(channel, sender: sender)
            throw TrawlError(
                .sinkWriteFailed,
                "output \(self.name) could not write to \(self.address): \(NetworkFailure.describe(error))",
                location: self.configuration.location
            )
        }
    }

    /// The framed lines as gzip members, each holding whole events' lines up to about `gzipMemberBytes`.
    private func gzipMembers(_ framed: ByteBuffer, eventEnds: [Int]) throws -> ByteBuffer {
        var output = ByteBuffer()
        var memberStart = framed.readerIndex
        for (index, end) in eventEnds.enumerated()
        where end - memberStart >= self.configuration.gzipMemberBytes || index == eventEnds.count - 1 {
            guard end > memberStart else { continue }
            var member = framed.getSlice(at: memberStart, length: end - memberStart)!
            var compressed = try member.compress(with: .gzip)
            output.writeBuffer(&compressed)
            memberStart = end
        }
        return output
    }

    public func close() async throws {
        let channels = self.connections.withLock { slots -> [any Channel] in
            defer { slots = slots.map { _ in nil } }
            return slots.compactMap { $0?.channel }
        }
        // At once: a TLS close waits (up to ``SyslogTLSFiles/closeNotifyWait``) for the receiver's close_notify.
        await withTaskGroup(of: Void.self) { group in
            for channel in channels { group.addTask { try? await channel.close() } }
        }
    }

    /// The open connection of `sender`, or a new one when there is none or it is closed, too old or idle too
    /// long.
    private func currentChannel(sender: Int) async throws -> any Channel {
        let now = ContinuousClock.now
        let (current, reason) = self.connections.withLock { slots -> ((any Channel)?, String?) in
            guard let open = slots[sender] else { return (nil, nil) }
            if !open.channel.isActive { return (open.channel, "the receiver closed it") }
            if now - open.openedAt > self.configuration.maximumConnectionAge {
                return (open.channel, "it is over an hour old")
            }
            if now - open.lastWriteAt > self.configuration.maximumIdleTime { return (open.channel, "it was idle") }
            return (open.channel, nil)
        }
        if let current, reason == nil { return current }
        if let current, let reason {
            self.logger.debug(
                "Reconnecting to \(self.address) because \(reason)",
                metadata: ["output.name": "\(self.name)"]
            )
            self.drop(current, sender: sender)
        }
        let channel = try await self.connect(sender: sender)
        self.connections.withLock { $0[sender] = Connection(channel: channel, openedAt: .now, lastWriteAt: .now) }
        let which = self.senders > 1 ? " (sender \(sender + 1) of \(self.senders))" : ""
        self.logger.info(
            "Connected to \(self.address)\(self.context == nil ? "" : " over TLS")\(which)",
            metadata: ["output.name": "\(self.name)"]
        )
        return channel
    }

    private func drop(_ channel: any Channel, sender: Int) {
        self.connections.withLock { slots in
            if let open = slots[sender], open.channel === channel { slots[sender] = nil }
        }
        channel.close(promise: nil)
    }

    /// The event loops of the open connections, by sender (nil where a sender has none).
    var connectionEventLoops: [(any EventLoop)?] {
        self.connections.withLock { slots in slots.map { $0?.channel.eventLoop } }
    }

    private func connect(sender: Int) async throws -> any Channel {
        let context = self.context
        let serverName = Self.isIPAddress(self.configuration.host) ? nil : self.configuration.host
        let loop = self.eventLoops[sender % self.eventLoops.count]
        let handshake = loop.makePromise(of: Void.self)
        let bootstrap = ClientBootstrap(group: loop)
            .connectTimeout(
                TimeAmount(self.configuration.connectTimeout)
            )
            .channelOption(.socketOption(.so_keepalive), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let context {
                        try channel.pipeline.syncOperations.addHandler(
                            NIOSSLClientHandler(context: context, serverHostname: serverName)
                        )
                    }
                    try channel.pipeline.syncOperations.addHandler(
                        ReceiverWatcher(handshake: context == nil ? nil : handshake)
                    )
                }
            }
        let channel: any Channel
        do {
            channel = try await bootstrap.connect(host: self.configuration.host, port: self.configuration.port).get()
        } catch {
            handshake.fail(error)
            throw TrawlError(
                .receiverUnreachable,
                "output \(self.name) cannot connect to \(self.address): \(NetworkFailure.describe(error))",
                location: self.configuration.location
            )
        }
        guard context != nil else {
            handshake.succeed(())
            return channel
        }
        do {
            try await Self.withTimeout(self.configuration.connectTimeout, on: channel) {
                try await handshake.futureResult.get()
            }
            // TLS 1.3 servers judge the client certificate after the handshake: give a refusal time to arrive.
            try await Task.sleep(for: self.configuration.refusalWindow)
            guard channel.isActive else { throw ReceiverClosed() }
            return channel
        } catch {
            channel.close(promise: nil)
            throw TrawlError(
                .receiverRejectedTLS,
                "output \(self.name): the TLS handshake with \(self.address) failed: \(NetworkFailure.describe(error))",
                location: self.configuration.location
            )
        }
    }

    static func isIPAddress(_ host: String) -> Bool {
        host.contains(":")
            || host.split(separator: ".").count == 4 && host.split(separator: ".").allSatisfy { UInt8($0) != nil }
    }

    /// Runs `body`, closing `channel` (which fails the pending operation) if it takes longer than `timeout`.
    static func withTimeout<T: Sendable>(
        _ timeout: Duration,
        on channel: any Channel,
        _ body: @Sendable () async throws -> T
    ) async throws -> T {
        let deadline = channel.eventLoop.scheduleTask(in: TimeAmount(timeout)) { channel.close(promise: nil) }
        defer { deadline.cancel() }
        return try await body()
    }
}

/// The receiver closed the connection right after the handshake (it refused the client certificate).
struct ReceiverClosed: Error, CustomStringConvertible {
    var description: String { "the receiver closed the connection after the handshake (client certificate refused?)" }
}

/// Discards what the receiver sends (a syslog receiver sends nothing), reports the end of the TLS
/// handshake, and turns errors (TLS alerts) into a closed channel so the next write reconnects.
final class ReceiverWatcher: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer

    private let handshake: EventLoopPromise<Void>?

    init(handshake: EventLoopPromise<Void>?) {
        self.handshake = handshake
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {}

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? TLSUserEvent, case .handshakeCompleted = event {
            self.handshake?.succeed(())
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        self.handshake?.fail(error)
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.handshake?.fail(ReceiverClosed())
        context.fireChannelInactive()
    }
}
