import Synchronization

/// Tells a source when a unit of its work (an SQS message, an API page, a file chunk) has been accepted by
/// every sink, so that only then it deletes the message or advances its cursor: the end-to-end
/// acknowledgement that makes delivery at-least-once across crashes.
///
/// The source creates one per unit, attaches it to every batch of that unit, calls ``seal()`` after the last
/// batch and awaits ``delivered()``. The pipeline retains it once per sink per batch; sinks release it.
public final class Acknowledgement: Sendable {
    private struct State {
        var machine = AcknowledgementStateMachine()
        var waiters: [Int: CheckedContinuation<Void, any Error>] = [:]
        var nextWaiter = 0
    }

    /// The unit this acknowledges, for logs.
    public let unit: String
    private let state = Mutex(State())

    public init(unit: String) {
        self.unit = unit
    }

    /// A batch of this unit was handed to `count` sinks.
    public func retain(_ count: Int) {
        self.state.withLock { $0.machine.retain(count) }
    }

    /// A sink accepted one batch of this unit.
    public func release() {
        self.apply { $0.release() }
    }

    /// A sink gave up on a batch of this unit; waiters get `error`.
    public func reject(_ error: TrawlError) {
        self.apply { $0.reject(code: error.code.id, message: error.message) }
    }

    /// The source has attached this acknowledgement to its last batch.
    public func seal() {
        self.apply { $0.seal() }
    }

    /// The outcome, if settled; `nil` while sinks still hold batches of the unit.
    public var outcome: AcknowledgementStateMachine.Outcome? {
        self.state.withLock { $0.machine.outcome }
    }

    /// Waits until every sink accepted every batch of the unit.
    ///
    /// - Throws: ``AcknowledgementRejected`` when a sink gave up, `CancellationError` when the waiting task is
    ///   cancelled. In both cases the source must not commit the unit.
    public func delivered() async throws {
        let id = self.state.withLock { state -> Int in
            state.nextWaiter += 1
            return state.nextWaiter
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let settled = self.state.withLock { state -> AcknowledgementStateMachine.Outcome?? in
                    if let outcome = state.machine.outcome { return .some(outcome) }
                    if Task.isCancelled { return .some(nil) }
                    state.waiters[id] = continuation
                    return nil
                }
                switch settled {
                case .none: break
                case .some(.none): continuation.resume(throwing: CancellationError())
                case .some(.some(let outcome)): continuation.resume(with: Self.result(outcome, unit: self.unit))
                }
            }
        } onCancel: {
            let waiter = self.state.withLock { $0.waiters.removeValue(forKey: id) }
            waiter?.resume(throwing: CancellationError())
        }
    }

    private func apply(_ input: (inout AcknowledgementStateMachine) -> AcknowledgementStateMachine.Action) {
        let (action, waiters) = self.state.withLock { state in
            let action = input(&state.machine)
            guard case .resume = action else { return (action, [CheckedContinuation<Void, any Error>]()) }
            let waiters = Array(state.waiters.values)
            state.waiters.removeAll()
            return (action, waiters)
        }
        guard case .resume(let outcome) = action else { return }
        let result = Self.result(outcome, unit: self.unit)
        for waiter in waiters { waiter.resume(with: result) }
    }

    private static func result(_ outcome: AcknowledgementStateMachine.Outcome, unit: String) -> Result<Void, any Error>
    {
        switch outcome {
        case .delivered: return .success(())
        case .rejected(let code, let message):
            return .failure(AcknowledgementRejected(unit: unit, code: code, message: message))
        }
    }
}

/// A unit of work was not accepted by every sink; its source must leave it to be retried.
public struct AcknowledgementRejected: Error, Sendable, Equatable {
    public var unit: String
    public var code: Int
    public var message: String
}
