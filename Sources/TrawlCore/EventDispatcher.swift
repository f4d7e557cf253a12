import Synchronization

/// The pipeline's entry for sources: fans every batch out to each sink's bounded queue and keeps the count
/// of events held in memory (enqueued or being written), which backpressure keeps under ``bufferBound``.
public final class EventDispatcher: Sendable {
    /// The sinks' queues, one per configured output.
    public let queues: [BoundedEventQueue]
    /// The largest batch a source hands over at once (sources split larger units).
    public let maxBatchEvents: Int
    private let inFlight = Atomic<Int>(0)
    private let givenUp = Atomic<Int>(0)

    public init(queues: [BoundedEventQueue], maxBatchEvents: Int) {
        self.queues = queues
        self.maxBatchEvents = max(1, maxBatchEvents)
    }

    /// Events handed to sinks and not yet written by them, counted once per sink.
    public var eventsInFlight: Int { self.inFlight.load(ordering: .relaxed) }

    /// Sends `events`, split into batches of at most ``maxBatchEvents``, to every sink, all carrying
    /// `acknowledgement`. Suspends while a sink's queue is full. Does not seal the acknowledgement.
    public func publish(_ events: [Event], acknowledgement: Acknowledgement) async throws {
        var start = events.startIndex
        while start < events.endIndex {
            let end = min(start + self.maxBatchEvents, events.endIndex)
            try await self.send(EventBatch(events: Array(events[start..<end]), acknowledgement: acknowledgement))
            start = end
        }
    }

    private func send(_ batch: EventBatch) async throws {
        batch.acknowledgement.retain(self.queues.count)
        for queue in self.queues {
            self.inFlight.add(batch.events.count, ordering: .relaxed)
            do {
                try await queue.send(batch)
            } catch let error as QueueFinished {
                self.eventsLeft(batch.events.count, delivered: false)
                batch.acknowledgement.reject(
                    TrawlError(
                        .sinkUndeliveredAtShutdown,
                        "the pipeline was shutting down and refused \(batch.events.count) events",
                        location: batch.acknowledgement.unit,
                        underlying: error
                    )
                )
                throw error
            }
        }
    }

    /// Events a sink gave up on while stopping (their sources did not commit them), counted once per sink.
    public var eventsGivenUp: Int { self.givenUp.load(ordering: .relaxed) }

    /// A sink finished with `count` events (written or given up on).
    func eventsLeft(_ count: Int, delivered: Bool) {
        self.inFlight.subtract(count, ordering: .relaxed)
        if !delivered { self.givenUp.add(count, ordering: .relaxed) }
    }

    /// The most events this pipeline holds in memory per sink: a full queue, one batch overshooting the
    /// high watermark, and the chunk the sink is writing.
    public func bufferBound(maxBatchesPerWrite: Int) -> Int {
        guard let queue = self.queues.first else { return 0 }
        return queue.highWatermark + self.maxBatchEvents * (1 + maxBatchesPerWrite)
    }
}
