import TrawlCore

/// The codes AWS access raises: the ApiError table of the seeds (401-499), shared by every S3/SQS collector.
extension TrawlError.Code {
    public static let awsPermissionDenied = Self(
        kind: "ApiError",
        id: 401,
        title: "AWS access key or secret key provided do not have the necessary permissions",
        cause: "AWS accepted the keys but the user or role lacks a permission the collector needs (AccessDenied).",
        fix:
            "Grant the role or user the permissions in the message (s3:GetObject, sqs:ReceiveMessage, sqs:DeleteMessage, sts:AssumeRole...) and check the resource policy. Objects encrypted with SSE-KMS (CloudTrail trails often are) also need kms:Decrypt on their key, granted in the key policy too."
    )
    public static let awsAccessKeyInvalid = Self(
        kind: "ApiError",
        id: 402,
        title: "AWS access key provided is invalid or incorrect",
        cause:
            "AWS does not know the access key id (InvalidAccessKeyId, InvalidClientTokenId): mistyped, deleted or from another partition.",
        fix:
            "Check aws_access_key_id (or AWS_ACCESS_KEY_ID, or the profile) against the IAM console and that the key is active."
    )
    public static let awsAccessKeyExpired = Self(
        kind: "ApiError",
        id: 403,
        title: "AWS access key has expired",
        cause:
            "Temporary credentials (a session token or an assumed role) expired before the request reached AWS, or the clock of this host is wrong.",
        fix: "Issue new keys or let Trawl assume the role again; check that this host's clock is synchronised (NTP)."
    )
    public static let awsRequestTimedOut = Self(
        kind: "ApiError",
        id: 404,
        title: "AWS request timed out",
        cause:
            "AWS did not answer within the request timeout, after every retry: a network outage, a firewall or proxy dropping traffic, or an AWS service disruption.",
        fix:
            "Check connectivity to the endpoint in the message (DNS, security groups, firewall, proxy) and the AWS service health page."
    )
    public static let awsSignatureMismatch = Self(
        kind: "ApiError",
        id: 420,
        title: "AWS access key provided is invalid or incorrect",
        cause:
            "AWS knows the access key id but the request signature does not match (SignatureDoesNotMatch): the secret access key is wrong.",
        fix:
            "Check aws_secret_access_key (or AWS_SECRET_ACCESS_KEY, or the profile): it must be the secret of the access key id given."
    )
    public static let awsQueueMissing = Self(
        kind: "ApiError",
        id: 421,
        title: "AWS SQS queue does not exist",
        cause: "No queue of that name or URL exists in that account and region (QueueDoesNotExist).",
        fix: "Check base_url (or the queue name, owner account and region) against the SQS console."
    )
    public static let awsQueueDeletedRecently = Self(
        kind: "ApiError",
        id: 423,
        title: "AWS SQS queue has been deleted recently",
        cause:
            "The queue was deleted less than 60 seconds ago (QueueDeletedRecently); AWS refuses to use its name meanwhile.",
        fix: "Wait a minute after recreating the queue, or point base_url at the queue that replaced it."
    )
    public static let awsBucketMissing = Self(
        kind: "ApiError",
        id: 430,
        title: "AWS S3 bucket does not exist",
        cause: "The bucket named in the notification or the settings does not exist in that partition (NoSuchBucket).",
        fix:
            "Check the bucket name and region; if the notification names a deleted bucket, remove its messages from the queue."
    )
    public static let awsObjectArchived = Self(
        kind: "ApiError",
        id: 431,
        title: "AWS S3 object is archived and must be restored before it can be read",
        cause:
            "The object is in S3 Glacier Flexible Retrieval or Deep Archive (or an Intelligent-Tiering archive tier) and has no restored copy: S3 answers InvalidObjectState.",
        fix:
            "Restore it (aws s3api restore-object --bucket B --key K --restore-request Days=7), then let its message come back or run trawl backfill over it again; exclude its keys (exclude_keys) if they are never to be read."
    )
    public static let awsClientException = Self(
        kind: "ApiError",
        id: 499,
        title: "AWS request client encountered an exception: {error_message}",
        cause:
            "Any other failure of an AWS request: the message gives AWS's error code and text or the connection error.",
        fix: "Review the detailed error message to determine the cause of the error."
    )

    /// Every ApiError, as listed in docs/errors.md.
    public static let awsCatalogue: [Self] = [
        .awsPermissionDenied, .awsAccessKeyInvalid, .awsAccessKeyExpired, .awsRequestTimedOut,
        .awsSignatureMismatch, .awsQueueMissing, .awsQueueDeletedRecently, .awsBucketMissing, .awsObjectArchived,
        .awsClientException,
    ]
}
