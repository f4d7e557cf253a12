import Logging
import ServiceLifecycle

/// A collector's pulling logic for one configured service. Each cycle it fetches what is new, publishes it
/// through ``PullContext/dispatcher``, waits for the acknowledgements and only then commits its state.
public protocol PullingSource: Sendable {
    /// Runs one pull cycle and reports what it did.
    ///
    /// Between units of work it checks ``PullContext/isShuttingDown`` and returns early when set; whatever it
    /// has not committed is pulled again next time.
    func pull(_ context: PullContext) async throws -> PullCycleStatistics

    /// Runs `body` (every pull cycle of the service) while the source's long-lived resources, such as a
    /// connection pool, are open, and closes them afterwards. The default has none.
    func withResources(_ body: () async throws -> Void) async throws
}

extension PullingSource {
    public func withResources(_ body: () async throws -> Void) async throws {
        try await body()
    }
}

/// What a pull cycle gets to work with.
public struct PullContext: Sendable {
    /// The `@devo_pulling_id` of this cycle, for sources to inject into events.
    public var pullingID: PullingID
    public var dispatcher: EventDispatcher
    public var logger: Logger
    /// The service's counters, for sources that report as they go (see ``SourceMetrics``).
    public var metrics: SourceMetrics

    public init(pullingID: PullingID, dispatcher: EventDispatcher, logger: Logger, metrics: SourceMetrics? = nil) {
        self.pullingID = pullingID
        self.dispatcher = dispatcher
        self.logger = logger
        self.metrics = metrics ?? SourceMetrics(input: "", service: "")
    }

    /// True once Trawl was asked to stop: finish the unit in hand, start no new one.
    public var isShuttingDown: Bool { Task.isShuttingDownGracefully || Task.isCancelled }

    /// Waits `duration`, or less when Trawl is asked to stop meanwhile (then ``isShuttingDown`` is true):
    /// a source polling a remote job does not hold up a stop for its poll interval.
    public func pause(for duration: Duration) async {
        try? await cancelWhenGracefulShutdown { try await Task.sleep(for: duration) }
    }

    /// Runs `operation`, cancelled (it throws `CancellationError`) when Trawl is asked to stop: for a wait that
    /// holds no work yet, such as a long poll or connecting with its retries, which a stop need not wait out.
    public func cancellingOnStop<T: Sendable>(_ operation: @Sendable @escaping () async throws -> T) async throws -> T {
        try await cancelWhenGracefulShutdown(operation)
    }
}

/// Runs a ``PullingSource`` every `period`, logging each cycle's statistics, until graceful shutdown (or,
/// with `runOnce`, after one cycle).
public struct SourceService<C: Clock>: Service where C.Duration == Duration {
    public let name: String
    public let source: any PullingSource
    public let dispatcher: EventDispatcher
    public let period: Duration
    public let runOnce: Bool
    public let completion: CompletionLatch?
    public let clock: C
    public let logger: Logger
    /// Told when the service started and how each pull cycle ended, for `/ready`.
    public let health: RuntimeHealth?
    public let metrics: SourceMetrics
    /// For a service only one instance may poll (an API's cursor): takes its lease, or says who holds it.
    /// Nil for services any number of instances may run at once (an SQS queue spreads its messages).
    public let lease: (@Sendable () async throws(TrawlError) -> LeaseAttempt)?
    /// How often an instance waiting for the lease tries again: a bound on how long after the holder's
    /// death another instance takes over.
    public let leaseRetry: Duration

    public init(
        name: String,
        source: any PullingSource,
        dispatcher: EventDispatcher,
        period: Duration,
        runOnce: Bool = false,
        completion: CompletionLatch? = nil,
        health: RuntimeHealth? = nil,
        lease: (@Sendable () async throws(TrawlError) -> LeaseAttempt)? = nil,
        leaseRetry: Duration = .seconds(5),
        clock: C,
        logger: Logger
    ) {
        self.health = health
        self.lease = lease
        self.leaseRetry = leaseRetry
        self.metrics = SourceMetrics(serviceName: name)
        self.name = name
        self.source = source
        self.dispatcher = dispatcher
        self.period = period
        self.runOnce = runOnce
        self.completion = completion
        self.clock = clock
        var logger = logger
        logger[metadataKey: "input.service"] = "\(name)"
        self.logger = logger
    }

    public func run() async throws {
        defer { self.completion?.arrive() }
        self.health?.inputStarted(self.name)
        try await withGracefulShutdownHandler {
            while true {
                let lease: (any ServiceLease)?
                switch try await self.takeLease() {
                case .notNeeded: lease = nil
                case .held(let held): lease = held
                case .leftToAnother: return
                }
                var ended = CyclesEnded.stopped
                do {
                    try await self.source.withResources { ended = try await self.cycles(holding: lease) }
                } catch {
                    await lease?.release()
                    throw error
                }
                await lease?.release()
                guard ended == .leaseLost else { return }
            }
        } onGracefulShutdown: {
            self.health?.stopping()
        }
    }

