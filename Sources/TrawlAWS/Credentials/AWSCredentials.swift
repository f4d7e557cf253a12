import TrawlCore

/// A set of AWS keys. The secret and the session token never appear in descriptions, so neither logs,
/// errors nor `--debug` output can leak them; only the last four characters of the key id are shown.
public struct AWSCredentials: Sendable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    public var accessKeyID: String
    /// Read only by the signer; never printed.
    public var secretAccessKey: String
    /// Set for temporary credentials (STS, instance roles); signed as `x-amz-security-token`.
    public var sessionToken: String?
    /// When temporary credentials stop working; nil for long-term keys.
    public var expiration: UTCTimestamp?

    public init(
        accessKeyID: String,
        secretAccessKey: String,
        sessionToken: String? = nil,
        expiration: UTCTimestamp? = nil
    ) {
        self.accessKeyID = accessKeyID
        self.secretAccessKey = secretAccessKey
        self.sessionToken = sessionToken
        self.expiration = expiration
    }

    /// The key id reduced to its last four characters (`…MPLE`), enough to tell keys apart in logs.
    public var redactedAccessKeyID: String {
        "…" + String(self.accessKeyID.suffix(4))
    }

    public var description: String {
        var text = "AWSCredentials(access key \(self.redactedAccessKeyID), secret redacted"
        if self.sessionToken != nil { text += ", session token redacted" }
        if let expiration { text += ", expires \(expiration)" }
        return text + ")"
    }

    public var debugDescription: String { self.description }

    /// `dump` and reflection-based printers see only the redacted description.
    public var customMirror: Mirror { Mirror(self, children: ["redacted": self.description]) }
}
