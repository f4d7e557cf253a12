import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import TrawlCore

/// Sends signed requests to AWS over one shared, pooled `HTTPClient`: it signs every attempt afresh (with
/// the credentials of the service client asking, so one pool serves every role of a chain), puts
/// a deadline on each, retries throttling, server errors and connection failures with jittered backoff,
/// and turns AWS's error answers into ApiErrors. Service clients (``S3Client``, ``SQSClient``,
/// ``STSClient``) build on it.
public final class AWSClient: Sendable {
    public struct Configuration: Sendable {
        /// Time allowed until the response head arrives (long polls add their wait to it).
        public var requestTimeout: Duration
        /// Longest silence allowed while a response body streams.
        public var readTimeout: Duration
        public var connectTimeout: Duration
        public var retry: AWSRetryPolicy
        /// Connections kept open per host, reused across requests.
        public var maxConnectionsPerHost: Int
        /// The proxies requests go through (`HTTPS_PROXY`, `HTTP_PROXY`, `NO_PROXY`).
        public var proxy: HTTPProxySettings
        /// Whether a failed connect is tried again (with backoff) until `connectTimeout` before the attempt
        /// counts as failed: a collector rides out a flaky network this way, at the cost of a refused
        /// connection taking the whole connect timeout per attempt.
        public var retriesConnecting: Bool

        public init(
            requestTimeout: Duration = .seconds(30),
            readTimeout: Duration = .seconds(60),
            connectTimeout: Duration = .seconds(10),
            retry: AWSRetryPolicy = AWSRetryPolicy(),
            maxConnectionsPerHost: Int = 16,
            proxy: HTTPProxySettings = HTTPProxySettings(),
            retriesConnecting: Bool = true
        ) {
            self.requestTimeout = requestTimeout
            self.readTimeout = readTimeout
            self.connectTimeout = connectTimeout
            self.retry = retry
            self.maxConnectionsPerHost = maxConnectionsPerHost
            self.proxy = proxy
            self.retriesConnecting = retriesConnecting
        }

        /// For a check an operator waits on (`trawl aws test-connection`): a refused connection fails its
        /// attempt at once, and one retry follows, so an unreachable endpoint is reported in about a second
        /// instead of after five attempts of `connectTimeout` each; a firewall dropping packets, or a peer
        /// that never answers, within half a minute (the calls a check makes are small and answer at once).
        public static func forChecks(proxy: HTTPProxySettings) -> Configuration {
            Configuration(
                requestTimeout: .seconds(10),
                connectTimeout: .seconds(5),
                retry: AWSRetryPolicy(maxAttempts: 2),
                proxy: proxy,
                retriesConnecting: false
            )
        }
    }

    /// One request before signing. `path` is percent-encoded as it goes on the wire, without the
    /// endpoint's base path.
    public struct Request: Sendable {
        public var method: HTTPMethod
        public var endpoint: AWSEndpoint
        public var path: String
        public var query: [(name: String, value: String)]
        public var headers: [(name: String, value: String)]
        public var body: [UInt8]
        /// False for the calls AWS takes without a signature (STS AssumeRoleWithWebIdentity, whose proof is
        /// the token in its body): sent without asking the credential provider for keys.
        public var isSigned: Bool

        public init(
            method: HTTPMethod,
            endpoint: AWSEndpoint,
            path: String = "/",
            query: [(name: String, value: String)] = [],
            headers: [(name: String, value: String)] = [],
            body: [UInt8] = [],
            isSigned: Bool = true
        ) {
            self.method = method
            self.endpoint = endpoint
            self.path = path
            self.query = query
            self.headers = headers
            self.body = body
            self.isSigned = isSigned
        }
    }

    /// The pool of direct connections; also what the instance metadata service and container credentials
    /// endpoint are asked through (link-local and loopback addresses are never proxied).
    public let httpClient: HTTPClient
    /// A pool per proxy of ``Configuration/proxy``: AsyncHTTPClient takes one proxy per client.
    private let proxiedClients: [HTTPProxySettings.Server: HTTPClient]
    public let configuration: Configuration
    let clock: any Clock<Duration>

