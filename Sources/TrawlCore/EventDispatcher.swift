import Synchronization

/// The pipeline's entry for sources: fans every batch out to each sink's bounded queue and keeps the count
/// of events held in memory (enqueued or being written), which backpressure keeps under ``bufferBound``.
public final class EventDispatcher: Sendable {
    /// The sinks' queues, one per configured output.
    public let queues: [BoundedEventQueue]
    /// The kinds of events each queue's output takes, in the order of ``queues``.
    public let accepts: [EventKinds]
    /// What at least one output takes.
    private let acceptedByAny: EventKinds
    /// The largest batch a source hands over at once (sources split larger units).
    public let maxBatchEvents: Int
    private let inFlight = Atomic<Int>(0)
    private let givenUp = Atomic<Int>(0)

    /// - Parameter accepts: what each queue's output takes (every output takes records and lookups when nil).
    public init(queues: [BoundedEventQueue], accepts: [EventKinds]? = nil, maxBatchEvents: Int) {
        self.queues = queues
        self.accepts = accepts ?? queues.map { _ in [.records, .lookups] }
        self.acceptedByAny = self.accepts.reduce(into: EventKinds()) { $0.formUnion($1) }
        self.maxBatchEvents = max(1, maxBatchEvents)
    }

    /// Events handed to sinks and not yet written by them, counted once per sink.
    public var eventsInFlight: Int { self.inFlight.load(ordering: .relaxed) }

    /// Sends batches a source already cut to at most ``maxBatchEvents`` (larger ones are split) as they are,
    /// all carrying `acknowledgement`: a source that builds its batches as it goes saves copying every event.
    /// Suspends while a sink's queue is full. Does not seal the acknowledgement.
    public func publish(batches: [[Event]], acknowledgement: Acknowledgement) async throws {
        for events in batches where !events.isEmpty {
            if events.count <= self.maxBatchEvents {
                try await self.send(EventBatch(events: events, acknowledgement: acknowledgement))
            } else {
                try await self.publish(events, acknowledgement: acknowledgement)
            }
        }
    }

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

    /// Sends each queue the events its output takes; an event no output takes rejects the acknowledgement
    /// (configuration validation prevents this, SetupError 18), so its source does not commit it.
    private func send(_ batch: EventBatch) async throws {
        let kinds = batch.events.reduce(into: EventKinds()) { $0.insert(EventKinds($1.kind)) }
        if let lost = batch.events.first(where: { !self.acceptedByAny.contains($0.kind) }) {
            batch.acknowledgement.reject(
                TrawlError(
                    .outputForKindMissing,
                    "no output takes the \(lost.kind == .lookup ? "lookup" : "record") events of "
                        + "\(batch.acknowledgement.unit) (tag \(lost.tag))",
                    location: "outputs"
                )
            )
            return
        }
        var routes: [(BoundedEventQueue, EventBatch)] = []
        for (queue, accepts) in zip(self.queues, self.accepts) where !accepts.isDisjoint(with: kinds) {
            var routed = batch
            if !accepts.isSuperset(of: kinds) { routed.events.removeAll { !accepts.contains($0.kind) } }
            routes.append((queue, routed))
        }
        batch.acknowledgement.retain(routes.count)
        for (queue, routedBatch) in routes {
            self.inFlight.add(routedBatch.events.count, ordering: .relaxed)
            do {
                try await queue.send(routedBatch)
            } catch let error as QueueFinished {
                self.eventsLeft(routedBatch.events.count, delivered: false)
                batch.acknowledgement.reject(
                    TrawlError(
                        .sinkUndeliveredAtShutdown,
                        "the pipeline was shutting down and refused \(routedBatch.events.count) events",
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
    /// high watermark, and the chunks the sink holds: the one it is writing, and for a sink that prepares
    /// its writes (``EventSink/preparesWrites``) the one prepared meanwhile (`chunksInHand` 2).
    public func bufferBound(maxBatchesPerWrite: Int, chunksInHand: Int = 1) -> Int {
        guard let queue = self.queues.first else { return 0 }
        return queue.highWatermark + self.maxBatchEvents * (1 + chunksInHand * maxBatchesPerWrite)
    }
}
