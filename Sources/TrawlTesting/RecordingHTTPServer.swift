import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// A local HTTP server for the HTTP outputs' tests: it records every request whole (method, URI, headers,
/// body) and answers each with what `answer` returns, standing in for Devo's HTTP ingestion and Lookups API.
public final class RecordingHTTPServer: Sendable {
    /// One request as the server received it.
    public struct Request: Sendable {
        public var method: String
        public var uri: String
        public var headers: [(String, String)]
        public var body: ByteBuffer

        /// The first value of the header `name` (case-insensitive).
        public func header(_ name: String) -> String? {
            self.headers.first { $0.0.lowercased() == name.lowercased() }?.1
        }
    }

    /// The status and body to answer a request with.
    public typealias Answer = @Sendable (Request) -> (status: Int, body: String)
    /// The status, headers (besides Content-Length, and Content-Type unless given) and body to answer with.
    public typealias AnswerWithHeaders = @Sendable (Request) -> (status: Int, headers: [(String, String)], body: String)

    public let port: Int
    private let channel: any Channel
    private let recorded: RequestLog

    /// Starts listening on a free loopback port.
    public convenience init(answer: @escaping Answer = { _ in (200, "") }) async throws {
        try await self.init(answeringWithHeaders: { request in
            let (status, body) = answer(request)
            return (status, [], body)
        })
    }

    /// Starts listening on a free loopback port, answering with headers of `answer`'s choosing.
    public init(answeringWithHeaders answer: @escaping AnswerWithHeaders) async throws {
        let recorded = RequestLog()
        self.recorded = recorded
        self.channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(
                        RecordingHandler(answer: answer) { request in recorded.requests.withLock { $0.append(request) }
                        }
                    )
                }
            }
            .bind(host: "127.0.0.1", port: 0)
            .get()
        self.port = self.channel.localAddress?.port ?? 0
    }

    /// `http://127.0.0.1:<port>`
    public var url: String { "http://127.0.0.1:\(self.port)" }

    /// The requests received so far, in order.
    public var requests: [Request] { self.recorded.requests.withLock { $0 } }

    public func stop() async throws {
        try await self.channel.close()
    }
}

/// The requests received, shared by every connection's handler.
private final class RequestLog: Sendable {
    let requests = Mutex<[RecordingHTTPServer.Request]>([])
}

private final class RecordingHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let answer: RecordingHTTPServer.AnswerWithHeaders
    private let record: @Sendable (RecordingHTTPServer.Request) -> Void
    private let partial = Mutex<RecordingHTTPServer.Request?>(nil)

    init(
        answer: @escaping RecordingHTTPServer.AnswerWithHeaders,
        record: @escaping @Sendable (RecordingHTTPServer.Request) -> Void
    ) {
        self.answer = answer
        self.record = record
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch self.unwrapInboundIn(data) {
        case .head(let head):
            self.partial.withLock {
                $0 = .init(
                    method: head.method.rawValue,
                    uri: head.uri,
                    headers: head.headers.map { ($0.name, $0.value) },
                    body: ByteBuffer()
                )
            }
        case .body(var chunk):
            self.partial.withLock { _ = $0?.body.writeBuffer(&chunk) }
        case .end:
            let finished = self.partial.withLock { slot -> RecordingHTTPServer.Request? in
                defer { slot = nil }
                return slot
            }
            guard let request = finished else { return }
            self.record(request)
            let (status, extra, text) = self.answer(request)
            var headers = HTTPHeaders(extra)
            headers.add(name: "Content-Length", value: "\(text.utf8.count)")
            if !headers.contains(name: "Content-Type") { headers.add(name: "Content-Type", value: "application/json") }
            let head = HTTPResponseHead(version: .http1_1, status: .init(statusCode: status), headers: headers)
            context.write(self.wrapOutboundOut(.head(head)), promise: nil)
            context.write(self.wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: text)))), promise: nil)
            context.writeAndFlush(self.wrapOutboundOut(.end(nil)), promise: nil)
        }
    }
}

/// The parts of a multipart/form-data body, by name: their headers and content.
public func multipartParts(_ body: ByteBuffer, contentType: String) -> [String: (headers: String, content: String)] {
    guard let range = contentType.range(of: "boundary=") else { return [:] }
    let boundary = "--" + contentType[range.upperBound...]
    let text = String(buffer: body)
    var parts: [String: (String, String)] = [:]
    for piece in text.components(separatedBy: boundary).dropFirst() {
        guard !piece.hasPrefix("--"), let split = piece.range(of: "\r\n\r\n") else { continue }
        let headers = String(piece[..<split.lowerBound]).trimmingCharacters(in: .whitespacesAndNewlines)
        var content = String(piece[split.upperBound...])
        if content.hasSuffix("\r\n") { content.removeLast() }
        guard let nameRange = headers.range(of: "name=\"") else { continue }
        let name = String(headers[nameRange.upperBound...].prefix { $0 != "\"" })
        parts[name] = (headers, content)
    }
    return parts
}
