import ServiceLifecycle
import Synchronization

/// Counts sources down to zero, for `trawl run --once`: the run ends when every source finished its cycle.
public final class CompletionLatch: Sendable {
    private struct State {
        var remaining: Int
        var waiters: [CheckedContinuation<Void, Never>] = []
    }

    private let state: Mutex<State>

    public init(count: Int) {
        self.state = Mutex(State(remaining: count))
    }

    /// One participant is done.
    public func arrive() {
        let waiters = self.state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.remaining -= 1
            guard state.remaining <= 0 else { return [] }
            defer { state.waiters.removeAll() }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Waits until every participant arrived.
    public func wait() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let done = self.state.withLock { state -> Bool in
                if state.remaining <= 0 { return true }
                state.waiters.append(continuation)
                return false
            }
            if done { continuation.resume() }
        }
    }
}

/// A service that returns once every source finished, so that (configured to gracefully shut the group down
/// on success) the sinks drain and Trawl exits: the `--once` mode.
public struct RunOnceService: Service {
    public let latch: CompletionLatch

    public init(latch: CompletionLatch) {
        self.latch = latch
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown { await self.latch.wait() }
    }
}
