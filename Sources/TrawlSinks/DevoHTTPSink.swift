import CompressNIO
import Logging
import NIOCore
import NIOHTTP1
import TrawlCore

/// The `devo_http` output: Devo's HTTP stream ingestion,
/// `POST <url>/stream/<domain>/token!<token>/<hostname>/<tag>` with newline-separated events, gzip-compressed.
///
/// Unlike syslog, Devo answers each request, so an event counts as delivered only once its request was
/// answered 200. A write sends one request per tag (more when a tag's events pass `maxRequestBytes`), in
/// the order tags first appear; when a later request fails, the events of the answered ones are reported
/// delivered (``PartialDelivery``) and only the others are retried. Newlines inside an event are written
/// as `\n`, since each line of a request is one event.
public final class DevoHTTPSink: EventSink {
    public struct Configuration: Sendable {
        /// The ingestion endpoint, `https://http-us.devo.io` (or -eu, -ca, ...).
        public var url: String
        public var domain: String
        public var token: String
        /// Written as the sending host of every event.
        public var hostname: String
        public var gzip = true
        /// Largest uncompressed request body; Devo takes at most 32 MB per request.
        public var maxRequestBytes = 8 << 20
        public var timeout: Duration = .seconds(60)
        /// Where errors point in the configuration (`outputs.devo_http.settings`).
        public var location: String
        /// The egress proxy of the environment; the one for `url` is used, unless `NO_PROXY` names its host.
        public var proxy = HTTPProxySettings()

        public init(url: String, domain: String, token: String, hostname: String, location: String) {
            self.url = url
            self.domain = domain
            self.token = token
            self.hostname = hostname
            self.location = location
        }
    }

    public let name: String
    public let configuration: Configuration
    private let transport: DevoHTTPTransport

    public init(name: String, configuration: Configuration, logger: Logger) {
        self.name = name
        self.configuration = configuration
        self.transport = DevoHTTPTransport(
            output: name,
            url: configuration.url,
            location: configuration.location,
            timeout: configuration.timeout,
            proxy: configuration.proxy.server(forURL: configuration.url),
            logger: logger
        )
    }

    /// One request's worth of events of one tag.
    struct Request {
        var tag: String
        var body = ByteBuffer()
        var positions: [Int] = []
    }

    public func write(_ batches: [EventBatch]) async throws {
        let requests = try self.requests(batches)
        try await sendInOrder(requests.map { ($0.positions, $0) }) { try await self.send($0) }
    }

    /// The events grouped by tag, in the order tags first appear, cut at `maxRequestBytes`.
    ///
    /// - Throws: ``EventsRefused`` (SinkError 504) naming events longer than a whole request.
    func requests(_ batches: [EventBatch]) throws(EventsRefused) -> [Request] {
        var open: [String: Request] = [:]
        var finished: [Request] = []
        var oversize: [Int] = []
        var position = 0
        for batch in batches {
            for event in batch.events {
                defer { position += 1 }
                var line = ByteBuffer()
                event.body.withUnsafeReadableBytes { body in
                    var content = body
                    if content.last == UInt8(ascii: "\n") {
                        content = UnsafeRawBufferPointer(rebasing: content.dropLast())
                    }
                    appendSanitizedUTF8(content, into: &line, escapeNewlines: true)
                }
                line.writeInteger(UInt8(ascii: "\n"))
                guard line.readableBytes <= self.configuration.maxRequestBytes else {
                    oversize.append(position)
                    continue
                }
                // Taken out of the dictionary while it grows, so its body is appended to in place, never copied.
                var request = open.removeValue(forKey: event.tag) ?? Request(tag: event.tag)
                if request.body.readableBytes + line.readableBytes > self.configuration.maxRequestBytes {
                    finished.append(request)
                    request = Request(tag: event.tag)
                }
                request.body.writeBuffer(&line)
                request.positions.append(position)
                open[event.tag] = request
            }
        }
        guard oversize.isEmpty else {
            throw EventsRefused(
                positions: oversize,
                error: TrawlError(
                    .eventsUndeliverable,
                    "output \(self.name): \(oversize.count) events are larger than max_request_bytes (\(self.configuration.maxRequestBytes))",
                    location: "\(self.configuration.location).max_request_bytes"
                )
            )
        }
        // A request's first event decides its place: each tag's events stay in order.
        return (finished + open.values).sorted { $0.positions[0] < $1.positions[0] }
    }

    private func send(_ request: Request) async throws {
        let (domain, token, host) = (self.configuration.domain, self.configuration.token, self.configuration.hostname)
        let path = "stream/\(domain)/token!\(token)/\(host)/\(request.tag)"
        let shown = "stream/\(domain)/token!\(maskedToken(token))/\(host)/\(request.tag)"
        var body = request.body
        var headers = [("Content-Type", "text/plain; charset=utf-8")]
        if self.configuration.gzip {
            body = try body.compress(with: .gzip)
            headers.append(("Content-Encoding", "gzip"))
        }
        let base = self.configuration.url.hasSuffix("/") ? self.configuration.url : self.configuration.url + "/"
        let answer = try await self.transport.send(
            .POST,
            url: base + path,
            shownURL: base + shown,
            headers: headers,
            body: body
        )
        switch answer.status {
        case 200..<300:
            return
        case 400, 413:
            throw EventsRefused(
                positions: request.positions,
                error: TrawlError(
                    .eventsUndeliverable,
                    "output \(self.name): Devo refused \(request.positions.count) events of \(request.tag) with \(answer.status) \(answer.body.prefix(200))",
                    location: self.configuration.location
                )
            )
        default:
            throw self.transport.unexpected(answer, .POST, base + shown)
        }
    }

    public func close() async throws {
        try await self.transport.shutdown()
    }
}

/// A token as logs and errors show it: `****` and its last four characters.
func maskedToken(_ token: String) -> String {
    "****" + token.suffix(4)
}
