import Logging
import Synchronization
import TrawlCore

/// Caches the temporary credentials another provider fetches (an AssumeRole) and refreshes them before
/// they expire, one fetch at a time however many requests ask; see ``CredentialRefreshStateMachine``.
public final class RefreshingCredentialProvider<C: Clock>: AWSCredentialProvider where C.Duration == Duration {
    enum Outcome {
        case use(AWSCredentials)
        case fetch
        /// The caller fetching was cancelled; ask again (one of the askers becomes the fetcher).
        case askAgain
    }
    typealias Machine = CredentialRefreshStateMachine<C.Instant, CheckedContinuation<Outcome, any Error>>

    /// What this provider caches, for logs (`role arn:aws:iam::...`).
    public let name: String
    private let fetch: @Sendable (Logger) async throws -> AWSCredentials
    private let clock: C
    private let state: Mutex<Machine>

    public init(
        name: String,
        clock: C,
        refreshMargin: Duration = .seconds(300),
        minimumValidity: Duration = .seconds(60),
        fetch: @escaping @Sendable (Logger) async throws -> AWSCredentials
    ) {
        self.name = name
        self.fetch = fetch
        self.clock = clock
        self.state = Mutex(Machine(refreshMargin: refreshMargin, minimumValidity: minimumValidity))
    }

    public func credentials(logger: Logger) async throws -> AWSCredentials {
        let outcome = try await withCheckedThrowingContinuation {
            (continuation: CheckedContinuation<Outcome, any Error>) in
            let action = self.state.withLock { $0.request(now: self.clock.now, waiter: continuation) }
            switch action {
            case .use(let credentials): continuation.resume(returning: .use(credentials))
            case .fetch: continuation.resume(returning: .fetch)
            case .wait: break
            }
        }
        switch outcome {
        case .use(let credentials):
            return credentials
        case .askAgain:
            return try await self.credentials(logger: logger)
        case .fetch:
            do {
                let credentials = try await self.fetch(logger)
                let now = self.clock.now
                let validFor = credentials.expiration.map {
                    Duration.microseconds($0.microsecondsSinceEpoch - UTCTimestamp.now().microsecondsSinceEpoch)
                }
                logger.info(
                    "Obtained AWS credentials for \(self.name)",
                    metadata: [
                        "aws.access_key": "\(credentials.redactedAccessKeyID)",
                        "aws.credentials.expiration": "\(credentials.expiration.map { "\($0)" } ?? "never")",
                    ]
                )
                let waiters = self.state.withLock { $0.fetchSucceeded(credentials, validFor: validFor, now: now) }
                for waiter in waiters { waiter.resume(returning: .use(credentials)) }
                return credentials
            } catch {
                let action = self.state.withLock { $0.fetchFailed(now: self.clock.now) }
                switch action {
                case .keepOld(let credentials):
                    logger.warning(
                        "Refreshing AWS credentials for \(self.name) failed; the current ones stay valid a while: \(error)"
                    )
                    return credentials
                case .fail(let waiters):
                    // A cancelled fetch says nothing about the credentials: the waiters try themselves.
                    let cancelled = error is CancellationError || Task.isCancelled
                    for waiter in waiters {
                        if cancelled { waiter.resume(returning: .askAgain) } else { waiter.resume(throwing: error) }
                    }
                    throw error
                }
            }
        }
    }
}
