/// The bookkeeping behind an ``Acknowledgement``, pure so it can be tested without tasks: counts the holds
/// sinks have on a unit of source work and decides when (and with what outcome) its waiters resume.
public struct AcknowledgementStateMachine: Sendable {
    /// What the owner must do after an input: nothing, or resume the waiters with an outcome.
    public enum Action: Sendable, Equatable {
        case none
        case resume(Outcome)
    }

    /// The final word on a unit of work.
    public enum Outcome: Sendable, Equatable {
        /// Every event of the unit was accepted by every sink: the source may commit it.
        case delivered
        /// A sink gave up on some of the unit's events: the source must not commit it.
        case rejected(code: Int, message: String)
    }

    private var pending = 0
    private var sealed = false
    public private(set) var outcome: Outcome?

    public init() {}

    /// A batch of the unit was handed to `count` sinks.
    public mutating func retain(_ count: Int) {
        precondition(count >= 0, "retain takes a non-negative count")
        guard self.outcome == nil else { return }
        self.pending += count
    }

    /// One sink accepted one batch.
    public mutating func release() -> Action {
        guard self.outcome == nil else { return .none }
        precondition(self.pending > 0, "release without a matching retain")
        self.pending -= 1
        return self.settleIfDone()
    }

    /// A sink gave up on one batch; the whole unit is rejected at once.
    public mutating func reject(code: Int, message: String) -> Action {
        guard self.outcome == nil else { return .none }
        let outcome = Outcome.rejected(code: code, message: message)
        self.outcome = outcome
        return .resume(outcome)
    }

    /// The source produced every batch of the unit; from now on the count can only fall.
    public mutating func seal() -> Action {
        guard self.outcome == nil else { return .none }
        self.sealed = true
        return self.settleIfDone()
    }

    private mutating func settleIfDone() -> Action {
        guard self.sealed, self.pending == 0 else { return .none }
        self.outcome = .delivered
        return .resume(.delivered)
    }
}
