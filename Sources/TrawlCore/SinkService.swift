import AsyncAlgorithms
import Logging
import Metrics
import ServiceLifecycle
import Synchronization

/// Runs one sink: takes batches from its bounded queue in chunks (`chunks(ofCount:or:)`), writes each chunk,
/// retries failed writes with backoff, then releases (or, past the shutdown grace, rejects) the chunk's
/// acknowledgements. Logs the sender statistics every `statisticsPeriod`.
///
/// On graceful shutdown it finishes its queue and drains what is buffered: ServiceGroup stops sources first,
/// so by then no more batches arrive.
public struct SinkService<C: Clock>: Service where C.Duration == Duration {
    public struct Configuration: Sendable {
        /// Most batches written in one call.
        public var maxBatchesPerWrite = 16
        /// Longest a partial chunk waits before it is written.
        public var flushInterval: Duration = .milliseconds(50)
        public var backoff = RetryBackoff()
        /// How long a failing sink keeps retrying once shutdown was requested.
        public var shutdownGrace: Duration = .seconds(10)
        public var statisticsPeriod: Duration = .seconds(300)

        public init() {}
    }

    public let sink: any EventSink
    public let queue: BoundedEventQueue
    public let dispatcher: EventDispatcher
    public let configuration: Configuration
    public let clock: C
    public let logger: Logger
    private let deliveredEvents: Counter
    private let failedWrites: Counter

    public init(
        sink: any EventSink,
        queue: BoundedEventQueue,
        dispatcher: EventDispatcher,
        configuration: Configuration,
        clock: C,
        logger: Logger
    ) {
        self.sink = sink
        self.queue = queue
        self.dispatcher = dispatcher
        self.configuration = configuration
        self.clock = clock
        var logger = logger
        logger[metadataKey: "output.name"] = "\(sink.name)"
        self.logger = logger
        self.deliveredEvents = Counter(label: "trawl_events_delivered_total", dimensions: [("output", sink.name)])
        self.failedWrites = Counter(label: "trawl_output_write_failures_total", dimensions: [("output", sink.name)])
    }

    public func run() async throws {
        let batches = try self.queue.takeBatches()
        let progress = SinkProgress()
        self.logger.info("Sender \(self.sink.name) started (statistics every \(self.configuration.statisticsPeriod))")
        await withGracefulShutdownHandler {
            await withDiscardingTaskGroup { group in
                group.addTask {
                    while !Task.isCancelled {
                        do {
                            try await self.clock.sleep(for: self.configuration.statisticsPeriod)
                        } catch {
                            return
                        }
                        let line = progress.statistics.withLock { $0.report(now: .now()) }
                        self.logger.info("\(line)")
                    }
                }
                let chunks = batches.chunks(
                    ofCount: self.configuration.maxBatchesPerWrite,
                    or: .repeating(every: self.configuration.flushInterval, clock: self.clock)
                )
                for await chunk in chunks {
                    await self.deliver(chunk, progress: progress)
                }
                group.cancelAll()
            }
        } onGracefulShutdown: {
            progress.shutdownRequested.store(true, ordering: .relaxed)
            self.queue.finish()
        }
        do {
            try await self.sink.close()
        } catch {
            self.logger.error("Closing output \(self.sink.name) failed: \(error)")
        }
        let line = progress.statistics.withLock { $0.report(now: .now()) }
        self.logger.info("Sender \(self.sink.name) stopped. \(line)")
    }

    private func deliver(
        _ chunk: [EventBatch],
        progress: SinkProgress
    ) async {
        let count = chunk.reduce(0) { $0 + $1.events.count }
        var machine = SinkDeliveryStateMachine<C.Instant>(backoff: self.configuration.backoff)
        var shutdownNoted = false
        while true {
            if !shutdownNoted, progress.shutdownRequested.load(ordering: .relaxed) {
                machine.shutdownRequested(at: self.clock.now, grace: self.configuration.shutdownGrace)
                shutdownNoted = true
            }
            let start = self.clock.now
            let action: SinkDeliveryStateMachine<C.Instant>.Action
            do {
                try await self.sink.write(chunk)
                action = machine.writeSucceeded()
            } catch {
                action = machine.writeFailed(at: self.clock.now)
                self.failedWrites.increment()
                self.logger.error(
                    "\(Self.describe(error)) (attempt \(machine.consecutiveFailures), \(count) events waiting)",
                    metadata: ["error.id": "\(Self.errorID(error))"]
                )
            }
            switch action {
            case .acknowledge:
                let took = start.duration(to: self.clock.now)
                progress.statistics.withLock { $0.recordDelivered(count, took: took) }
                self.dispatcher.eventsLeft(count, delivered: true)
                self.deliveredEvents.increment(by: count)
                for batch in chunk { batch.acknowledgement.release() }
                return
            case .retry(let pause):
                self.logger.warning("Retrying output \(self.sink.name) in \(pause)")
                do {
                    try await self.clock.sleep(for: pause)
                } catch {
                    self.giveUp(chunk, count: count)
                    return
                }
            case .giveUp:
                self.giveUp(chunk, count: count)
                return
            }
        }
    }

    private func giveUp(_ chunk: [EventBatch], count: Int) {
        let error = TrawlError(
            .sinkUndeliveredAtShutdown,
            "output \(self.sink.name) gave up on \(count) events while stopping; their sources were not committed",
            location: "outputs.\(self.sink.name)"
        )
        self.logger.error("\(error)", metadata: ["error.id": "\(error.code.id)"])
        self.dispatcher.eventsLeft(count, delivered: false)
        for batch in chunk { batch.acknowledgement.reject(error) }
    }

    private static func describe(_ error: any Error) -> String {
        if let error = error as? TrawlError { return error.description }
        return "SinkError \(TrawlError.Code.sinkWriteFailed.id): \(error)"
    }

    private static func errorID(_ error: any Error) -> Int {
        (error as? TrawlError)?.code.id ?? TrawlError.Code.sinkWriteFailed.id
    }
}

/// What a running sink shares between its delivery loop, its statistics timer and its shutdown handler.
private final class SinkProgress: Sendable {
    let statistics = Mutex(SenderStatistics(startingAt: .now()))
    let shutdownRequested = Atomic<Bool>(false)
}
