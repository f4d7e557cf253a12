/// Exponential backoff for redelivery: pure arithmetic so it can be reasoned about and tested without time.
public struct RetryBackoff: Sendable, Equatable {
    public var initial: Duration
    public var maximum: Duration
    public var multiplier: Int

    public init(initial: Duration = .seconds(1), maximum: Duration = .seconds(60), multiplier: Int = 2) {
        self.initial = initial
        self.maximum = maximum
        self.multiplier = max(1, multiplier)
    }

    /// The pause before attempt `failures + 1`, after `failures` consecutive failures (1-based).
    public func delay(afterFailures failures: Int) -> Duration {
        var delay = self.initial
        var remaining = max(0, failures - 1)
        while remaining > 0, delay < self.maximum {
            delay *= self.multiplier
            remaining -= 1
        }
        return min(delay, self.maximum)
    }
}
