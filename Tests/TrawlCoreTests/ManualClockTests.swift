import Testing
import TrawlTesting

@Suite struct ManualClockTests {
    /// A task cancelled before it sleeps (a test cancelling a service just as it goes back to sleep): the
    /// cancellation handler runs before the sleeper is registered, and once left it for ever.
    @Test func aSleepInATaskAlreadyCancelledEndsAtOnce() async {
        let clock = ManualClock()
        let outcome = await withTaskGroup(of: String.self) { group in
            group.addTask {
                withUnsafeCurrentTask { $0?.cancel() }
                do {
                    try await clock.sleep(for: .seconds(60))
                    return "slept"
                } catch is CancellationError {
                    return "cancelled"
                } catch {
                    return "\(error)"
                }
            }
            return await group.next()
        }
        #expect(outcome == "cancelled")
        #expect(clock.sleepers == 0)
    }

    @Test func aSleeperWakesWhenTimeIsAdvancedPastItsDeadline() async throws {
        let clock = ManualClock()
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await clock.sleep(for: .seconds(60)) }
            #expect(await eventually { clock.sleepers == 1 })
            clock.advance(by: .seconds(59))
            #expect(clock.sleepers == 1)
            clock.advance(by: .seconds(1))
            try await group.next()
        }
        #expect(clock.sleepers == 0)
    }
}
