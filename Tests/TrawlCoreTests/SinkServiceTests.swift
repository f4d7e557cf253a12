import Foundation
import Metrics
import MetricsTestKit
import NIOCore
import ServiceLifecycle
import Testing
import TrawlCore
import TrawlTesting

@Suite struct SinkServiceTests {
    private func batch(_ count: Int, unit: String) -> ([Event], Acknowledgement) {
        let events = (0..<count).map { Event.test("{\"i\":\($0)}", offset: Int64($0)) }
        return (events, Acknowledgement(unit: unit))
    }

    /// A sink service for `sink` on a manual clock, with its own queue and dispatcher, whose metrics go to
    /// `metrics`.
    private func service(
        _ sink: some EventSink,
        spool: EventSpool? = nil,
        configuration: SinkService<ManualClock>.Configuration,
        health: RuntimeHealth? = nil,
        metrics: TestMetrics,
        log: RecordingLogger = RecordingLogger()
    ) -> (SinkService<ManualClock>, EventDispatcher, ManualClock) {
        let clock = ManualClock()
        let queue = BoundedEventQueue(maxBufferedEvents: 100)
        let dispatcher = EventDispatcher(queues: [queue], maxBatchEvents: 50)
        let service = withMetricsFactory(metrics) {
            SinkService(
                sink: sink,
                spool: spool,
                queue: queue,
                dispatcher: dispatcher,
                configuration: configuration,
                health: health,
                clock: clock,
                logger: log.logger
            )
        }
        return (service, dispatcher, clock)
    }

    @Test func failedWritesAreRetriedWithBackoffAndAcknowledgedOnlyAfterSuccess() async throws {
        let sink = FlakySink(failures: 2)
        var configuration = SinkService<ManualClock>.Configuration()
        configuration.maxBatchesPerWrite = 1
        configuration.backoff = RetryBackoff(initial: .seconds(1), maximum: .seconds(8))
        let log = RecordingLogger()
        let metrics = TestMetrics()
        let (service, dispatcher, clock) = self.service(sink, configuration: configuration, metrics: metrics, log: log)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await service.run() }
            let (events, acknowledgement) = self.batch(3, unit: "unit-a")
            try await dispatcher.publish(events, acknowledgement: acknowledgement)
            acknowledgement.seal()

