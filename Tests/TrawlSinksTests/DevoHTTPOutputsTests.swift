import CompressNIO
import NIOCore
import Testing
import TrawlCore
import TrawlSinks
import TrawlTesting

/// The `devo_http` and `devo_lookups` outputs against a local HTTP server standing in for Devo: the exact
/// requests (paths, headers, multipart parts, gzip bodies) and what each answer makes of the events.
@Suite struct DevoHTTPOutputsTests {
    static let token = "a5370g9e8f7d7edf9d0123456789abcd"

    static func batches(_ events: [Event]) -> [EventBatch] {
        [EventBatch(events: events, acknowledgement: Acknowledgement(unit: "test"))]
    }

    static func httpSink(
        _ server: RecordingHTTPServer,
        logger: RecordingLogger = RecordingLogger(),
        proxy: HTTPProxySettings = HTTPProxySettings()
    ) -> DevoHTTPSink {
        var configuration = DevoHTTPSink.Configuration(
            url: server.url,
            domain: "mydomain",
            token: Self.token,
            hostname: "vm",
            location: "outputs.devo_http.settings"
        )
        configuration.proxy = proxy
        return DevoHTTPSink(name: "devo_http", configuration: configuration, logger: logger.logger)
    }

    @Test func eventsGoAsOneGzipStreamRequestPerTagWithEscapedNewlines() async throws {
        let server = try await RecordingHTTPServer()
        let sink = Self.httpSink(server)
        try await sink.write(
            Self.batches([
                Event.test("{\"a\":1}", tag: "my.app.one"),
                Event.test("first\nsecond", tag: "my.app.two"),
                Event.test("{\"ñ\":\"漢字\"}\n", tag: "my.app.one"),
            ])
        )
        try await sink.close()
        try await server.stop()
        let requests = server.requests
        #expect(requests.map(\.method) == ["POST", "POST"])
        #expect(
            requests.map(\.uri) == [
                "/stream/mydomain/token!\(Self.token)/vm/my.app.one",
                "/stream/mydomain/token!\(Self.token)/vm/my.app.two",
            ]
        )
        #expect(requests.allSatisfy { $0.header("Content-Encoding") == "gzip" })
        var first = requests[0].body
        var second = requests[1].body
        #expect(String(buffer: try first.decompress(with: .gzip)) == "{\"a\":1}\n{\"ñ\":\"漢字\"}\n")
        #expect(String(buffer: try second.decompress(with: .gzip)) == "first\\nsecond\n")
    }

    @Test func aRefusedTokenIsError505AndTheTokenIsNeverShown() async throws {
        let server = try await RecordingHTTPServer { _ in (401, "{\"error\":\"invalid token\"}") }
        let logger = RecordingLogger()
        let sink = Self.httpSink(server, logger: logger)
        let error = await #expect(throws: TrawlError.self) {
            try await sink.write(Self.batches([Event.test("x")]))
        }
        try await sink.close()
        try await server.stop()
        #expect(error?.code.id == 505)
        #expect(error?.location == "outputs.devo_http.settings.token")
        #expect(error?.description.contains("token!****abcd") == true, "\(String(describing: error))")
        #expect(error?.description.contains(Self.token) == false)
        #expect(!logger.lines.contains { $0.contains(Self.token) })
    }

    @Test func aFailureAfterOneAnsweredRequestReportsThoseEventsDelivered() async throws {
        let server = try await RecordingHTTPServer { request in
            request.uri.hasSuffix("my.app.two") ? (503, "busy") : (200, "")
        }
        let sink = Self.httpSink(server)
        let partial = await #expect(throws: PartialDelivery.self) {
            try await sink.write(
                Self.batches([
                    Event.test("1", tag: "my.app.one"), Event.test("2", tag: "my.app.two"),
                    Event.test("3", tag: "my.app.one"),
                ])
            )
        }
        try await sink.close()
        try await server.stop()
        #expect(partial?.delivered == [0, 2])
        #expect((partial?.failure as? TrawlError)?.code.id == 500)
    }

    /// A redirect (an http:// url where Devo wants https://) is not followed: AsyncHTTPClient turned the POST
    /// into an empty GET, whose 200 counted the events as delivered.
    @Test func aRedirectIsARetryableErrorNamingWhereItLeadsAndIsNotFollowed() async throws {
        let server = try await RecordingHTTPServer(answeringWithHeaders: { request in
            request.uri.hasPrefix("/stream/") ? (301, [("Location", "/moved")], "") : (200, [], "")
        })
        let sink = Self.httpSink(server)
        let error = await #expect(throws: TrawlError.self) {
            try await sink.write(Self.batches([Event.test("x", tag: "my.app.one")]))
        }
        try await sink.close()
        try await server.stop()
        #expect(error?.code == .sinkWriteFailed)
        #expect(error?.message.contains(#"answered 301, redirecting to "/moved": Trawl does not follow"#) == true)
        #expect(error?.fix.hasPrefix("If that address is Devo's endpoint, set the output's url to it") == true)
        #expect(error?.description.contains(Self.token) == false)
        #expect(server.requests.map(\.method) == ["POST"])
    }

    /// An http:// url to another host than the loopback is warned about when the output is made: the token
    /// and every event would cross the network readable.
    @Test func aPlainHTTPURLIsWarnedAbout() async throws {
        let logger = RecordingLogger()
        var configuration = DevoHTTPSink.Configuration(
            url: "http://http-us.devo.io",
            domain: "mydomain",
            token: Self.token,
            hostname: "vm",
            location: "outputs.devo_http.settings"
        )
        let plain = DevoHTTPSink(name: "devo_http", configuration: configuration, logger: logger.logger)
        try await plain.close()
        configuration.url = "https://http-us.devo.io"
        let encrypted = DevoHTTPSink(name: "devo_http", configuration: configuration, logger: logger.logger)
        try await encrypted.close()
        let warnings = logger.messages(
            containing: "is http://: its token and every event cross the network unencrypted"
        )
        #expect(
            warnings == [
                "Output devo_http: url http://http-us.devo.io is http://: its token and every event cross the network unencrypted; use https://"
            ]
        )
    }

    /// A 200 with a long body delivered the events: refusing the body for its length made them be sent again.
    @Test func anAcceptedRequestWithALongAnswerIsDelivered() async throws {
        let server = try await RecordingHTTPServer { _ in (200, String(repeating: "ok ", count: 100_000)) }
        let sink = Self.httpSink(server)
        try await sink.write(Self.batches([Event.test("x", tag: "my.app.one")]))
        try await sink.close()
        try await server.stop()
        #expect(server.requests.count == 1)
    }

    @Test func anEventLargerThanARequestIsRefusedBeforeAnythingIsSent() async throws {
        let server = try await RecordingHTTPServer()
        var configuration = DevoHTTPSink.Configuration(
            url: server.url,
            domain: "d",
            token: "t",
            hostname: "vm",
            location: "outputs.h.settings"
        )
        configuration.maxRequestBytes = 1_024
        let sink = DevoHTTPSink(name: "h", configuration: configuration, logger: RecordingLogger().logger)
        let refusal = await #expect(throws: EventsRefused.self) {
            try await sink.write(Self.batches([Event.test("small"), Event.test(String(repeating: "x", count: 2_000))]))
        }
        try await sink.close()
        try await server.stop()
        #expect(refusal?.positions == [1])
        #expect(refusal?.error.code.id == 504)
        #expect(server.requests.isEmpty)
    }

    static let columns: [LookupUpdate.Column] = [.init("cve_id", type: "str"), .init("score", type: "float")]

    static func lookupsSink(
        _ server: RecordingHTTPServer,
        proxy: HTTPProxySettings = HTTPProxySettings()
    ) -> DevoLookupsAPISink {
        var configuration = DevoLookupsAPISink.Configuration(
            url: server.url + "/lookup-api",
            domain: "mydomain",
            token: Self.token,
            location: "outputs.lookups.settings"
        )
        configuration.proxy = proxy
        return DevoLookupsAPISink(
            name: "lookups",
            configuration: configuration,
            logger: RecordingLogger().logger,
            boundary: { "BOUNDARY" }
        )
    }

    static func lookupEvent(_ update: LookupUpdate) -> Event {
        Event.lookup(update, metadata: EventMetadata(source: "s", unit: "u", offset: 0, pullingID: .now()))
    }

    @Test func aFullUpdateOfANewTableIsPutThenPostedAsMultipartWithTheBearerToken() async throws {
        let server = try await RecordingHTTPServer { request in request.method == "PUT" ? (404, "{}") : (200, "{}") }
        let sink = Self.lookupsSink(server)
        let update = LookupUpdate(
            table: "cewl",
            columns: Self.columns,
            mode: .full,
            rows: [[.string("CVE-2024-3400"), .float(10.0)], [.string("CVE-1, \"quoted\""), .float(9.4)]]
        )
        try await sink.write(Self.batches([Self.lookupEvent(update)]))
        try await sink.close()
        try await server.stop()
        let requests = server.requests
        #expect(requests.map(\.method) == ["PUT", "POST"])
        #expect(requests.allSatisfy { $0.uri == "/lookup-api/lookup/mydomain/cewl/deploy-csv" })
        #expect(requests.allSatisfy { $0.header("Authorization") == "Bearer \(Self.token)" })
        let contentType = requests[1].header("Content-Type") ?? ""
        #expect(contentType == "multipart/form-data; boundary=BOUNDARY")
        let parts = multipartParts(requests[1].body, contentType: contentType)
        #expect(Set(parts.keys) == ["deploy-config", "csv"])
        #expect(parts["deploy-config"]?.headers.contains("Content-Type: application/json") == true)
        #expect(
            parts["deploy-config"]?.content
                == #"{"keyField":"cve_id","columns":[{"name":"cve_id","type":"str"},{"name":"score","type":"float"}],"append":false}"#
        )
        #expect(parts["csv"]?.headers.contains("filename=\"cewl.csv\"") == true)
        #expect(parts["csv"]?.content == "cve_id,score\r\nCVE-2024-3400,10.0\r\n\"CVE-1, \"\"quoted\"\"\",9.4\r\n")
    }

    @Test func anIncrementalUpdateAppendsRowsThenDeletesKeys() async throws {
        let server = try await RecordingHTTPServer()
        let sink = Self.lookupsSink(server)
        let update = LookupUpdate(
            table: "cewl",
            columns: Self.columns,
            mode: .incremental,
            rows: [[.string("CVE-9"), .float(7.5)]],
            deletions: [[.string("CVE-0")]]
        )
        try await sink.write(Self.batches([Self.lookupEvent(update)]))
        try await sink.close()
        try await server.stop()
        let requests = server.requests
        #expect(requests.map(\.method) == ["PUT", "PUT"])
        let configs = requests.map { multipartParts($0.body, contentType: $0.header("Content-Type") ?? "") }
        #expect(configs[0]["deploy-config"]?.content.hasSuffix(#""append":true}"#) == true)
        #expect(configs[0]["csv"]?.content == "cve_id,score\r\nCVE-9,7.5\r\n")
        #expect(
            configs[1]["deploy-config"]?.content.hasSuffix(#""append":true,"contribution":{"type":"del"}}"#) == true
        )
        #expect(configs[1]["csv"]?.content == "cve_id,score\r\nCVE-0\r\n")
    }

    @Test func lookupsAPIAnswersBecomeTokenErrorsRetriesOrRefusals() async throws {
        let update = LookupUpdate(table: "t", columns: Self.columns, mode: .full, rows: [])
        for (status, id) in [(403, 505), (500, 500), (400, 504)] {
            let server = try await RecordingHTTPServer { _ in (status, "{\"msg\":\"no\"}") }
            let sink = Self.lookupsSink(server)
            var produced: Int?
            do {
                try await sink.write(Self.batches([Self.lookupEvent(update)]))
            } catch let error as TrawlError {
                produced = error.code.id
            } catch let refusal as EventsRefused {
                produced = refusal.error.code.id
                #expect(refusal.positions == [0])
            }
            try await sink.close()
            try await server.stop()
            #expect(produced == id, "status \(status)")
        }
    }

    @Test func bothOutputsTunnelThroughTheEgressProxyUnlessNoProxyNamesDevo() async throws {
        let server = try await RecordingHTTPServer { _ in (200, "{}") }
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let proxy = try await ForwardProxy(directory: directory.path)
        defer { proxy.stop() }
        let update = LookupUpdate(table: "cewl", columns: Self.columns, mode: .full, rows: [])
        for environment in [["HTTP_PROXY": proxy.url], ["HTTP_PROXY": proxy.url, "NO_PROXY": "127.0.0.1"]] {
            let settings = try HTTPProxySettings(environment: environment)
            let events = Self.httpSink(server, proxy: settings)
            try await events.write(Self.batches([Event.test("{\"a\":1}", tag: "my.app.one")]))
            try await events.close()
            let lookups = Self.lookupsSink(server, proxy: settings)
            try await lookups.write(Self.batches([Self.lookupEvent(update)]))
            try await lookups.close()
        }
        try await server.stop()
        #expect(server.requests.map(\.method) == ["POST", "PUT", "POST", "PUT"])
        let address = String(server.url.dropFirst("http://".count))
        #expect(proxy.tunnels == [address, address], "one tunnel per output, none with NO_PROXY")
    }

    @Test func aProxyThatRefusesTheTunnelIsError502SayingSoWithoutItsPassword() async throws {
        let server = try await RecordingHTTPServer()
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let proxy = try await ForwardProxy(directory: directory.path)
        defer { proxy.stop() }
        let wrong = "http://\(proxy.username):wrong-password@127.0.0.1:\(proxy.port)"
        let sink = Self.httpSink(server, proxy: try HTTPProxySettings(environment: ["HTTP_PROXY": wrong]))
        let error = await #expect(throws: TrawlError.self) {
            try await sink.write(Self.batches([Event.test("x", tag: "my.app.one")]))
        }
        try await sink.close()
        try await server.stop()
        #expect(error?.code.id == 502)
        #expect(
            error?.message.contains("the proxy trawl@127.0.0.1:\(proxy.port) of HTTPS_PROXY/HTTP_PROXY refused") == true
        )
        #expect(error?.fix.contains("NO_PROXY") == true)
        #expect(error.map { !"\($0)".contains("wrong-password") && !"\($0)".contains(Self.token) } == true)
        #expect(server.requests.isEmpty)
    }
}
