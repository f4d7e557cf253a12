import TrawlCore

/// How failed AWS requests are retried: exponential backoff with full jitter, a longer base for throttling.
public struct AWSRetryPolicy: Sendable, Equatable {
    /// Attempts in all, the first included.
    public var maxAttempts: Int
    /// Base delay after a server error or a connection failure.
    public var baseDelay: Duration
    /// Base delay after AWS asked to slow down.
    public var throttlingBaseDelay: Duration
    /// No pause exceeds this.
    public var maxDelay: Duration

    public init(
        maxAttempts: Int = 5,
        baseDelay: Duration = .milliseconds(100),
        throttlingBaseDelay: Duration = .milliseconds(500),
        maxDelay: Duration = .seconds(20)
    ) {
        self.maxAttempts = max(1, maxAttempts)
        self.baseDelay = baseDelay
        self.throttlingBaseDelay = throttlingBaseDelay
        self.maxDelay = maxDelay
    }

    /// The ceiling of the pause after the `attempt`-th failure (1-based): base * 2^(attempt-1), capped.
    public func ceiling(afterAttempt attempt: Int, throttled: Bool) -> Duration {
        RetryBackoff(initial: throttled ? self.throttlingBaseDelay : self.baseDelay, maximum: self.maxDelay)
            .delay(afterFailures: attempt)
    }
}

/// The retry decisions for one AWS request, with no I/O and no randomness of its own (the caller passes a
/// random fraction), so every path is tested without waiting or sending.
public struct AWSRequestRetryStateMachine: Sendable {
    /// Why an attempt failed.
    public enum Failure: Sendable, Equatable {
        /// 5xx, connection refused or reset, read timeout: worth another attempt.
        case transient
        /// AWS asked to slow down (429, Throttling, SlowDown).
        case throttled
        /// A client error another attempt will repeat (4xx other than throttling).
        case permanent
    }

    public enum Action: Sendable, Equatable {
        case retry(after: Duration)
        case giveUp
    }

    public let policy: AWSRetryPolicy
    public private(set) var attempts = 0

    public init(policy: AWSRetryPolicy) {
        self.policy = policy
    }

    public mutating func attemptStarted() {
        self.attempts += 1
    }

    /// After a failed attempt: wait a random part of the backoff ceiling (`random` in 0..<1), or give up.
    public mutating func attemptFailed(_ failure: Failure, random: Double) -> Action {
        guard failure != .permanent, self.attempts < self.policy.maxAttempts else { return .giveUp }
        let ceiling = self.policy.ceiling(afterAttempt: self.attempts, throttled: failure == .throttled)
        return .retry(after: ceiling * min(max(random, 0), 1))
    }
}
