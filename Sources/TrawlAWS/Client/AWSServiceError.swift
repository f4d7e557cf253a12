import TrawlCore

/// What AWS answered when a request failed, before it becomes a ``TrawlError``: the HTTP status, AWS's
/// error code (`NoSuchBucket`, `QueueDoesNotExist`, ...) and message, and the request id to quote to AWS.
public struct AWSServiceError: Error, Sendable, CustomStringConvertible {
    public var service: String
    public var operation: String
    public var status: Int
    /// AWS's error code with any `com.amazonaws.sqs#` prefix removed.
    public var code: String
    public var message: String
    public var requestID: String?
    /// The region S3 says the bucket is in (`x-amz-bucket-region`): with a request signed for or sent to
    /// another region it answers 301 PermanentRedirect or 400, and names the bucket's own.
    public var bucketRegion: String?

    public init(
        service: String,
        operation: String,
        status: Int,
        code: String,
        message: String,
        requestID: String?,
        bucketRegion: String? = nil
    ) {
        self.service = service
        self.operation = operation
        self.status = status
        self.code = code
        self.message = message
        self.requestID = requestID
        self.bucketRegion = bucketRegion
    }

    public var description: String {
        var text = "\(self.service) \(self.operation) answered HTTP \(self.status) \(self.code)"
        if !self.message.isEmpty { text += ": \(self.message)" }
        if let bucketRegion { text += " (the bucket is in \(bucketRegion))" }
        if let requestID { text += " (request id \(requestID))" }
        return text
    }

    /// Throttling and server-side failures that a later attempt may not meet.
    public var isRetryable: Bool {
        if self.status >= 500 || self.status == 429 { return true }
        return Self.throttlingCodes.contains(self.code) || self.code == "RequestTimeout"
            || self.code == "InternalError" || self.code == "ServiceUnavailable"
    }

    /// S3 answered that no object has the key (or the version) asked for (404 NoSuchKey or NoSuchVersion;
    /// `NotFound` when the answer has no body, as to a HEAD).
    public var isMissingObject: Bool {
        self.status == 404 && (self.code == "NoSuchKey" || self.code == "NotFound" || self.code == "NoSuchVersion")
    }

    static let throttlingCodes: Set<String> = [
        "Throttling", "ThrottlingException", "ThrottledException", "RequestThrottledException",
        "TooManyRequestsException", "ProvisionedThroughputExceededException", "TransactionInProgressException",
        "RequestLimitExceeded", "BandwidthLimitExceeded", "LimitExceededException", "RequestThrottled",
        "SlowDown", "PriorRequestNotComplete", "EC2ThrottledException", "KMS.ThrottlingException",
    ]

    /// The ApiError this AWS answer maps to.
    public var trawlCode: TrawlError.Code {
        switch self.code {
        case "AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "AuthorizationError",
            "KMS.AccessDeniedException", "AllAccessDisabled":
            return .awsPermissionDenied
        case "InvalidAccessKeyId", "InvalidClientTokenId", "UnrecognizedClientException", "InvalidToken":
            return .awsAccessKeyInvalid
        case "ExpiredToken", "ExpiredTokenException", "RequestExpired", "TokenRefreshRequired":
            return .awsAccessKeyExpired
        case "SignatureDoesNotMatch", "IncompleteSignature":
            return .awsSignatureMismatch
        case "QueueDoesNotExist", "AWS.SimpleQueueService.NonExistentQueue", "NonExistentQueue":
            return .awsQueueMissing
        case "QueueDeletedRecently", "AWS.SimpleQueueService.QueueDeletedRecently":
            return .awsQueueDeletedRecently
        case "NoSuchBucket":
            return .awsBucketMissing
        case "InvalidObjectState":
            return .awsObjectArchived
        case "RequestTimeout", "RequestTimeoutException":
            return .awsRequestTimedOut
        default:
            return .awsClientException
        }
    }
}

extension TrawlError {
    /// The ApiError for an AWS failure, worded as the seeds' table with the specifics appended.
    public static func aws(_ error: AWSServiceError, resource: String) -> TrawlError {
        let code = error.trawlCode
        let message =
            code == .awsClientException
            ? "AWS request client encountered an exception: \(error.code)"
            : code.title
        return TrawlError(code, message, location: resource, underlying: error)
    }

    /// The ApiError for a request that never got an AWS answer (timeout, refused connection, TLS failure).
    /// `attempts` is nil where the text already counts them (a retry's warning says "attempt N of M").
    public static func awsTransport(
        _ error: any Error,
        timedOut: Bool,
        service: String,
        operation: String,
        resource: String,
        attempts: Int?
    ) -> TrawlError {
        let what = "\(service) \(operation) failed" + (attempts.map { " after \($0) attempt(s)" } ?? "")
        if timedOut {
            return TrawlError(.awsRequestTimedOut, "AWS request timed out: \(what)", location: resource)
        }
        if HTTPProxySettings.isRefusedTunnel(error) {
            return TrawlError(
                .awsClientException,
                "AWS request client encountered an exception: \(what): the proxy of HTTPS_PROXY/HTTP_PROXY refused the tunnel (\(error))",
                location: resource,
                fix: HTTPProxySettings.refusedTunnelFix
            )
        }
        return TrawlError(
            .awsClientException,
            "AWS request client encountered an exception: \(what): \(NetworkFailure.describe(error))",
            location: resource,
            fix:
                "Check that this host reaches the endpoint named (endpoint_url or the service's own URL, else AWS's): its DNS name, a firewall or security group, HTTPS_PROXY."
        )
    }
}
