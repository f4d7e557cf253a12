import Hummingbird
import HummingbirdTesting
import Metrics
import NIOCore
import Prometheus
import ServiceLifecycle
import Testing
import TrawlCore
import TrawlMonitoring
import TrawlTesting

@Suite struct MonitoringEndpointTests {
    static func endpoint(_ health: RuntimeHealth, registry: PrometheusCollectorRegistry) -> MonitoringEndpoint {
        MonitoringEndpoint(
            settings: HTTPEndpointSettings(enabled: true),
            registry: registry,
            health: health,
            logger: RecordingLogger().logger
        )
    }

    @Test func readyAnswers503SayingWhyUntilEveryServiceStartedAndWhileAnOutputFails() async throws {
        let health = RuntimeHealth(outputs: ["out"], inputServices: ["s1/cloud_funnel"])
        let application = Application(
            router: Self.endpoint(health, registry: PrometheusCollectorRegistry()).makeRouter()
        )
        try await application.test(.router) { client in
            func ready() async throws -> (HTTPResponse.Status, String) {
                try await client.execute(uri: "/ready", method: .get) { ($0.status, String(buffer: $0.body)) }
            }
            #expect(
                try await ready()
                    == (
                        .serviceUnavailable,
                        "not ready:\n- input s1/cloud_funnel: not started\n- output out: not started\n"
                    )
            )
            health.outputStarted("out")
            health.inputStarted("s1/cloud_funnel")
            #expect(try await ready() == (.ok, "ready\n"))
            health.outputFailed("out", reason: "SinkError 501: connection refused")
            #expect(
                try await ready() == (
                    .serviceUnavailable, "not ready:\n- output out: SinkError 501: connection refused\n"
                )
            )
            health.outputSucceeded("out")
            #expect(try await ready() == (.ok, "ready\n"))
            health.stopping()
            #expect(try await ready() == (.serviceUnavailable, "not ready:\n- stopping\n"))
            try await client.execute(uri: "/health", method: .get) { response in
                #expect(response.status == .ok, "alive while stopping")
                #expect(String(buffer: response.body) == "ok\n")
            }
        }
    }

    @Test func metricsRenderWhatTheServicesCountInThePrometheusTextFormat() async throws {
        let registry = PrometheusCollectorRegistry()
        let source = withMetricsFactory(PrometheusMetricsFactory(registry: registry)) {
            SourceMetrics(input: "s1", service: "cloud_funnel")
        }
        source.add(requests: 1, received: 7, sent: 7)
        source.sent(7, tag: "edr.sentinelone.dv.dns")
        let application = Application(
            router: Self.endpoint(RuntimeHealth(outputs: [], inputServices: []), registry: registry).makeRouter()
        )
        try await application.test(.router) { client in
            try await client.execute(uri: "/metrics", method: .get) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.contentType] == "text/plain; version=0.0.4; charset=utf-8")
                let samples = PrometheusSamples(parsing: String(buffer: response.body))
                #expect(samples.value("trawl_events_received_total", ["input": "s1", "service": "cloud_funnel"]) == 7)
                #expect(
                    samples.value(
                        "trawl_events_sent_by_tag_total",
                        ["input": "s1", "service": "cloud_funnel", "tag": "edr.sentinelone.dv.dns"]
                    ) == 7
                )
            }
        }
    }

    /// Port 0 takes a free port, which the endpoint logs and reports: a port handed out free before could be
    /// taken by another test's peer.
    @Test func theEndpointListensOnTheFreePortItReportsAndStopsWithItsServiceGroup() async throws {
        let log = RecordingLogger()
        let (ports, reported) = AsyncStream.makeStream(of: Int.self)
        let endpoint = MonitoringEndpoint(
            settings: HTTPEndpointSettings(enabled: true, address: "127.0.0.1", port: 0),
            registry: PrometheusCollectorRegistry(),
            health: RuntimeHealth(outputs: [], inputServices: []),
            logger: log.logger,
            onListening: { reported.yield($0) }
        )
        let group = ServiceGroup(services: [endpoint], logger: RecordingLogger().logger)
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            var listening = ports.makeAsyncIterator()
            let port = try #require(await listening.next())
            #expect(port > 0)
            #expect(log.messages(containing: "Monitoring endpoint listening on http://127.0.0.1:\(port) ").count == 1)
            let scraper = MonitoringScraper(port: port)
            #expect(await scraper.waitFor("/health", status: 200))
            #expect(await scraper.get("/ready")?.status == 200)
            #expect(await scraper.get("/nothing")?.status == 404)
            await group.triggerGracefulShutdown()
            try await tasks.next()
            // AsyncHTTPClient retries a refused connection until its deadline: one second says enough here.
            #expect(
                await scraper.get("/health", timeout: .seconds(1)) == nil,
                "nothing listens once the endpoint stopped"
            )
        }
    }
}
