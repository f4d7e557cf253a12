import Testing
import TrawlCore
import TrawlTesting

@Suite struct SinkDeliveryStateMachineTests {
    typealias Machine = SinkDeliveryStateMachine<ManualClock.Instant>

    static func at(_ seconds: Int64) -> ManualClock.Instant { .init(offset: .seconds(seconds)) }

    @Test func pausesDoubleAndTheJitterScalesThemDown() {
        var machine = Machine(backoff: RetryBackoff(initial: .seconds(1), maximum: .seconds(60)))
        #expect(machine.writeFailed(at: Self.at(0), jitter: 1) == .retry(after: .seconds(1)))
        #expect(machine.writeFailed(at: Self.at(1), jitter: 0.5) == .retry(after: .seconds(1)))
        #expect(machine.writeFailed(at: Self.at(2), jitter: 0.75) == .retry(after: .seconds(3)))
        #expect(machine.writeSucceeded() == .acknowledge)
        #expect(machine.writeFailed(at: Self.at(3), jitter: 1) == .retry(after: .seconds(1)))
    }

    @Test func afterShutdownTheGraceBoundsTheRetries() {
        var machine = Machine(backoff: RetryBackoff(initial: .seconds(4), maximum: .seconds(60)))
        machine.shutdownRequested(at: Self.at(0), grace: .seconds(5))
        #expect(machine.writeFailed(at: Self.at(0), jitter: 1) == .retry(after: .seconds(4)))
        #expect(machine.writeFailed(at: Self.at(4), jitter: 1) == .giveUp)
    }
}
