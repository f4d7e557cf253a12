import AsyncAlgorithms
import Logging
import Metrics
import NIOCore
import ServiceLifecycle
import Synchronization

/// Runs one sink: takes batches from its bounded queue in chunks of what is buffered
/// (``BoundedEventQueue/takeChunks(maxBatches:)``), writes each chunk,
/// retries failed writes with backoff, then releases (or, past the shutdown grace, rejects) the chunk's
/// acknowledgements. Logs the sender statistics every `statisticsPeriod`.
///
/// On graceful shutdown it finishes its queue and drains what is buffered: ServiceGroup stops sources first,
/// so by then no more batches arrive.
public struct SinkService<C: Clock>: Service where C.Duration == Duration {
    public struct Configuration: Sendable {
        /// Most batches written in one call.
        public var maxBatchesPerWrite = 16
        public var backoff = RetryBackoff()
        /// The random factor (between half and all of the backoff delay) that spreads retries out.
        public var jitter: @Sendable () -> Double = { Double.random(in: 0.5...1) }
        /// How long a failing sink keeps retrying once shutdown was requested.
        public var shutdownGrace: Duration = .seconds(10)
        public var statisticsPeriod: Duration = .seconds(300)
        /// How often a non-empty spool is offered to the sink when no new events arrive.
        public var spoolDrainInterval: Duration = .milliseconds(250)
        /// Most spooled events written in one call.
        public var spoolDrainEvents = 5_000

        public init() {}
    }

    public let sink: any EventSink
    /// Where events the sink cannot take now wait on disk; nil keeps them in memory (retried in place).
    public let spool: EventSpool?
    /// Where events the sink can never deliver (``EventsRefused``) are set aside; without it a refusal is a
    /// write failure, retried.
    public let refusedEvents: RefusedEventsFile?
    public let queue: BoundedEventQueue
    public let dispatcher: EventDispatcher
    public let configuration: Configuration
    public let clock: C
    public let logger: Logger
    /// Told when the service started and whether the output's writes succeed, for `/ready`.
    public let health: RuntimeHealth?
    private let deliveredEvents: Counter
    private let deliveredBytes: Counter
    private let failedWrites: Counter
    private let writeDuration: Metrics.Timer
    private let up: Gauge
    private let queuedEvents: Gauge
    private let spooledEvents: Gauge
    private let spooledBytes: Gauge

    public init(
        sink: any EventSink,
        spool: EventSpool? = nil,
        refusedEvents: RefusedEventsFile? = nil,
        queue: BoundedEventQueue,
        dispatcher: EventDispatcher,
        configuration: Configuration,
        health: RuntimeHealth? = nil,
        clock: C,
        logger: Logger
    ) {
        self.health = health
        self.sink = sink
        self.spool = spool
        self.refusedEvents = refusedEvents
        self.queue = queue
        self.dispatcher = dispatcher
        self.configuration = configuration
        self.clock = clock
        var logger = logger
        logger[metadataKey: "output.name"] = "\(sink.name)"
        self.logger = logger
        let labels = [("output", sink.name)]
        self.deliveredEvents = Counter(label: "trawl_events_delivered_total", dimensions: labels)
        self.deliveredBytes = Counter(label: "trawl_output_event_bytes_total", dimensions: labels)
        self.failedWrites = Counter(label: "trawl_output_write_failures_total", dimensions: labels)
        self.writeDuration = Metrics.Timer(label: "trawl_output_write_duration_seconds", dimensions: labels)
        self.up = Gauge(label: "trawl_output_up", dimensions: labels)
        self.queuedEvents = Gauge(label: "trawl_output_queue_events", dimensions: labels)
        self.spooledEvents = Gauge(label: "trawl_spool_events", dimensions: labels)
        self.spooledBytes = Gauge(label: "trawl_spool_bytes", dimensions: labels)
    }