            #expect(await eventually { sink.attempts == 1 && clock.sleepers >= 2 })
            #expect(acknowledgement.outcome == nil, "a failed write must not acknowledge")
            clock.advance(by: .seconds(1))
            #expect(await eventually { sink.attempts == 2 })
            #expect(acknowledgement.outcome == nil)
            clock.advance(by: .seconds(2))
            try await acknowledgement.delivered()
            #expect(sink.attempts == 3)
            #expect(sink.acceptedEvents == 3)
            #expect(dispatcher.eventsInFlight == 0)
            #expect(log.messages(containing: "SinkError 500").count == 2)
            // What the output does about the error sits in its message, before its fix (not after its last dot).
            #expect(log.messages(containing: " (attempt 1, 3 events waiting). Fix: ").count == 1, "\(log.messages)")
            let delivered = try metrics.expectCounter("trawl_events_delivered_total", [("output", "flaky")])
            #expect(delivered.totalValue == 3)
            group.cancelAll()
        }
    }

    /// With a spool or without, as outputs run with `spool_max_megabytes` set or 0.
    @Test(arguments: [false, true])
    func aSinkThatPreparesHasTheNextChunkPreparedWhileItWritesAndWritesInOrder(spooling: Bool) async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let spool =
            spooling
            ? try EventSpool(
                store: try FileStateStore(directory: directory.path),
                collectorID: "c",
                output: "preparing",
                maxBytes: 1 << 20
            ) : nil
        let sink = PreparingSink()
        var configuration = SinkService<ManualClock>.Configuration()
        configuration.maxBatchesPerWrite = 1
        let (service, dispatcher, _) = self.service(
            sink,
            spool: spool,
            configuration: configuration,
            metrics: TestMetrics()
        )
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await service.run() }
            var acknowledgements: [Acknowledgement] = []
            for unit in ["a", "b", "c"] {
                let acknowledgement = Acknowledgement(unit: unit)
                let events = (0..<3).map { Event.test("\(unit)\($0)", offset: Int64($0)) }
                try await dispatcher.publish(events, acknowledgement: acknowledgement)
                acknowledgement.seal()
                acknowledgements.append(acknowledgement)
            }
            #expect(await eventually { sink.log.count >= 3 })
            // The second chunk is prepared while the first is still being written, and only one ahead.
            #expect(sink.log.first == "prepare a0")
            #expect(Set(sink.log) == ["prepare a0", "write a0 prepared", "prepare b0"])
            try await Task.sleep(for: .milliseconds(50))
            #expect(sink.log.count == 3, "no third chunk is taken while the second waits")
            #expect(acknowledgements[0].outcome == nil, "a write that has not returned acknowledges nothing")
            sink.release()
            for acknowledgement in acknowledgements { try await acknowledgement.delivered() }
            #expect(
                sink.log.filter { $0.hasPrefix("write") }
                    == ["write a0 prepared", "write b0 prepared", "write c0 prepared"]
            )
            #expect(dispatcher.eventsInFlight == 0)
            #expect(spool?.isEmpty ?? true, "nothing was spooled")
            group.cancelAll()
        }
    }

    /// A spool found damaged on opening is an error in the output's log (counted by id), and the whole
    /// records before and after the damage are still delivered.
    @Test func aDamagedSpoolIsLoggedAs205AndItsWholeRecordsDelivered() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try FileStateStore(directory: directory.path)
        let written = try EventSpool(store: store, collectorID: "c", output: "collect", maxBytes: 1 << 20)
        #expect(try written.append([Event.test("kept")]))
        let whole = try Data(contentsOf: URL(fileURLWithPath: written.path)).count
        #expect(try written.append([Event.test("damaged")]))
        #expect(try written.append([Event.test("after")]))
        var bytes = try Data(contentsOf: URL(fileURLWithPath: written.path))
        bytes[whole + 9] ^= 0xFF
        closeWhileNoChildStarts { written.close() }
        try bytes.write(to: URL(fileURLWithPath: written.path))
        let spool = try EventSpool(store: store, collectorID: "c", output: "collect", maxBytes: 1 << 20)
        let sink = CollectingSink()
        let log = RecordingLogger()
        let configuration = SinkService<ManualClock>.Configuration()
        let (service, _, clock) = self.service(
            sink,
            spool: spool,
            configuration: configuration,
            metrics: TestMetrics(),
            log: log
        )
        await withTaskGroup(of: Void.self) { group in
            group.addTask { try? await service.run() }
            // The spool is drained at each tick of its timer.
            #expect(
                await eventually {
                    clock.advance(by: configuration.spoolDrainInterval)
                    return sink.events.count == 2
                }
            )
            #expect(sink.events.map { String(buffer: $0.body) } == ["kept", "after"])
            let errors = log.lines.filter { $0.hasPrefix("error ") }
            #expect(errors.count == 1)
            #expect(errors.first?.contains("PersistenceError 205") == true)
            #expect(errors.first?.contains("\"error.id\": 205") == true, "\(errors)")
            group.cancelAll()
        }
    }

    @Test func anOutputIsNotReadyWhileItsWritesFailAndItsGaugesFollowIt() async throws {
        let sink = FlakySink(failures: 1)
        var configuration = SinkService<ManualClock>.Configuration()
        configuration.backoff = RetryBackoff(initial: .seconds(1), maximum: .seconds(1))
        let health = RuntimeHealth(outputs: ["flaky"], inputServices: [])
        let metrics = TestMetrics()
        let (service, dispatcher, clock) = self.service(
            sink,
            configuration: configuration,
            health: health,
            metrics: metrics
        )
        #expect(health.readiness.problems == ["output flaky: not started"])
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await service.run() }
            let (events, acknowledgement) = self.batch(3, unit: "unit-a")
            try await dispatcher.publish(events, acknowledgement: acknowledgement)
            acknowledgement.seal()
            #expect(await eventually { sink.attempts == 1 && clock.sleepers >= 2 })
            let up = try metrics.expectGauge("trawl_output_up", [("output", "flaky")])
            #expect(up.lastValue == 0)
            #expect(!health.readiness.isReady)
            #expect(health.readiness.problems.first?.hasPrefix("output flaky: SinkError 500") == true)
            clock.advance(by: .seconds(1))
            try await acknowledgement.delivered()
            #expect(up.lastValue == 1)
            #expect(health.readiness == RuntimeHealth.Readiness(isReady: true, problems: []))
            let bytes = try metrics.expectCounter("trawl_output_event_bytes_total", [("output", "flaky")])
            #expect(bytes.totalValue == Int64(events.reduce(0) { $0 + $1.body.readableBytes }))
            let queued = try metrics.expectGauge("trawl_output_queue_events", [("output", "flaky")])
            #expect(queued.lastValue == 0)
            group.cancelAll()
        }
    }

    @Test func aSinkStillFailingAfterTheShutdownGraceRejectsItsEvents() async throws {
        let clock = ManualClock()
        let queue = BoundedEventQueue(maxBufferedEvents: 100)
        let dispatcher = EventDispatcher(queues: [queue], maxBatchEvents: 50)
        let sink = FlakySink(failures: .max)
        var configuration = SinkService<ManualClock>.Configuration()
        configuration.maxBatchesPerWrite = 1
        configuration.backoff = RetryBackoff(initial: .seconds(1), maximum: .seconds(1))
        configuration.shutdownGrace = .seconds(3)
        let log = RecordingLogger()
        let service = SinkService(
            sink: sink,
            queue: queue,
            dispatcher: dispatcher,
            configuration: configuration,
            clock: clock,
            logger: log.logger
        )
        let serviceGroup = ServiceGroup(
            configuration: ServiceGroupConfiguration(services: [service], logger: log.logger)
        )
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await serviceGroup.run() }
            let (events, acknowledgement) = self.batch(2, unit: "unit-b")
            try await dispatcher.publish(events, acknowledgement: acknowledgement)
            acknowledgement.seal()
            #expect(await eventually { sink.attempts == 1 })
            await serviceGroup.triggerGracefulShutdown()
            for _ in 0..<6 {
                clock.advance(by: .seconds(1))
                try await Task.sleep(for: .milliseconds(20))
            }
            await #expect(throws: AcknowledgementRejected.self) { try await acknowledgement.delivered() }
            try await group.waitForAll()
        }
        #expect(!log.messages(containing: "SinkError 501").isEmpty)
        #expect(dispatcher.eventsInFlight == 0)
    }

    @Test func senderStatisticsShowTheSeedsMonitorLineWithTheQueueLevel() async throws {
        let clock = ManualClock()
        let queue = BoundedEventQueue(maxBufferedEvents: 100)
        let dispatcher = EventDispatcher(queues: [queue], maxBatchEvents: 50)
        let sink = BlockingSink()
        var configuration = SinkService<ManualClock>.Configuration()
        configuration.maxBatchesPerWrite = 1
        configuration.statisticsPeriod = .seconds(60)
        let log = RecordingLogger()
        let service = SinkService(
            sink: sink,
            queue: queue,
            dispatcher: dispatcher,
            configuration: configuration,
            clock: clock,
            logger: log.logger
        )
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await service.run() }
            for unit in ["a", "b"] {
                let (events, acknowledgement) = self.batch(3, unit: unit)
                try await dispatcher.publish(events, acknowledgement: acknowledgement)
            }
            // The sink holds the first batch; the second waits in the queue.
            #expect(await eventually { sink.writesStarted == 1 && queue.bufferedEvents == 3 })
            #expect(await eventually { clock.sleepers >= 1 })
            clock.advance(by: .seconds(60))
            #expect(
                await eventually {
                    !log.messages(containing: "Number of available senders: 1, sender manager internal queue size: 3")
                        .isEmpty
                }
            )
            #expect(!log.messages(containing: "Total number of messages sent: 0").isEmpty)
            sink.unblock()
            #expect(await eventually { queue.bufferedEvents == 0 && sink.writesStarted == 2 })
            group.cancelAll()
        }
    }
}
