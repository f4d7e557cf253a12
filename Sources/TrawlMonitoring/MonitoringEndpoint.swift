import Hummingbird
import Logging
import NIOCore
import Prometheus
import ServiceLifecycle
import TrawlCore

/// The run's HTTP endpoint (`globals.http_endpoint`): `/metrics` in the Prometheus text format, from the
/// registry the process's swift-metrics factory writes to; `/health`, which answers while the process runs
/// (a liveness probe); and `/ready`, 200 once every service started, every output's last write succeeded and
/// every input service's last pull cycle ended without an error, else 503 saying why (a readiness probe).
///
/// A `Service`: `main` starts it before the sinks, so it stops last and answers while outputs drain.
public struct MonitoringEndpoint: Service {
    public let settings: HTTPEndpointSettings
    public let registry: PrometheusCollectorRegistry
    public let health: RuntimeHealth
    public let logger: Logger
    /// Called with the port once listening (the one chosen when the settings say 0).
    public let onListening: @Sendable (Int) async -> Void

    public init(
        settings: HTTPEndpointSettings,
        registry: PrometheusCollectorRegistry,
        health: RuntimeHealth,
        logger: Logger,
        onListening: @escaping @Sendable (Int) async -> Void = { _ in }
    ) {
        self.settings = settings
        self.registry = registry
        self.health = health
        self.logger = logger
        self.onListening = onListening
    }

    /// The routes, apart from the server, so tests can drive them.
    public func makeRouter() -> Router<BasicRequestContext> {
        let router = Router()
        let registry = self.registry
        let health = self.health
        router.get("/metrics") { _, _ in
            Response(
                status: .ok,
                headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: ResponseBody(byteBuffer: ByteBuffer(bytes: registry.emitToBuffer()))
            )
        }
        router.get("/health") { _, _ in
            Response(status: .ok, body: ResponseBody(byteBuffer: ByteBuffer(string: "ok\n")))
        }
        router.get("/ready") { _, _ in
            let readiness = health.readiness
            let text =
                readiness.isReady
                ? "ready\n" : "not ready:\n" + readiness.problems.map { "- \($0)\n" }.joined()
            return Response(
                status: readiness.isReady ? .ok : .serviceUnavailable,
                headers: [.contentType: "text/plain; charset=utf-8"],
                body: ResponseBody(byteBuffer: ByteBuffer(string: text))
            )
        }
        return router
    }

    public func run() async throws {
        let settings = self.settings
        let logger = self.logger
        let onListening = self.onListening
        let application = Application(
            router: self.makeRouter(),
            configuration: ApplicationConfiguration(
                address: .hostname(settings.address, port: settings.port),
                serverName: "trawl"
            ),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? settings.port
                logger.info(
                    "Monitoring endpoint listening on http://\(settings.address):\(port) (/metrics, /health, /ready)"
                )
                await onListening(port)
            },
            logger: logger
        )
        try await application.run()
    }
}
