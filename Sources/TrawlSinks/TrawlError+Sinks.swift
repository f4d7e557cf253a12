import TrawlCore

/// The codes the network outputs raise, beside the core's 500-501.
extension TrawlError.Code {
    public static let tlsFilesUnusable = Self(
        kind: "SetupError",
        id: 17,
        title: "TLS certificate, key or CA file unusable",
        cause:
            "A file named in the output's TLS settings is missing, unreadable, not PEM, or the key does not belong to the certificate; or a certificate in it has expired.",
        fix:
            "Point the setting at the PEM files downloaded from Devo (Administration > Credentials > X.509) and check their permissions; replace an expired certificate with a new one from there."
    )
    public static let receiverUnreachable = Self(
        kind: "SinkError",
        id: 502,
        title: "cannot connect to the receiver",
        cause:
            "The output's address does not resolve, refuses the connection or does not answer (receiver down, firewall, wrong port), or the egress proxy of an HTTP output refused the tunnel.",
        fix:
            "Check the address and port and that the receiver is up; Trawl retries with backoff and keeps the events meanwhile."
    )
    public static let receiverRejectedTLS = Self(
        kind: "SinkError",
        id: 503,
        title: "TLS handshake with the receiver failed",
        cause:
            "The receiver's certificate is not signed by the chain CA or does not match its host name, or the receiver refused the client certificate.",
        fix:
            "Use the chain CA, certificate and key of the same Devo domain and the relay's host name; Trawl retries with backoff meanwhile."
    )
    public static let eventsUndeliverable = Self(
        kind: "SinkError",
        id: 504,
        title: "events cannot be delivered by this output",
        cause:
            "An event is larger than the output can carry (a UDP datagram, a Devo HTTP request), the receiver rejected it as invalid, or a spooled lookup update is corrupt; retrying cannot help.",
        fix:
            "The events are kept in <persistence directory>/<globals.id>/refused/<output>.jsonl with the reason; fix the cause (raise max_message_bytes, use TCP) and replay them from there."
    )
    public static let receiverRefusedToken = Self(
        kind: "SinkError",
        id: 505,
        title: "the receiver refused the token",
        cause:
            "Devo answered 401 or 403: the HTTP ingestion or Lookups API token is wrong, expired, or not valid for the domain.",
        fix:
            "Create a token for the domain in Devo (Administration > Credentials) and set it in the output's token setting; Trawl retries with backoff and keeps the events meanwhile."
    )

    /// Every code of this library, as listed in docs/errors.md.
    public static let sinksCatalogue: [Self] = [
        .tlsFilesUnusable, .outputFileUnwritable, .receiverUnreachable, .receiverRejectedTLS, .eventsUndeliverable,
        .receiverRefusedToken,
    ]
}
