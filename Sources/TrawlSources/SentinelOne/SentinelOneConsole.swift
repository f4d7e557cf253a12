import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import ServiceLifecycle
import Synchronization
import TrawlAWS
import TrawlCore

/// The request pacer of one console, shared by every service of an input: rate limits are the console's,
/// not a service's.
public final class SentinelOneRequestGate: Sendable {
    let pacer: Mutex<SentinelOneRequestPacer<ContinuousClock.Instant>>
    /// When the token's expiry was last asked about (``checkTokenExpiry(_:input:logger:)``).
    let tokenCheckedAt = Mutex<ContinuousClock.Instant?>(nil)
    /// Claimed by the first of the input's services to say that its token goes over plain `http://`.
    let cleartextWarned = OnceFlag()
    /// How far the console's clock is behind this host's, from its answers.
    let consoleClock = Mutex(SentinelOneConsoleClock<ContinuousClock.Instant>())

    public init(configuration: SentinelOneRequestPacer<ContinuousClock.Instant>.Configuration) {
        self.pacer = Mutex(SentinelOneRequestPacer(configuration: configuration))
    }
}

/// A SentinelOne management console (API v2.1) as one service talks to it: its own connection pool, the
/// input's shared ``SentinelOneRequestGate``, and the translation of the console's answers into ApiErrors
/// that say what to check. The token goes in a header and nowhere else: no log line or error carries it.
public final class SentinelOneConsole: Sendable {
    public struct Configuration: Sendable {
        /// `https://<console>` without a trailing slash.
        public var url: String
        public var token: String
        /// Time allowed for one request, answer included.
        public var requestTimeout: Duration
        /// Time allowed to connect (with `retriesConnecting`, the pool keeps trying that long when the console
        /// refuses connections).
        public var connectTimeout: Duration
        /// Answers larger than this are refused (a page of 1,000 records is a few megabytes).
        public var maxAnswerBytes: Int
        /// The egress proxy (`HTTPS_PROXY`, `NO_PROXY`) the console is reached through.
        public var proxy: HTTPProxySettings
        /// Whether a refused or failed connect is tried again until `connectTimeout` before the attempt
        /// counts as failed: a collector rides out a flaky network; a command an operator waits on reports
        /// a refused connection at once.
        public var retriesConnecting: Bool

        public init(
            url: String,
            token: String,
            requestTimeout: Duration = .seconds(60),
            connectTimeout: Duration = .seconds(10),
            maxAnswerBytes: Int = 64 << 20,
            proxy: HTTPProxySettings = HTTPProxySettings(),
            retriesConnecting: Bool = true
        ) {
            self.url = url.hasSuffix("/") ? String(url.dropLast()) : url
            self.token = token
            self.requestTimeout = requestTimeout
            self.connectTimeout = connectTimeout
            self.maxAnswerBytes = maxAnswerBytes
            self.proxy = proxy
            self.retriesConnecting = retriesConnecting
        }
    }

    public static let apiPath = "/web/api/v2.1"

    public let configuration: Configuration
    public let gate: SentinelOneRequestGate
    /// The connection pool, opened by the first request (a console built but never used, as when a
    /// configuration is only validated, holds none) and closed by ``shutdown()``.
    private let pool = Mutex<HTTPClient?>(nil)
    private let clock = ContinuousClock()

    public init(configuration: Configuration, gate: SentinelOneRequestGate) {
        self.configuration = configuration
        self.gate = gate
    }

    private var http: HTTPClient {
        self.pool.withLock { pool in
            if let pool { return pool }
            var configuration = HTTPClient.Configuration()
            configuration.timeout = HTTPClient.Configuration.Timeout(
                connect: .init(self.configuration.connectTimeout),
                read: .init(self.configuration.requestTimeout)
            )
            configuration.redirectConfiguration = .disallow
            configuration.connectionPool.retryConnectionEstablishment = self.configuration.retriesConnecting
            configuration.tunnel(through: self.configuration.proxy.server(forURL: self.configuration.url))
            let client = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
            pool = client
            return client
        }
    }

