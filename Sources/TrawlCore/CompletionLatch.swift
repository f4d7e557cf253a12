import ServiceLifecycle
import Synchronization

/// Counts sources down to zero, for `trawl run --once`: the run ends when every source finished its cycle.
public final class CompletionLatch: Sendable {
    private struct State {
        var remaining: Int
        var nextWaiter = 0
        var waiters: [Int: CheckedContinuation<Void, Never>] = [:]
        /// Waiters cancelled before they were stored: they must not wait when they get there.
        var cancelled: Set<Int> = []
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
            return Array(state.waiters.values)
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Waits until every participant arrived, or the waiting task is cancelled: `RunOnceService` waits inside
    /// `cancelWhenGracefulShutdown`, and a wait deaf to cancellation held a stop of `--once` until the
    /// sources ended on their own or the shutdown timeout cancelled everything.
    public func wait() async {
        let id = self.state.withLock { state -> Int in
            state.nextWaiter += 1
            return state.nextWaiter
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let done = self.state.withLock { state -> Bool in
                    if state.remaining <= 0 || state.cancelled.remove(id) != nil { return true }
                    state.waiters[id] = continuation
                    return false
                }
                if done { continuation.resume() }
            }
        } onCancel: {
            let waiter = self.state.withLock { state -> CheckedContinuation<Void, Never>? in
                guard let waiter = state.waiters.removeValue(forKey: id) else {
                    if state.remaining > 0 { state.cancelled.insert(id) }
                    return nil
                }
                return waiter
            }
            waiter?.resume()
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
