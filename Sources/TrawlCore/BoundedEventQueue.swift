import AsyncAlgorithms
import Synchronization

/// The bounded hand-over between the pipeline and one sink: a multi-producer single-consumer channel whose
/// water level is counted in events, so a slow sink suspends the producers once `highWatermark` events are
/// buffered and resumes them below `lowWatermark`. Memory stays bounded whatever the sources pull.
public final class BoundedEventQueue: Sendable {
    typealias Channel = MultiProducerSingleConsumerAsyncChannel<EventBatch, Never>

    /// The level (in events) above which producers are suspended.
    public let highWatermark: Int
    /// The level (in events) below which suspended producers resume.
    public let lowWatermark: Int
    private let source: Mutex<Channel.Source?>
    private let channel: Mutex<Channel?>
    private let level = Atomic<Int>(0)
    /// Batches in the channel: counted up only after a send succeeded and down as the sink takes one, so a
    /// positive count means the sink's next take returns without waiting.
    private let bufferedBatches = Atomic<Int>(0)

    /// Events enqueued and not yet taken by the sink (the seeds' "sender manager internal queue size").
    public var bufferedEvents: Int { self.level.load(ordering: .relaxed) }

    /// - Parameter maxBufferedEvents: the high watermark; the low one is half of it.
    public init(maxBufferedEvents: Int) {
        let high = max(1, maxBufferedEvents)
        self.highWatermark = high
        self.lowWatermark = high / 2
        var made = Channel.makeChannel(
            of: EventBatch.self,
            backpressureStrategy: .watermark(low: high / 2, high: high) { $0.events.count }
        )
        self.channel = Mutex(made.takeChannel())
        self.source = Mutex(consume made.source)
    }

    /// Enqueues a batch, suspending while the queue is above its high watermark.
    ///
    /// - Throws: ``QueueFinished`` once ``finish()`` was called, `CancellationError` when cancelled while
    ///   suspended (the batch then is enqueued but the caller no longer waits for room).
    public func send(_ batch: EventBatch) async throws {
        let handle = try self.source.withLock { slot throws -> Channel.Source.SendResult.CallbackHandle? in
            switch consume slot {
            case .none:
                slot = nil
                throw QueueFinished()
            case .some(var source):
                let result: Channel.Source.SendResult
                do {
                    result = try source.send(batch)
                    self.level.add(batch.events.count, ordering: .relaxed)
                    self.bufferedBatches.add(1, ordering: .releasing)
                } catch {
                    slot = consume source
                    throw QueueFinished()
                }
                slot = consume source
                switch consume result {
                case .produceMore: return nil
                case .enqueueCallback(let handle): return handle
                }
            }
        }
        guard let handle else { return }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                var handle = handle
                handle.enqueueCallback { result in continuation.resume(with: result) }
            }
        } onCancel: {
            var handle = handle
            handle.cancelCallback()
        }
    }

    /// No more batches will be sent; the consumer drains what is buffered and then ends.
    public func finish() {
        let source = self.source.withLock { slot -> Channel.Source? in
            let taken = slot.take()
            return taken
        }
        switch consume source {
        case .none: break
        case .some(let source): source.finish()
        }
    }

    /// The consuming side, batch by batch; may be taken once (this or ``takeChunks(maxBatches:)``).
    ///
    /// - Throws: ``QueueAlreadyConsumed`` on a second call.
    public func takeBatches() throws(QueueAlreadyConsumed) -> some AsyncSequence<EventBatch, Never> & Sendable {
        try self.takeElements()
    }

    /// The consuming side in chunks for a sink's writes: each chunk waits for one batch, then takes the
    /// batches already buffered behind it, up to `maxBatches`. Under load chunks fill up; when the producers
    /// wait for acknowledgements the last batch is written at once: a flush timer would add its interval to
    /// every commit's round trip and leave the pipeline idle meanwhile. May be taken once.
    ///
    /// - Throws: ``QueueAlreadyConsumed`` on a second call.
    public func takeChunks(
        maxBatches: Int
    ) throws(QueueAlreadyConsumed) -> some AsyncSequence<[EventBatch], Never>
        & Sendable
    {
        BufferedBatchChunks(base: try self.takeElements(), queue: self, maxBatches: max(1, maxBatches))
    }

    /// True when the next take returns a batch without waiting.
    var hasBufferedBatch: Bool { self.bufferedBatches.load(ordering: .acquiring) > 0 }

    private func takeElements() throws(QueueAlreadyConsumed) -> some AsyncSequence<EventBatch, Never> & Sendable {
        let channel = self.channel.withLock { slot -> Channel? in
            let taken = slot.take()
            return taken
        }
        switch consume channel {
        case .none: throw QueueAlreadyConsumed()
        case .some(let channel):
            return channel.elements().map { batch in
                self.level.subtract(batch.events.count, ordering: .relaxed)
                self.bufferedBatches.subtract(1, ordering: .relaxed)
                return batch
            }
        }
    }
}

/// Chunks of the batches a queue already holds: see ``BoundedEventQueue/takeChunks(maxBatches:)``.
struct BufferedBatchChunks<Base: AsyncSequence & Sendable>: AsyncSequence, Sendable
where Base.Element == EventBatch, Base.Failure == Never {
    let base: Base
    let queue: BoundedEventQueue
    let maxBatches: Int

    func makeAsyncIterator() -> Iterator {
        Iterator(base: self.base.makeAsyncIterator(), queue: self.queue, maxBatches: self.maxBatches)
    }

    struct Iterator: AsyncIteratorProtocol {
        var base: Base.AsyncIterator
        let queue: BoundedEventQueue
        let maxBatches: Int

        mutating func next(isolation actor: isolated (any Actor)? = #isolation) async -> [EventBatch]? {
            guard let first = await self.base.next(isolation: actor) else { return nil }
            var chunk = [first]
            while chunk.count < self.maxBatches, self.queue.hasBufferedBatch,
                let batch = await self.base.next(isolation: actor)
            {
                chunk.append(batch)
            }
            return chunk
        }
    }
}

/// The queue was finished: the pipeline is shutting down and accepts no more batches.
public struct QueueFinished: Error, Sendable {}

/// The consuming side of a queue was already taken: each queue has exactly one sink.
public struct QueueAlreadyConsumed: Error, Sendable {}