    /// How many seconds the console's clock was at least behind this host's at its latest answer carrying a
    /// `Date` (0 when not behind); nil before one. Services that read up to `query_lag_in_seconds` before now
    /// take now by the console's clock with it (``SentinelOneConsoleSource/consoleTime(at:)``).
    public var secondsBehindThisHost: Int64? { self.gate.consoleClock.withLock { $0.secondsBehind } }

    private var maxAttempts: Int { self.gate.pacer.withLock { $0.configuration.maxAttempts } }

    /// The pause before retrying after `failures` failures in a row of the network or the console (5xx).
    private func backoff(afterFailures failures: Int) -> Duration {
        let configuration = self.gate.pacer.withLock { $0.configuration }
        return RetryBackoff(initial: configuration.baseDelay, maximum: min(configuration.maxDelay, .seconds(30)))
            .delay(afterFailures: failures)
    }

    /// Waits before another attempt, cut short by a stop like the request itself.
    private func pause(for duration: Duration) async throws {
        try await Self.cutShortByStop { try await ContinuousClock().sleep(for: duration) }
    }

    /// Runs a request or a wait of one that a stop cuts short (`CancellationError`) instead of holding it up for
    /// the console's timeouts and backoff: the sources request only between their commits, so nothing is left
    /// half delivered. One started once Trawl is stopping (cancelling a running Deep Visibility query) runs
    /// to its end.
    private static func cutShortByStop<T: Sendable>(
        _ operation: @Sendable @escaping () async throws -> T
    ) async throws -> T {
        if Task.isShuttingDownGracefully { return try await operation() }
        return try await cancelWhenGracefulShutdown(operation)
    }

    /// Closes the pooled connections, if any were opened; call once when the owner stops.
    public func shutdown() async throws {
        let client = self.pool.withLock { pool -> HTTPClient? in
            defer { pool = nil }
            return pool
        }
        try await client?.shutdown()
    }

    /// `GET <api>/<path>?<query>`; the answer's body.
    ///
    /// - Throws: ApiError 440-448 (``TrawlError``) once retrying cannot help.
    public func get(_ path: String, query: [(String, String)] = [], logger: Logger) async throws -> ByteBuffer {
        try await self.send(.GET, path, query: query, body: nil, logger: logger)
    }

    /// `POST <api>/<path>` with a JSON body; the answer's body.
    ///
    /// - Throws: ApiError 440-448 (``TrawlError``) once retrying cannot help.
    public func post(_ path: String, json body: [UInt8], logger: Logger) async throws -> ByteBuffer {
        try await self.send(.POST, path, query: [], body: body, logger: logger)
    }

