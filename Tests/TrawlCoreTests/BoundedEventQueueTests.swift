import Testing
import TrawlCore
import TrawlTesting

@Suite struct BoundedEventQueueTests {
    private func batch(_ count: Int) -> EventBatch {
        EventBatch(
            events: (0..<count).map { Event.test("{\"n\":\($0)}") },
            acknowledgement: Acknowledgement(unit: "u")
        )
    }

    /// Batches already waiting go out together, at most `maxBatches` per chunk, in the order sent.
    @Test func chunksTakeTheBufferedBatchesUpToTheMaximum() async throws {
        let queue = BoundedEventQueue(maxBufferedEvents: 1_000)
        for size in 1...5 { try await queue.send(self.batch(size)) }
        queue.finish()
        var sizes: [[Int]] = []
        for await chunk in try queue.takeChunks(maxBatches: 2) {
            sizes.append(chunk.map(\.events.count))
        }
        #expect(sizes == [[1, 2], [3, 4], [5]])
        #expect(queue.bufferedEvents == 0)
    }

    /// A lone batch is written as soon as it is sent, with the clock standing still: no flush interval holds
    /// it back while its source waits for the acknowledgement.
    @Test func aLoneBatchIsWrittenWithoutWaitingForAFlushInterval() async throws {
        let clock = ManualClock()
        let queue = BoundedEventQueue(maxBufferedEvents: 1_000)
        let dispatcher = EventDispatcher(queues: [queue], maxBatchEvents: 100)
        let sink = CollectingSink()
        let service = SinkService(
            sink: sink,
            queue: queue,
            dispatcher: dispatcher,
            configuration: SinkService<ManualClock>.Configuration(),
            clock: clock,
            logger: RecordingLogger().logger
        )
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await service.run() }
            for round in 1...3 {
                let acknowledgement = Acknowledgement(unit: "u\(round)")
                try await dispatcher.publish([Event.test("{\"round\":\(round)}")], acknowledgement: acknowledgement)
                acknowledgement.seal()
                #expect(await eventually { acknowledgement.outcome != nil })
                #expect(sink.events.count == round)
            }
            group.cancelAll()
        }
    }

    /// The queue has one consumer: taking it twice is an error, whichever form was taken first.
    @Test func theConsumingSideCanBeTakenOnce() throws {
        let queue = BoundedEventQueue(maxBufferedEvents: 10)
        _ = try queue.takeChunks(maxBatches: 4)
        #expect(throws: QueueAlreadyConsumed.self) { _ = try queue.takeBatches() }
    }
}
