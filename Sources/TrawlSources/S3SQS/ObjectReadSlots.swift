import Synchronization

/// How many objects one service reads at once, across all its messages: `concurrency`. A message naming
/// many objects (a CrowdStrike FDR batch, S3 events a pipeline batched) reads several of them at once instead
/// of one after the other on one core, and a queue of one-object messages takes one slot per message, as the
/// number of messages in flight already allows. A slot is taken before an object's key is waited for (see
/// ``ObjectsBeingRead``) and given back when its reading ends, and no reader takes a second one, so holding
/// slots never waits on another holder.
final class ObjectReadSlots: Sendable {
    private struct State {
        var free: Int
        /// Readers waiting for a slot, the longest waiting first.
        var waiting: [CheckedContinuation<Void, Never>] = []
    }

    private let state: Mutex<State>

    init(_ count: Int) {
        self.state = Mutex(State(free: max(1, count)))
    }

    /// How many readers wait for a slot.
    var waitingReaders: Int { self.state.withLock { $0.waiting.count } }

    /// Takes a slot, once one is free.
    func take() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let taken = self.state.withLock { state -> Bool in
                guard state.free > 0 else {
                    state.waiting.append(continuation)
                    return false
                }
                state.free -= 1
                return true
            }
            if taken { continuation.resume() }
        }
    }

    /// Gives a slot back: to the reader waiting longest, if any.
    func give() {
        let next = self.state.withLock { state -> CheckedContinuation<Void, Never>? in
            guard !state.waiting.isEmpty else {
                state.free += 1
                return nil
            }
            return state.waiting.removeFirst()
        }
        next?.resume()
    }
}
