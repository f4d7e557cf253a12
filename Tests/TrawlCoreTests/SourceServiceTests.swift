import Metrics
import MetricsTestKit
import Synchronization
import Testing
import TrawlCore
import TrawlTesting

@Suite struct SourceServiceTests {
    /// A source whose first pull cycle fails as one that may not read its queue does, and whose later
    /// cycles succeed.
    private final class FailingOnceSource: PullingSource {
        let pulls = Mutex(0)

        func pull(_ context: PullContext) async throws -> PullCycleStatistics {
            let pull = self.pulls.withLock { pulls -> Int in
                pulls += 1
                return pulls
            }
            if pull == 1 {
                throw TrawlError(
                    .sourceReadFailed,
                    "the queue refused the credentials",
                    location: "inputs.s1.services.test"
                )
            }
            return PullCycleStatistics()
        }
    }

    @Test func anInputIsNotReadyFromAFailedPullCycleUntilOneSucceeds() async throws {
        let source = FailingOnceSource()
        let clock = ManualClock()
        let health = RuntimeHealth(outputs: [], inputServices: ["s1/test"])
        let log = RecordingLogger()
        let service = withMetricsFactory(TestMetrics()) {
            SourceService(
                name: "s1/test",
                source: source,
                dispatcher: EventDispatcher(queues: [BoundedEventQueue(maxBufferedEvents: 10)], maxBatchEvents: 5),
                period: .seconds(60),
                health: health,
                clock: clock,
                logger: log.logger
            )
        }
        #expect(health.readiness.problems == ["input s1/test: not started"])
        await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await service.run() }
            #expect(await eventually { source.pulls.withLock { $0 } == 1 && clock.sleepers == 1 })
            #expect(
                health.readiness
                    == RuntimeHealth.Readiness(
                        isReady: false,
                        problems: [
                            "input s1/test: SourceError 300 at inputs.s1.services.test: the queue refused the credentials. "
                                + "Fix: \(TrawlError.Code.sourceReadFailed.fix)"
                        ]
                    )
            )
            clock.advance(by: .seconds(60))
            #expect(await eventually { source.pulls.withLock { $0 } == 2 && clock.sleepers == 1 })
            #expect(health.readiness == RuntimeHealth.Readiness(isReady: true, problems: []))
            group.cancelAll()
        }
    }
}
