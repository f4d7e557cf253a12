import NIOCore
import Testing
import TrawlCore
import TrawlTesting

@Suite struct BackpressureTests {
    /// A source with endless data in front of a sink that never returns: the events held in memory must stay
    /// under the configured bound while the source is suspended trying to produce more; a sink that prepares
    /// its writes holds one chunk more.
    @Test(arguments: [false, true])
    func eventsHeldInMemoryStayUnderTheBoundWhenTheSinkBlocks(sinkPreparesWrites: Bool) async throws {
        let queue = BoundedEventQueue(maxBufferedEvents: 100)
        let dispatcher = EventDispatcher(queues: [queue], maxBatchEvents: 10)
        var configuration = SinkService<ContinuousClock>.Configuration()
        configuration.maxBatchesPerWrite = 4
        let blocking = BlockingSink()
        let preparing = PreparingSink()
        let sink: any EventSink = sinkPreparesWrites ? preparing : blocking
        let log = RecordingLogger()
        let service = SinkService(
            sink: sink,
            queue: queue,
            dispatcher: dispatcher,
            configuration: configuration,
            clock: ContinuousClock(),
            logger: log.logger
        )
        let bound = dispatcher.bufferBound(
            maxBatchesPerWrite: configuration.maxBatchesPerWrite,
            chunksInHand: sinkPreparesWrites ? 2 : 1
        )
        let produced = SharedCounter()
        let attempts = SharedCounter()
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await service.run() }
            group.addTask {
                var offset: Int64 = 0
                while !Task.isCancelled {
                    let events = (0..<10).map { _ in
                        offset += 1
                        return Event.test("{\"n\":\(offset)}", offset: offset)
                    }
                    attempts.add(1)
                    try await dispatcher.publish(events, acknowledgement: Acknowledgement(unit: "u\(offset)"))
                    produced.add(events.count)
                }
            }
            let wroteOnce = await eventually {
                blocking.writesStarted >= 1 || preparing.log.contains { $0.hasPrefix("write") }
            }
            #expect(wroteOnce)
            var maximumHeld = 0
            for _ in 0..<50 {
                maximumHeld = max(maximumHeld, dispatcher.eventsInFlight)
                try await Task.sleep(for: .milliseconds(10))
            }
            let producedWhileBlocked = produced.value
            #expect(maximumHeld <= bound, "held \(maximumHeld) events, bound is \(bound)")
            #expect(producedWhileBlocked <= bound)
            #expect(maximumHeld >= queue.highWatermark, "the queue filled up to its watermark")
            if sinkPreparesWrites {
                let oneChunk = dispatcher.bufferBound(maxBatchesPerWrite: configuration.maxBatchesPerWrite)
                #expect(maximumHeld > oneChunk, "the chunk prepared meanwhile is held too")
            }
            #expect(
                attempts.value * 10 > producedWhileBlocked,
                "the source is suspended in the middle of publishing more"
            )

            blocking.unblock()
            preparing.release()
            let progressed = await eventually { produced.value > producedWhileBlocked + 1_000 }
            #expect(progressed, "the source resumes once the sink drains")
            group.cancelAll()
        }
    }
}
