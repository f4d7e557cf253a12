/// Decides, without doing I/O, what a sink's service does after each write attempt of a chunk: retry after a
/// backoff, or, once shutdown asked it to stop and its deadline passed, give the chunk up (its sources then
/// do not commit it, so it is pulled again later). Instants come from the caller's clock.
public struct SinkDeliveryStateMachine<Instant: InstantProtocol>: Sendable where Instant.Duration == Duration {
    public enum Action: Sendable, Equatable {
        /// The chunk was accepted: release its acknowledgements.
        case acknowledge
        /// Try the same chunk again after the pause.
        case retry(after: Duration)
        /// Stop trying: reject the chunk's acknowledgements.
        case giveUp
    }

    public let backoff: RetryBackoff
    public private(set) var consecutiveFailures = 0
    private var giveUpAt: Instant?

    public init(backoff: RetryBackoff) {
        self.backoff = backoff
    }

    /// The write of the current chunk succeeded.
    public mutating func writeSucceeded() -> Action {
        self.consecutiveFailures = 0
        return .acknowledge
    }

    /// The write of the current chunk failed at `now`. The pause is the backoff delay scaled by `jitter`
    /// (the caller's random factor, 1 for none), so many senders failing together do not retry in step.
    public mutating func writeFailed(at now: Instant, jitter: Double = 1) -> Action {
        self.consecutiveFailures += 1
        if let giveUpAt, now >= giveUpAt { return .giveUp }
        let pause = self.backoff.delay(afterFailures: self.consecutiveFailures) * min(max(jitter, 0), 1)
        if let giveUpAt, now.advanced(by: pause) > giveUpAt { return .giveUp }
        return .retry(after: pause)
    }

    /// Shutdown was requested at `now`: keep retrying for at most `grace`, then give up.
    public mutating func shutdownRequested(at now: Instant, grace: Duration) {
        self.giveUpAt = now.advanced(by: grace)
    }
}
