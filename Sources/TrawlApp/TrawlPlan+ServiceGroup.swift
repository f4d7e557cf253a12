import Foundation
import Logging
import Prometheus
import ServiceLifecycle
import TrawlCore
import TrawlMonitoring
import TrawlPostgres
import UnixSignals

extension TrawlPlan {
    /// Everything `trawl run` starts, exposed so tests can look inside (queues, dispatcher).
    public struct Runtime: Sendable {
        public var dispatcher: EventDispatcher
        public var serviceGroup: ServiceGroup
        public var health: RuntimeHealth
    }

    /// Builds the one ServiceGroup of a run: the monitoring endpoint (when `globals.http_endpoint` is
    /// enabled and a `metricsRegistry` is given), sinks, then the memory reporter, then the sources (and in
    /// `runOnce` mode a service that stops the group when every source finished). Shutdown runs in reverse:
    /// sources stop pulling, then sinks drain their queues, and the endpoint answers until the end.
    ///
    /// - Throws: ``TrawlError`` when the persistence directory or an output's spool cannot be used.
    public func makeRuntime(
        runOnce: Bool,
        metricsRegistry: PrometheusCollectorRegistry? = nil,
        logger: Logger
    ) throws(TrawlError) -> Runtime {
        let files = try FileStateStore(directory: self.globals.persistence.directory)
        var database: PostgresStateStore?
        if let postgres = self.globals.persistence.postgres {
            database = PostgresStateStore(settings: postgres, logger: logger)
        }
        let store: any StateStore = database ?? files
        let sinks = self.outputs.map { $0.makeSink(logger) }
        let queues = sinks.map { _ in BoundedEventQueue(maxBufferedEvents: self.globals.queueMaxEvents) }
        let dispatcher = EventDispatcher(
            queues: queues,
            accepts: sinks.map(\.accepts),
            maxBatchEvents: self.globals.batchMaxEvents
        )
        var sinkConfiguration = SinkService<ContinuousClock>.Configuration()
        sinkConfiguration.statisticsPeriod = .seconds(self.globals.senderStatisticsPeriodInSeconds)
        sinkConfiguration.shutdownGrace = .seconds(max(1, self.globals.shutdownTimeoutInSeconds / 2))

        let health = RuntimeHealth(
            outputs: sinks.map(\.name),
            inputServices: self.services.map { "\($0.input)/\($0.service)" }
        )
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = []
        if let database {
            logger.info("Service state, ledgers and leases are kept in \(database.location)")
            services.append(
                .init(
                    service: database,
                    successTerminationBehavior: .ignore,
                    failureTerminationBehavior: .gracefullyShutdownGroup,
                    serviceName: "state database"
                )
            )
        }
        if self.globals.httpEndpoint.enabled, let metricsRegistry {
            services.append(
                .init(
                    service: MonitoringEndpoint(
                        settings: self.globals.httpEndpoint,
                        registry: metricsRegistry,
                        health: health,
                        logger: logger
                    ),
                    successTerminationBehavior: .ignore,
                    failureTerminationBehavior: .gracefullyShutdownGroup,
                    serviceName: "monitoring endpoint"
                )
            )
        }
        for (sink, queue) in zip(sinks, queues) {
            let spool =
                self.globals.spoolMaxMegabytes > 0
                ? try EventSpool(
                    store: files,
                    collectorID: self.globals.id,
                    output: sink.name,
                    instance: self.globals.instance,
                    maxBytes: Int64(self.globals.spoolMaxMegabytes) << 20
                ) : nil
            services.append(
                .init(
                    service: SinkService(
                        sink: sink,
                        spool: spool,
                        refusedEvents: RefusedEventsFile(store: files, collectorID: self.globals.id, output: sink.name),
                        queue: queue,
                        dispatcher: dispatcher,
                        configuration: sinkConfiguration,
                        health: health,
                        clock: ContinuousClock(),
                        logger: logger
                    ),
                    successTerminationBehavior: .gracefullyShutdownGroup,
                    failureTerminationBehavior: .gracefullyShutdownGroup,
                    serviceName: "output \(sink.name)"
                )
            )
        }
        services.append(
            .init(
                service: MemoryReporter(
                    period: .seconds(self.globals.memoryReportPeriodInSeconds),
                    clock: ContinuousClock(),
                    logger: logger
                ),
                successTerminationBehavior: .ignore,
                serviceName: "memory reporter"
            )
        )
        let latch = runOnce ? CompletionLatch(count: self.services.count) : nil
        let instance = self.globals.instance.isEmpty ? "(unnamed)" : self.globals.instance
        let holder = "instance \(instance) (pid \(ProcessInfo.processInfo.processIdentifier) on \(machineHostname()))"
        for planned in self.services {
            var sourceLogger = logger
            sourceLogger[metadataKey: "input.id"] = "\(planned.inputID)"
            let key = StateKey(collectorID: self.globals.id, input: planned.inputID, service: planned.service)
            let lease: (@Sendable () async throws(TrawlError) -> LeaseAttempt)? =
                planned.exclusive
                ? { @Sendable () async throws(TrawlError) -> LeaseAttempt in
                    try await store.tryLease(key, holder: holder)
                } : nil
            services.append(
                .init(
                    service: SourceService(
                        name: "\(planned.input)/\(planned.service)",
                        source: planned.makeSource(store, key, sourceLogger),
                        dispatcher: dispatcher,
                        period: planned.period,
                        runOnce: runOnce,
                        completion: latch,
                        health: health,
                        lease: lease,
                        clock: ContinuousClock(),
                        logger: sourceLogger
                    ),
                    successTerminationBehavior: .ignore,
                    failureTerminationBehavior: .gracefullyShutdownGroup,
                    serviceName: "input \(planned.input)/\(planned.service)"
                )
            )
        }
        if let latch {
            services.append(
                .init(
                    service: RunOnceService(latch: latch),
                    successTerminationBehavior: .gracefullyShutdownGroup,
                    serviceName: "run once"
                )
            )
        }
        // SIGHUP too: the terminal a run was started from closing would otherwise kill it on the spot.
        var configuration = ServiceGroupConfiguration(
            services: services,
            gracefulShutdownSignals: [.sigterm, .sigint, .sighup],
            logger: logger
        )
        configuration.maximumGracefulShutdownDuration = .seconds(self.globals.shutdownTimeoutInSeconds)
        configuration.maximumCancellationDuration = .seconds(5)
        return Runtime(dispatcher: dispatcher, serviceGroup: ServiceGroup(configuration: configuration), health: health)
    }
}
