import AsyncHTTPClient
import Logging
import NIOCore
import NIOHTTP1
import TrawlCore

/// The HTTP requests of the `devo_http` and `devo_lookups` outputs: pooled connections, a timeout, and
/// Devo's answers turned into Trawl errors. Tokens never appear in errors or logs: callers pass the URL to
/// show with the token masked.
final class DevoHTTPTransport: Sendable {
    /// What Devo answered.
    struct Answer: Sendable {
        var status: UInt
        var body: String
        /// Where a redirect (3xx) points: not followed, since a POST would arrive there as an empty GET.
        var redirect: String? = nil
    }

    let output: String
    let location: String
    let timeout: Duration
    /// The egress proxy requests are tunnelled through; nil when they connect directly.
    let proxy: HTTPProxySettings.Server?
    private let client: HTTPClient
    private let logger: Logger

    init(
        output: String,
        url: String,
        location: String,
        timeout: Duration,
        proxy: HTTPProxySettings.Server?,
        logger: Logger
    ) {
        if sendsInCleartext(url) {
            logger.warning(
                "Output \(output): url \(url) is http://: its token and every event cross the network unencrypted; use https://",
                metadata: ["output.name": "\(output)"]
            )
        }
        self.output = output
        self.location = location
        self.timeout = timeout
        self.proxy = proxy
        self.logger = logger
        var configuration = HTTPClient.Configuration()
        configuration.timeout = .init(connect: .seconds(10))
        configuration.decompression = .disabled
        configuration.redirectConfiguration = .disallow
        configuration.tunnel(through: proxy)
        self.client = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
    }

    func shutdown() async throws {
        try await self.client.shutdown()
    }

    /// Sends the request and returns Devo's answer, whatever its status, except for 401 and 403.
    ///
    /// - Throws: SinkError 502 when Devo cannot be reached or does not answer in time, 505 when it refuses
    ///   the token.
    func send(
        _ method: HTTPMethod,
        url: String,
        shownURL: String,
        headers: [(String, String)],
        body: ByteBuffer?
    ) async throws(TrawlError) -> Answer {
        var request = HTTPClientRequest(url: url)
        request.method = method
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let body { request.body = .bytes(body) }
        let answer: Answer
        do {
            let response = try await self.client.execute(
                request,
                timeout: TimeAmount(self.timeout),
                logger: self.logger
            )
            // Only the start of the body is kept for messages: a long answer is no failure, and a 200 whose
            // body was refused for its length would have the delivered events sent again.
            var text = ByteBuffer()
            for try await var chunk in response.body where text.readableBytes < 1 << 16 {
                text.writeBuffer(&chunk)
            }
            answer = Answer(
                status: response.status.code,
                body: String(buffer: text),
                redirect: response.headers.first(name: "Location")
            )
        } catch {
            if let proxy = self.proxy, HTTPProxySettings.isRefusedTunnel(error) {
                throw TrawlError(
                    .receiverUnreachable,
                    "output \(self.output): \(method) \(shownURL) failed: the proxy \(proxy) of HTTPS_PROXY/HTTP_PROXY refused the tunnel (\(error))",
                    location: self.location,
                    fix: HTTPProxySettings.refusedTunnelFix
                )
            }
            let through = self.proxy.map { " (through the proxy \($0))" } ?? ""
            throw TrawlError(
                .receiverUnreachable,
                "output \(self.output): \(method) \(shownURL) failed\(through): \(NetworkFailure.describe(error))",
                location: self.location
            )
        }
        self.logger.debug(
            "\(method) \(shownURL) answered \(answer.status)",
            metadata: ["output.name": "\(self.output)", "http.status": "\(answer.status)"]
        )
        if answer.status == 401 || answer.status == 403 {
            throw TrawlError(
                .receiverRefusedToken,
                "output \(self.output): \(method) \(shownURL) answered \(answer.status) \(answer.body.prefix(200))",
                location: "\(self.location).token"
            )
        }
        return answer
    }

    /// A retryable failure for any other unexpected status (429, 5xx, a redirect).
    func unexpected(_ answer: Answer, _ method: HTTPMethod, _ shownURL: String) -> TrawlError {
        if (300..<400).contains(answer.status) {
            return TrawlError(
                .sinkWriteFailed,
                "output \(self.output): \(method) \(shownURL) answered \(answer.status), redirecting to \(redirectTarget(answer.redirect)): Trawl does not follow redirects (a POST would arrive as an empty GET)",
                location: self.location,
                fix:
                    "If that address is Devo's endpoint, set the output's url to it; otherwise check the proxy in between."
            )
        }
        return TrawlError(
            .sinkWriteFailed,
            "output \(self.output): \(method) \(shownURL) answered \(answer.status) \(answer.body.prefix(200))",
            location: self.location
        )
    }
}

/// Sends `units` one after another, each covering the write's events at its `positions`. When one fails
/// after others were answered, the answered ones are reported as a ``PartialDelivery`` so they are not sent
/// again; a refusal of a later unit is reported the same way, and is set aside when the retry offers it
/// first.
func sendInOrder<Unit>(
    _ units: [(positions: [Int], unit: Unit)],
    _ send: (Unit) async throws -> Void
) async throws {
    var delivered: [Int] = []
    for (positions, unit) in units {
        do {
            try await send(unit)
        } catch let refusal as EventsRefused where !delivered.isEmpty {
            throw PartialDelivery(delivered: delivered, failure: refusal.error)
        } catch {
            if delivered.isEmpty { throw error }
            throw PartialDelivery(delivered: delivered, failure: error)
        }
        delivered += positions
    }
}