    public init(
        configuration: Configuration = Configuration(),
        clock: any Clock<Duration> = ContinuousClock()
    ) {
        func makeClient(proxy: HTTPProxySettings.Server?) -> HTTPClient {
            var http = HTTPClient.Configuration()
            http.timeout = HTTPClient.Configuration.Timeout(
                connect: .init(configuration.connectTimeout),
                read: .init(configuration.readTimeout)
            )
            http.connectionPool = HTTPClient.Configuration.ConnectionPool(
                idleTimeout: .seconds(50),
                concurrentHTTP1ConnectionsPerHostSoftLimit: configuration.maxConnectionsPerHost
            )
            http.connectionPool.retryConnectionEstablishment = configuration.retriesConnecting
            http.decompression = .disabled
            http.redirectConfiguration = .disallow
            http.tunnel(through: proxy)
            return HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: http)
        }
        self.httpClient = makeClient(proxy: nil)
        let proxies = Set([configuration.proxy.https, configuration.proxy.http].compactMap { $0 })
        self.proxiedClients = Dictionary(uniqueKeysWithValues: proxies.map { ($0, makeClient(proxy: $0)) })
        self.configuration = configuration
        self.clock = clock
    }

    /// Closes the pooled connections; call once when the owner stops.
    public func shutdown() async throws {
        try await self.httpClient.shutdown()
        for client in self.proxiedClients.values { try await client.shutdown() }
    }

    /// The pool a request to `endpoint` goes through: its proxy's, or the direct one.
    func client(for endpoint: AWSEndpoint) -> HTTPClient {
        self.configuration.proxy.server(scheme: endpoint.scheme, host: endpoint.host)
            .flatMap { self.proxiedClients[$0] } ?? self.httpClient
    }

    /// Sends `request` until it succeeds or retries are exhausted; returns the response of a 2xx answer
    /// with its body still to be read. `resource` names what the request is about in errors.
    public func execute(
        _ request: Request,
        signer: SigV4Signer,
        credentials: any AWSCredentialProvider,
        operation: String,
        resource: String,
        extraTimeout: Duration = .zero,
        logger: Logger
    ) async throws -> HTTPClientResponse {
        var retries = AWSRequestRetryStateMachine(policy: self.configuration.retry)
        var logger = logger
        logger[metadataKey: "aws.service"] = "\(signer.service)"
        logger[metadataKey: "aws.operation"] = "\(operation)"
        while true {
            retries.attemptStarted()
            let failure: AWSRequestRetryStateMachine.Failure
            // The attempt's error, built with the attempt count when it ends the request and without it in
            // a retry's warning, which counts attempts itself.
            let attemptError: (_ attempts: Int?) -> TrawlError
            do {
                let response = try await self.send(
                    request,
                    signer: signer,
                    credentials: credentials,
                    timeout: self.configuration.requestTimeout + extraTimeout,
                    logger: logger
                )
                if (200..<300).contains(response.status.code) {
                    logger.debug(
                        "AWS request succeeded",
                        metadata: ["http.status": "\(response.status.code)", "aws.attempt": "\(retries.attempts)"]
                    )
                    return response
                }
                let serviceError = await Self.serviceError(
                    response,
                    service: signer.service,
                    operation: operation,
                    hasBody: request.method != .HEAD
                )
                let serviceFailure = TrawlError.aws(serviceError, resource: resource)
                attemptError = { _ in serviceFailure }
                if !serviceError.isRetryable {
                    failure = .permanent
                } else if serviceError.status == 429 || serviceError.code == "SlowDown"
                    || AWSServiceError.throttlingCodes.contains(serviceError.code)
                {
                    failure = .throttled
                } else {
                    failure = .transient
                }
            } catch is CancellationError {
                throw CancellationError()
            } catch let error as TrawlError {
                throw error
            } catch {
                if Task.isCancelled { throw CancellationError() }
                let timedOut = Self.isTimeout(error)
                attemptError = { attempts in
                    TrawlError.awsTransport(
                        error,
                        timedOut: timedOut,
                        service: signer.service,
                        operation: operation,
                        resource: resource,
                        attempts: attempts
                    )
                }
                failure = .transient
            }
            switch retries.attemptFailed(failure, random: Double.random(in: 0..<1)) {
            case .giveUp:
                throw attemptError(retries.attempts)
            case .retry(let delay):
                let seconds = Double(delay.components.seconds) + Double(delay.components.attoseconds) / 1e18
                let reason = attemptError(nil)
                logger.warning(
                    "Retrying in \(formatFixed(seconds, decimals: 3)) s after attempt \(retries.attempts) of \(retries.policy.maxAttempts) failed: \(reason)",
                    metadata: ["error.id": "\(reason.code.id)"]
                )
                try await self.clock.sleep(for: delay)
            }
        }
    }

    /// Sends `request` and reads the whole answer, up to `limit` bytes. A connection that breaks while the
    /// answer is read sends the request again (every AWS call read this way is safe to repeat).
    public func executeCollecting(
        _ request: Request,
        signer: SigV4Signer,
        credentials: any AWSCredentialProvider,
        operation: String,
        resource: String,
        extraTimeout: Duration = .zero,
        limit: Int = 16 << 20,
        logger: Logger
    ) async throws -> (response: HTTPClientResponse, body: ByteBuffer) {
        var attempt = 0
        while true {
            attempt += 1
            let response = try await self.execute(
                request,
                signer: signer,
                credentials: credentials,
                operation: operation,
                resource: resource,
                extraTimeout: extraTimeout,
                logger: logger
            )
            do {
                return (response, try await response.body.collect(upTo: limit))
            } catch is NIOTooManyBytesError {
                throw TrawlError(
                    .awsClientException,
                    "AWS request client encountered an exception: \(signer.service) \(operation) answered more than \(limit) bytes",
                    location: resource
                )
            } catch {
                if error is CancellationError || Task.isCancelled { throw CancellationError() }
                let failure = TrawlError.awsTransport(
                    error,
                    timedOut: Self.isTimeout(error),
                    service: signer.service,
                    operation: operation,
                    resource: resource,
                    attempts: attempt
                )
                guard attempt < self.configuration.retry.maxAttempts else { throw failure }
                logger.warning("Sending again after the answer broke off: \(failure.message)")
            }
        }
    }

    /// Signs and sends one attempt.
    func send(
        _ request: Request,
        signer: SigV4Signer,
        credentials provider: any AWSCredentialProvider,
        timeout: Duration,
        logger: Logger
    ) async throws -> HTTPClientResponse {
        let path = request.endpoint.basePath + request.path
        var signable = SigV4Signer.Request(
            method: request.method.rawValue,
            path: path,
            query: request.query,
            headers: [("Host", request.endpoint.hostHeader)] + request.headers,
            payloadHash: SigV4Signer.sha256Hex(request.body)
        )
        if request.isSigned {
            let credentials = try await provider.credentials(logger: logger)
            let now = UTCTimestamp.now()
            if let expiration = credentials.expiration, expiration <= now {
                throw TrawlError(
                    .awsAccessKeyExpired,
                    "AWS access key has expired: credentials \(credentials.redactedAccessKeyID) expired at \(expiration); the request was not sent",
                    location: "\(signer.service)"
                )
            }
            signer.signHeaders(&signable, credentials: credentials, date: now, addsContentHash: signer.service == "s3")
        }
        var url = "\(request.endpoint.scheme)://\(request.endpoint.hostHeader)\(path)"
        if !signable.query.isEmpty { url += "?" + signable.encodedQuery }
        var http = HTTPClientRequest(url: url)
        http.method = request.method
        for (name, value) in signable.headers { http.headers.add(name: name, value: value) }
        if !request.body.isEmpty || request.method == .POST || request.method == .PUT {
            http.body = .bytes(ByteBuffer(bytes: request.body))
        }
        return try await self.client(for: request.endpoint).execute(http, timeout: .init(timeout), logger: logger)
    }

    static func isTimeout(_ error: any Error) -> Bool {
        guard let error = error as? HTTPClientError else { return false }
        return error == .deadlineExceeded || error == .readTimeout || error == .connectTimeout
    }

    /// Reads AWS's error answer: JSON `__type` (SQS), XML `<Code>` (S3, STS), or the status alone (HEAD).
    static func serviceError(
        _ response: HTTPClientResponse,
        service: String,
        operation: String,
        hasBody: Bool
    ) async -> AWSServiceError {
        let body = hasBody ? ((try? await response.body.collect(upTo: 1 << 20)) ?? ByteBuffer()) : ByteBuffer()
        let requestID =
            response.headers.first(name: "x-amzn-requestid") ?? response.headers.first(name: "x-amz-request-id")
        var code = ""
        var message = ""
        let bytes = Array(body.readableBytesView)
        if let json = try? JSONDecoder().decode(JSONError.self, from: Data(bytes)) {
            code = json.code ?? json.__type.map { String($0.split(separator: "#").last ?? "") } ?? ""
            message = json.message ?? json.Message ?? ""
        } else if let xml = AWSXMLElement.parse(bytes) {
            // S3: <Error>; STS and query-protocol errors: <ErrorResponse><Error> or <ErrorResponse><Errors><Error>.
            let error = xml.firstDescendant(named: "Error") ?? xml
            code = error["Code"]?.text ?? ""
            message = error["Message"]?.text ?? ""
        }
        if let queryError = response.headers.first(name: "x-amzn-query-error"),
            let queryCode = queryError.split(separator: ";").first, code.isEmpty || code.hasPrefix("AWS.")
        {
            code = String(queryCode)
        }
        if code.isEmpty {
            switch response.status.code {
            case 403: code = "AccessDenied"
            case 404: code = "NotFound"
            case 429: code = "TooManyRequestsException"
            case 301, 307: code = "PermanentRedirect"
            default: code = "HTTP\(response.status.code)"
            }
            if message.isEmpty { message = response.status.reasonPhrase }
        }
        return AWSServiceError(
            service: service,
            operation: operation,
            status: Int(response.status.code),
            code: code,
            message: message,
            requestID: requestID,
            bucketRegion: response.headers.first(name: "x-amz-bucket-region")
        )
    }

    private struct JSONError: Decodable {
        var __type: String?
        var code: String?
        var message: String?
        var Message: String?
    }
}
