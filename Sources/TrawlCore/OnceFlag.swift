import Synchronization

/// Lets something be said once however many cycles or services reach it (a warning about a setting).
public final class OnceFlag: Sendable {
    private let claimed = Mutex(false)

    public init() {}

    /// True the first time only.
    public func claim() -> Bool {
        self.claimed.withLock { claimed in
            defer { claimed = true }
            return !claimed
        }
    }
}