    public func run() async throws {
        let chunks = try self.queue.takeChunks(maxBatches: self.configuration.maxBatchesPerWrite)
        let progress = SinkProgress()
        self.health?.outputStarted(self.sink.name)
        self.up.record(1)
        self.recordLevels()
        if let damage = self.spool?.damage {
            self.logger.error("\(damage)", metadata: ["error.id": "\(damage.code.id)"])
        }
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
                        self.logger.info("\(self.monitorLine)")
                        self.logger.info("\(line)")
                    }
                }
                if self.sink.preparesWrites {
                    let prepared = AsyncChannel<PreparedChunk>()
                    group.addTask { await self.prepareAhead(chunks, into: prepared) }
                    await self.deliverAll(prepared, progress: progress)
                } else {
                    await self.deliverAll(chunks.map { PreparedChunk(batches: $0) }, progress: progress)
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

    /// The seeds' sender monitor line, with the events waiting in the spool.
    var monitorLine: String {
        let spooled = self.spool.map { ", spooled events: \($0.pendingEvents)" } ?? ""
        return
            "Number of available senders: \(self.sink.senders), sender manager internal queue size: \(self.queue.bufferedEvents)\(spooled)"
    }

    /// For a sink that prepares its writes: takes each chunk and prepares it while the previous one is
    /// written, and hands it over once that write is done, so the writes stay one at a time and in order.
    /// Besides the chunk being written, one prepared chunk is held
    /// (``EventDispatcher/bufferBound(maxBatchesPerWrite:chunksInHand:)``).
    private func prepareAhead(
        _ chunks: some AsyncSequence<[EventBatch], Never> & Sendable,
        into prepared: AsyncChannel<PreparedChunk>
    ) async {
        for await chunk in chunks {
            await prepared.send(PreparedChunk(batches: chunk, prepared: self.sink.prepare(chunk)))
        }
        prepared.finish()
    }

    /// Delivers each chunk, through the spool when there is one.
    private func deliverAll(
        _ chunks: some AsyncSequence<PreparedChunk, Never> & Sendable,
        progress: SinkProgress
    ) async {
        if let spool = self.spool {
            await self.runSpooling(chunks, spool: spool, progress: progress)
        } else {
            for await chunk in chunks {
                await self.deliver(chunk.batches, prepared: chunk.prepared, progress: progress)
            }
        }
    }

    /// A chunk and what the sink made of it ahead of its write.
    private struct PreparedChunk: Sendable {
        var batches: [EventBatch]
        var prepared: PreparedWrite? = nil
    }

    private func deliver(
        _ chunk: [EventBatch],
        prepared: PreparedWrite? = nil,
        progress: SinkProgress
    ) async {
        let count = chunk.eventCount
        var pending = PendingWrite(batches: chunk, prepared: prepared)
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
                try await self.write(&pending)
                action = machine.writeSucceeded()
            } catch {
                action = machine.writeFailed(at: self.clock.now, jitter: self.configuration.jitter())
                self.failedWrites.increment()
                self.logger.error(
                    "\(Self.describe(error, adding: "attempt \(machine.consecutiveFailures), \(pending.batches.eventCount) events waiting"))",
                    metadata: ["error.id": "\(Self.errorID(error))"]
                )
            }
            switch action {
            case .acknowledge:
                self.acknowledge(
                    chunk,
                    count: count,
                    refused: pending.refused,
                    took: start.duration(to: self.clock.now),
                    progress: progress
                )
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

    /// What the spooling delivery loop reacts to.
    private enum Work: Sendable {
        case chunk(PreparedChunk)
        case tick
        case end
    }

    /// When the spool is next offered to the sink, backing off while the sink keeps failing.
    private struct DrainSchedule {
        var machine: SinkDeliveryStateMachine<C.Instant>
        var nextAttempt: C.Instant
        /// Spooled events read but not all delivered yet (a partial delivery or refusal), with where they end
        /// in the spool and how many events they were when read: offered again before anything newer.
        var carried: (pending: PendingWrite, next: EventSpool.Position, read: Int)?

        /// A write failed at `now`: the next offer waits the machine's jittered backoff; returns that pause.
        mutating func failed(at now: C.Instant, jitter: Double, maximum: Duration) -> Duration {
            let pause: Duration
            switch self.machine.writeFailed(at: now, jitter: jitter) {
            case .retry(let after): pause = after
            default: pause = maximum
            }
            self.nextAttempt = now.advanced(by: pause)
            return pause
        }
    }

    /// Delivery with a spool: a chunk the sink refuses (or that would overtake spooled events) goes to the
    /// spool and is acknowledged there; the spool is offered to the sink, oldest first, on every chunk and
    /// tick until it is empty. A full spool holds the chunk unacknowledged, which pauses the pullers.
    private func runSpooling(
        _ chunks: some AsyncSequence<PreparedChunk, Never> & Sendable,
        spool: EventSpool,
        progress: SinkProgress
    ) async {
        if !spool.isEmpty {
            self.logger.info(
                "Output \(self.sink.name) starts with \(spool.pendingEvents) spooled events; they are sent first"
            )
        }
        var schedule = DrainSchedule(
            machine: SinkDeliveryStateMachine(backoff: self.configuration.backoff),
            nextAttempt: self.clock.now
        )
        let work = merge(
            chain(chunks.map { Work.chunk($0) }, [Work.end].async),
            AsyncTimerSequence(interval: self.configuration.spoolDrainInterval, clock: self.clock).map { _ in Work.tick
            }
        )
        loop: for await item in work {
            switch item {
            case .chunk(let chunk):
                await self.deliverSpooling(
                    chunk.batches,
                    prepared: chunk.prepared,
                    spool: spool,
                    schedule: &schedule,
                    progress: progress
                )
            case .tick:
                _ = await self.drain(spool, schedule: &schedule, progress: progress)
            case .end:
                break loop
            }
        }
        let deadline = self.clock.now.advanced(by: self.configuration.shutdownGrace)
        while !spool.isEmpty, self.clock.now < deadline {
            if await self.drain(spool, schedule: &schedule, progress: progress) { continue }
            let wake = min(schedule.nextAttempt, deadline)
            guard (try? await self.clock.sleep(until: wake, tolerance: nil)) != nil else { break }
        }
        if !spool.isEmpty {
            self.logger.warning(
                "Output \(self.sink.name) stops with \(spool.pendingEvents) events in its spool \(spool.path); they are sent first at the next start"
            )
        }
    }

    private func deliverSpooling(
        _ chunk: [EventBatch],
        prepared: PreparedWrite?,
        spool: EventSpool,
        schedule: inout DrainSchedule,
        progress: SinkProgress
    ) async {
        let count = chunk.eventCount
        var pending = PendingWrite(batches: chunk, prepared: prepared)
        if spool.isEmpty {
            let start = self.clock.now
            do {
                try await self.write(&pending)
                self.acknowledge(
                    chunk,
                    count: count,
                    refused: pending.refused,
                    took: start.duration(to: self.clock.now),
                    progress: progress
                )
                return
            } catch {
                self.failedWrites.increment()
                _ = schedule.failed(
                    at: self.clock.now,
                    jitter: self.configuration.jitter(),
                    maximum: self.configuration.backoff.maximum
                )
                self.logger.error(
                    "\(Self.describe(error, adding: "spooling \(pending.batches.eventCount) events to \(spool.path) until it recovers"))",
                    metadata: ["error.id": "\(Self.errorID(error))"]
                )
            }
        }
        let toSpool = pending.batches.flatMap(\.events)
        while true {
            do {
                let spooled = toSpool.isEmpty ? true : try spool.append(toSpool)
                if spooled {
                    self.dispatcher.eventsLeft(count, delivered: true)
                    if pending.delivered > 0 {
                        self.recordDelivered(pending.delivered, took: .zero, progress: progress)
                    }
                    for batch in chunk { batch.acknowledgement.release() }
                    self.logger.debug("Spooled \(toSpool.count) events (\(spool.pendingEvents) in the spool)")
                    self.recordLevels()
                    break
                }
            } catch {
                self.logger.error("\(error)", metadata: ["error.id": "\(error.code.id)"])
                await self.deliver(chunk, progress: progress)
                return
            }
            // The spool is full: the chunk waits unacknowledged (pausing the pullers) while the spool drains.
            if progress.shutdownRequested.load(ordering: .relaxed) {
                self.giveUp(chunk, count: count)
                return
            }
            if await self.drain(spool, schedule: &schedule, progress: progress) { continue }
            self.logger.warning(
                "Spool of output \(self.sink.name) is full (\(spool.pendingBytes) bytes); pausing until it drains"
            )
            guard (try? await self.clock.sleep(until: schedule.nextAttempt, tolerance: nil)) != nil else {
                self.giveUp(chunk, count: count)
                return
            }
        }
        _ = await self.drain(spool, schedule: &schedule, progress: progress)
    }

    /// Offers the oldest spooled events to the sink if a try is due; true when some were delivered.
    private func drain(_ spool: EventSpool, schedule: inout DrainSchedule, progress: SinkProgress) async -> Bool {
        guard !spool.isEmpty, self.clock.now >= schedule.nextAttempt else { return false }
        let start = self.clock.now
        do {
            if schedule.carried == nil {
                let (events, next) = try spool.peek(maxEvents: self.configuration.spoolDrainEvents)
                let batch = EventBatch(events: events, acknowledgement: Acknowledgement(unit: "spool"))
                schedule.carried = (PendingWrite(batches: [batch]), next, events.count)
            }
            guard let carried = schedule.carried else { return false }
            let (next, read) = (carried.next, carried.read)
            var pending = carried.pending
            do {
                try await self.write(&pending)
            } catch {
                schedule.carried = (pending, next, read)
                throw error
            }
            schedule.carried = nil
            try spool.commit(upTo: next, delivered: read)
            _ = schedule.machine.writeSucceeded()
            self.recordDelivered(read - pending.refused, took: start.duration(to: self.clock.now), progress: progress)
            if spool.isEmpty {
                self.logger.info("Output \(self.sink.name) recovered: its spool is delivered")
            }
            return true
        } catch {
            self.failedWrites.increment()
            let pause = schedule.failed(
                at: self.clock.now,
                jitter: self.configuration.jitter(),
                maximum: self.configuration.backoff.maximum
            )
            self.logger.error(
                "\(Self.describe(error, adding: "\(spool.pendingEvents) events spooled; next try in \(formatFixed(pause.seconds, decimals: 1)) s"))",
                metadata: ["error.id": "\(Self.errorID(error))"]
            )
            return false
        }
    }

    private func acknowledge(
        _ chunk: [EventBatch],
        count: Int,
        refused: Int,
        took: Duration,
        progress: SinkProgress
    ) {
        self.recordDelivered(count - refused, took: took, progress: progress)
        self.dispatcher.eventsLeft(count, delivered: true)
        for batch in chunk { batch.acknowledgement.release() }
    }

    private func recordDelivered(_ count: Int, took: Duration, progress: SinkProgress) {
        progress.statistics.withLock { $0.recordDelivered(count, took: took) }
        self.deliveredEvents.increment(by: count)
        self.recordLevels()
    }

    /// The queue's and spool's levels, for the gauges.
    private func recordLevels() {
        self.queuedEvents.record(self.queue.bufferedEvents)
        if let spool = self.spool {
            self.spooledEvents.record(spool.pendingEvents)
            self.spooledBytes.record(spool.pendingBytes)
        }
    }

    /// What is left of a chunk while it is being written.
    struct PendingWrite {
        /// The batches with the events not yet delivered nor refused.
        var batches: [EventBatch]
        /// Events set aside in the refused-events file.
        var refused = 0
        /// Events the receiver acknowledged before a failure.
        var delivered = 0
        /// What the sink prepared of `batches`; dropped once they change.
        var prepared: PreparedWrite?
    }

    /// Writes `pending` to the sink, keeping the output's metrics and health. Refused events are set aside in the refused-events file and the rest
    /// written again; after a partial delivery `pending` keeps only the undelivered events, and the failure
    /// is thrown.
    private func write(_ pending: inout PendingWrite) async throws {
        let start = ContinuousClock.now
        do {
            try await self.writeSettingRefusedAside(&pending)
        } catch {
            self.up.record(0)
            self.health?.outputFailed(self.sink.name, reason: Self.describe(error))
            throw error
        }
        self.writeDuration.recordSeconds(start.duration(to: .now).seconds)
        var bytes = 0
        for batch in pending.batches {
            batch.events.withUnsafeBufferPointer { events in
                for index in events.indices { bytes += events[index].body.readableBytes }
            }
        }
        self.deliveredBytes.increment(by: bytes)
        self.up.record(1)
        self.health?.outputSucceeded(self.sink.name)
    }

    private func writeSettingRefusedAside(_ pending: inout PendingWrite) async throws {
        while true {
            do {
                try await self.sink.write(pending.batches, prepared: pending.prepared)
                return
            } catch let refusal as EventsRefused {
                guard let file = self.refusedEvents, !refusal.positions.isEmpty else { throw refusal.error }
                let refused = pending.batches.events(at: refusal.positions)
                try file.append(refused, output: self.sink.name, error: refusal.error)
                self.logger.error(
                    "\(refusal.error.description) \(refused.count) events set aside in \(file.path)",
                    metadata: ["error.id": "\(refusal.error.code.id)"]
                )
                pending.batches = pending.batches.removingEvents(at: refusal.positions)
                pending.prepared = nil
                pending.refused += refused.count
            } catch let partial as PartialDelivery {
                pending.batches = pending.batches.removingEvents(at: partial.delivered)
                pending.prepared = nil
                pending.delivered += partial.delivered.count
                throw partial.failure
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

    /// The error with what the output does about it (`spooling 80 events to ...`) inside its message, before
    /// its fix: appended after the whole description it read `...keeps the events meanwhile.; spooling`.
    static func describe(_ error: any Error, adding context: String) -> String {
        if var error = error as? TrawlError {
            error.message += " (\(context))"
            return error.description
        }
        return "SinkError \(TrawlError.Code.sinkWriteFailed.id): \(error) (\(context))"
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
