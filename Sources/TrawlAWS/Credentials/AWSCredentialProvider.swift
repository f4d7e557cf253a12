import Logging

/// Where a client gets the keys for its next request. Providers that hand out temporary credentials
/// refresh them before they expire; none may return credentials already expired.
public protocol AWSCredentialProvider: Sendable {
    /// Credentials valid for the next request; throws a ``TrawlCore/TrawlError`` when none can be had.
    func credentials(logger: Logger) async throws -> AWSCredentials
}

/// Keys fixed at start: `aws_access_key_id`/`aws_secret_access_key` from the configuration.
public struct StaticCredentialProvider: AWSCredentialProvider {
    public let fixed: AWSCredentials

    public init(_ credentials: AWSCredentials) {
        self.fixed = credentials
    }

    public func credentials(logger: Logger) async throws -> AWSCredentials { self.fixed }
}
