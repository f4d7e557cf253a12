/// When temporary credentials are fetched, reused and refreshed: no I/O, instants from the caller's clock.
///
/// Credentials are refreshed from `refreshAt` (some minutes before they expire): the first caller past
/// that point fetches while later callers keep using the old ones; once fewer than `minimumValidity` remain,
/// callers wait for the fetch instead. Credentials are never handed out past that point, so no request is
/// signed with credentials about to expire.
public struct CredentialRefreshStateMachine<Instant: InstantProtocol, Waiter>
where Instant.Duration == Duration {
    struct Cached {
        var credentials: AWSCredentials
        var refreshAt: Instant
        var usableUntil: Instant
    }

    public enum RequestAction {
        /// Use these credentials now.
        case use(AWSCredentials)
        /// This caller fetches new credentials, then reports with `fetchSucceeded` or `fetchFailed`.
        case fetch
        /// A fetch is running; the waiter is resumed when it ends.
        case wait
    }

    public enum FailureAction {
        /// The old credentials are still usable: use them; the next refresh is tried after `retryInterval`.
        case keepOld(AWSCredentials)
        /// Nothing usable: the waiters fail with the fetch's error.
        case fail([Waiter])
    }

    private var cached: Cached?
    private var fetching = false
    private var waiters: [Waiter] = []
    /// How long before expiry a refresh starts.
    public let refreshMargin: Duration
    /// Credentials with less validity left are not handed out.
    public let minimumValidity: Duration

    /// Pause between failed refreshes while the old credentials last.
    public let retryInterval: Duration

    public init(
        refreshMargin: Duration = .seconds(300),
        minimumValidity: Duration = .seconds(60),
        retryInterval: Duration = .seconds(15)
    ) {
        self.refreshMargin = refreshMargin
        self.minimumValidity = minimumValidity
        self.retryInterval = retryInterval
    }

    public mutating func request(now: Instant, waiter: Waiter) -> RequestAction {
        if let cached, now < cached.usableUntil {
            if now < cached.refreshAt || self.fetching { return .use(cached.credentials) }
            self.fetching = true
            return .fetch
        }
        if self.fetching {
            self.waiters.append(waiter)
            return .wait
        }
        self.fetching = true
        return .fetch
    }

    /// New credentials valid `validFor` from `now` (nil: long-term keys, refreshed never); returns the
    /// waiters to resume with them.
    public mutating func fetchSucceeded(_ credentials: AWSCredentials, validFor: Duration?, now: Instant) -> [Waiter] {
        let lifetime = validFor ?? .seconds(100 * 365 * 86_400)
        // Short-lived credentials: refresh at the latest halfway through their life.
        let margin = min(self.refreshMargin, lifetime / 2)
        self.cached = Cached(
            credentials: credentials,
            refreshAt: now.advanced(by: lifetime - margin),
            usableUntil: now.advanced(by: lifetime - min(self.minimumValidity, lifetime / 4))
        )
        self.fetching = false
        defer { self.waiters = [] }
        return self.waiters
    }

    public mutating func fetchFailed(now: Instant) -> FailureAction {
        self.fetching = false
        if var cached, now < cached.usableUntil {
            cached.refreshAt = min(now.advanced(by: self.retryInterval), cached.usableUntil)
            self.cached = cached
            return .keepOld(cached.credentials)
        }
        defer { self.waiters = [] }
        return .fail(self.waiters)
    }
}