    private enum LeaseOutcome {
        case notNeeded
        case held(any ServiceLease)
        /// Asked to stop while waiting, or a `runOnce` run found another instance polling.
        case leftToAnother
    }

    /// Waits until this instance holds the service's lease, if it needs one.
    private func takeLease() async throws -> LeaseOutcome {
        guard let lease = self.lease else { return .notNeeded }
        var waitedFor: String?
        while true {
            switch try await lease() {
            case .taken(let held):
                if let holder = waitedFor {
                    self.logger.info("This instance now polls \(self.name): took over from \(holder)")
                }
                return .held(held)
            case .heldElsewhere(let holder):
                let described = holder.isEmpty ? "another instance" : holder
                if self.runOnce {
                    self.logger.info("\(described) polls \(self.name); this run leaves it to that instance")
                    return .leftToAnother
                }
                if waitedFor == nil {
                    self.logger.info(
                        "\(described) polls \(self.name); this instance takes over if it stops (trying every \(self.leaseRetry))"
                    )
                }
                waitedFor = described
            }
            do {
                try await cancelWhenGracefulShutdown { try await self.clock.sleep(for: self.leaseRetry) }
            } catch {
                return .leftToAnother
            }
        }
    }

    private enum CyclesEnded {
        case stopped
        case leaseLost
    }

    /// Logs a cycle's failure (with its id when it is a ``TrawlError``), counts the cycle and marks the input
    /// unhealthy until a cycle succeeds.
    private func cycleFailed(_ error: any Error, took: Duration, logger: Logger) {
        let reason: String
        if let error = error as? TrawlError {
            logger.error("\(error)", metadata: ["error.id": "\(error.code.id)"])
            reason = error.description
        } else {
            logger.error("Pull failed: \(error)")
            reason = "pull failed: \(error)"
        }
        self.metrics.cycleEnded(PullCycleStatistics(), took: took)
        self.health?.inputFailed(self.name, reason: reason)
    }

    private func cycles(holding lease: (any ServiceLease)?) async throws -> CyclesEnded {
        if self.runOnce {
            self.logger.info("Starting data collection: one pull cycle")
        } else {
            self.logger.info("Starting data collection every \(formatFixed(self.period.seconds, decimals: 0)) seconds")
        }
        while true {
            if let lease, await !lease.stillHeld() {
                self.logger.warning(
                    "Lost the lease of \(self.name) (its database session ended): stopping to poll it until this instance holds it again"
                )
                return .leaseLost
            }
            let pullingID = PullingID.now()
            let start = self.clock.now
            var logger = self.logger
            logger[metadataKey: "devo.pulling_id"] = "\(pullingID)"
            logger.debug("Pull Started")
            do {
                let statistics = try await self.source.pull(
                    PullContext(
                        pullingID: pullingID,
                        dispatcher: self.dispatcher,
                        logger: logger,
                        metrics: self.metrics
                    )
                )
                self.metrics.cycleEnded(statistics, took: start.duration(to: self.clock.now))
                logger.info("\(statistics.summary(pullingID: pullingID, elapsed: start.duration(to: self.clock.now)))")
                if statistics.upToDate { logger.info("The data is up to date!") }
                self.health?.inputSucceeded(self.name)
            } catch is CancellationError {
                if Task.isCancelled {
                    logger.warning("Pull cancelled; uncommitted work will be pulled again at the next start")
                } else {
                    // Only ``PullContext/cancellingOnStop`` ends a pull this way without cancelling its task,
                    // and sources use it only for waits that hold no uncommitted work.
                    logger.info("Pull stopped while it waited for an answer, holding no uncommitted work")
                }
                return .stopped
            } catch {
                self.cycleFailed(error, took: start.duration(to: self.clock.now), logger: logger)
            }
            let elapsed = start.duration(to: self.clock.now)
            if self.runOnce || Task.isShuttingDownGracefully {
                logger.info(
                    "Data collection completed. Elapsed time: \(formatFixed(elapsed.seconds, decimals: 3)) seconds"
                )
                return .stopped
            }
            let wait = max(.zero, self.period - elapsed)
            let took = formatFixed(elapsed.seconds, decimals: 3)
            logger.info(
                "Data collection completed. Elapsed time: \(took) seconds. Waiting for \(formatFixed(wait.seconds, decimals: 3)) second(s) until the next one"
            )
            do {
                try await cancelWhenGracefulShutdown { try await self.clock.sleep(for: wait) }
            } catch {
                return .stopped
            }
        }
    }
}
