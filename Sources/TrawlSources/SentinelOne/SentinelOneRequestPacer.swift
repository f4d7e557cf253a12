import TrawlCore

/// Paces the requests of every service of one SentinelOne console, with no I/O and no randomness of its own
/// (callers pass the instant and a random fraction), so every path is tested with a manual clock.
///
/// SentinelOne does not document its rate limits: the pacer spaces requests to a configured budget per
/// minute, and when the console answers 429 (or 503, which consoles send under load and the seed treats as
/// 429) every service of the console pauses: for `Retry-After` when the console says, else for an
/// exponential backoff with jitter that grows while the console keeps refusing.
public struct SentinelOneRequestPacer<Instant: InstantProtocol & Sendable>: Sendable
where Instant.Duration == Duration {
    public struct Configuration: Sendable, Equatable {
        /// Requests sent per minute at most, by all services of the console together.
        public var requestsPerMinute: Int
        /// Attempts of one request in all, the first included, before it fails.
        public var maxAttempts: Int
        /// The first backoff ceiling after a refusal without `Retry-After`; doubles per refusal in a row.
        public var baseDelay: Duration
        /// No pause exceeds this, whatever `Retry-After` says.
        public var maxDelay: Duration

        public init(
            requestsPerMinute: Int = 300,
            maxAttempts: Int = 6,
            baseDelay: Duration = .seconds(1),
            maxDelay: Duration = .seconds(120)
        ) {
            self.requestsPerMinute = max(1, requestsPerMinute)
            self.maxAttempts = max(1, maxAttempts)
            self.baseDelay = baseDelay
            self.maxDelay = maxDelay
        }
    }

    public let configuration: Configuration
    private var nextSlot: Instant?
    private var pausedUntil: Instant?
    /// Refusals in a row, across services: the backoff grows while the console keeps refusing.
    public private(set) var refusals = 0

    public init(configuration: Configuration) {
        self.configuration = configuration
    }

    /// The spacing of requests the budget allows.
    public var spacing: Duration { .seconds(60) / self.configuration.requestsPerMinute }

    /// Takes the next free slot: the instant at which a request asked for at `now` may be sent.
    public mutating func reserve(now: Instant) -> Instant {
        var at = now
        if let slot = self.nextSlot, at < slot { at = slot }
        if let paused = self.pausedUntil, at < paused { at = paused }
        self.nextSlot = at.advanced(by: self.spacing)
        return at
    }

    /// The console refused a request at `now` (429, or 503); returns the pause every service now observes.
    /// `random` (0..<1) spreads the pause between half the backoff ceiling and the ceiling.
    public mutating func refused(now: Instant, retryAfter: Duration?, random: Double) -> Duration {
        self.refusals += 1
        let pause: Duration
        if let retryAfter, retryAfter > .zero {
            pause = min(retryAfter, self.configuration.maxDelay)
        } else {
            let ceiling = RetryBackoff(initial: self.configuration.baseDelay, maximum: self.configuration.maxDelay)
                .delay(afterFailures: self.refusals)
            pause = ceiling / 2 + (ceiling / 2) * min(max(random, 0), 1)
        }
        let until = now.advanced(by: pause)
        if let paused = self.pausedUntil, until < paused { return now.duration(to: paused) }
        self.pausedUntil = until
        return pause
    }

    /// A request succeeded: the console is no longer refusing.
    public mutating func accepted() {
        self.refusals = 0
    }
}
