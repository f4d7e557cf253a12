import Testing
import TrawlCore

@Suite struct CompletionLatchTests {
    @Test func aWaitEndsWhenEveryParticipantArrived() async {
        let latch = CompletionLatch(count: 2)
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await latch.wait() }
            latch.arrive()
            latch.arrive()
            await group.waitForAll()
        }
        await latch.wait()
    }

    /// `trawl run --once` waits on the latch inside `cancelWhenGracefulShutdown`; a wait deaf to cancellation
    /// held a stop until the shutdown timeout.
    @Test(.timeLimit(.minutes(1))) func aWaitEndsWhenItsTaskIsCancelledThoughNobodyArrived() async {
        let latch = CompletionLatch(count: 1)
        let waiting = Task { await latch.wait() }
        waiting.cancel()
        await waiting.value
        let cancelledFirst = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            await latch.wait()
        }
        await cancelledFirst.value
        #expect(waiting.isCancelled && cancelledFirst.isCancelled)
    }
}