    private func send(
        _ method: HTTPMethod,
        _ path: String,
        query: [(String, String)],
        body: [UInt8]?,
        logger: Logger
    ) async throws -> ByteBuffer {
        var url = self.configuration.url + Self.apiPath + path
        if !query.isEmpty {
            url +=
                "?"
                + query.map { "\(AWSPercentEncoding.encode($0.0))=\(AWSPercentEncoding.encode($0.1))" }
                .joined(separator: "&")
        }
        let resource = "\(method) \(Self.apiPath)\(path)"
        var attempt = 0
        var serverFailures = 0
        while true {
            attempt += 1
            let slot = self.gate.pacer.withLock { $0.reserve(now: self.clock.now) }
            try await Self.cutShortByStop { try await ContinuousClock().sleep(until: slot) }
            var request = HTTPClientRequest(url: url)
            request.method = method
            request.headers.add(name: "Authorization", value: "ApiToken \(self.configuration.token)")
            request.headers.add(name: "Accept", value: "application/json")
            if let body {
                request.headers.add(name: "Content-Type", value: "application/json")
                request.body = .bytes(ByteBuffer(bytes: body))
            }
            let status: Int
            let answer: ByteBuffer
            let retryAfter: Duration?
            let redirect: String?
            let date: String?
            let sent = UTCTimestamp.now()
            do {
                (status, answer, retryAfter, redirect, date) = try await Self.cutShortByStop { [request] in
                    let response = try await self.http.execute(
                        request,
                        timeout: .init(self.configuration.requestTimeout),
                        logger: logger
                    )
                    let retryAfter = response.headers.first(name: "Retry-After").flatMap(Int.init).map {
                        Duration.seconds($0)
                    }
                    let answer = try await response.body.collect(upTo: self.configuration.maxAnswerBytes)
                    return (
                        Int(response.status.code), answer, retryAfter, response.headers.first(name: "Location"),
                        response.headers.first(name: "Date")
                    )
                }
            } catch let error as CancellationError {
                throw error
            } catch let error as NIOTooManyBytesError {
                // The same request would answer as much again: refused at once, not retried.
                throw TrawlError(
                    .sentinelOneAnswerUnreadable,
                    "\(resource) answered more than \(error.maxBytes ?? self.configuration.maxAnswerBytes) bytes: refused rather than held in memory",
                    location: self.configuration.url,
                    fix:
                        "Lower page_size (the records asked for per request); the service retries at its next interval."
                )
            } catch {
                guard attempt < self.maxAttempts else {
                    throw TrawlError(
                        .sentinelOneUnreachable,
                        "\(resource) failed \(attempt) times: \(NetworkFailure.describe(error))",
                        location: self.configuration.url
                    )
                }
                let pause = self.backoff(afterFailures: attempt)
                logger.warning("\(resource) failed (\(NetworkFailure.describe(error))); retrying in \(pause)")
                try await self.pause(for: pause)
                continue
            }
            switch status {
            case 200..<300:
                self.gate.pacer.withLock { $0.accepted() }
                self.gate.consoleClock.withLock { $0.answered(date: date, sent: sent) }
                return answer
            case 429, 503:
                let pause = self.gate.pacer.withLock {
                    $0.refused(now: self.clock.now, retryAfter: retryAfter, random: Double.random(in: 0..<1))
                }
                guard attempt < self.maxAttempts else {
                    throw TrawlError(
                        .sentinelOneThrottled,
                        "\(resource) was refused with \(status) \(attempt) times in a row",
                        location: self.configuration.url
                    )
                }
                logger.warning(
                    "SentinelOne console answered \(status) to \(resource): every request to it pauses \(pause)\(retryAfter.map { " (Retry-After \($0))" } ?? "")"
                )
            case 300..<400:
                throw TrawlError(
                    .sentinelOneRedirected,
                    "\(resource) answered \(status), redirecting to \(redirectTarget(redirect))",
                    location: self.configuration.url
                )
            case 500..<600:
                serverFailures += 1
                guard attempt < self.maxAttempts else {
                    throw TrawlError(
                        .sentinelOneServerError,
                        "\(resource) answered \(status) \(attempt) times: \(Self.detail(answer))",
                        location: self.configuration.url
                    )
                }
                let pause = self.backoff(afterFailures: serverFailures)
                logger.warning("\(resource) answered \(status); retrying in \(pause)")
                try await self.pause(for: pause)
            default:
                let code: TrawlError.Code
                switch status {
                case 401: code = .sentinelOneUnauthorized
                case 403: code = .sentinelOneForbidden
                case 404: code = .sentinelOneNotFound
                default: code = .sentinelOneBadRequest
                }
                throw TrawlError(
                    code,
                    "\(resource) answered \(status): \(Self.detail(answer))",
                    location: self.configuration.url
                )
            }
        }
    }

    /// The console's own words from an error answer (`errors[0].title` and `detail`), or its first bytes.
    static func detail(_ answer: ByteBuffer) -> String {
        let data = Data(answer.readableBytesView)
        if let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
            let first = (object["errors"] as? [[String: Any]])?.first
        {
            let title = first["title"] as? String ?? "error"
            if let detail = first["detail"] as? String { return "\(title): \(detail)" }
            return title
        }
        return String(decoding: answer.readableBytesView.prefix(200), as: UTF8.self)
    }
}
