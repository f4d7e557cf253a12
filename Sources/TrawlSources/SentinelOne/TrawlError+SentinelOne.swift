import TrawlCore

/// The codes of requests to a SentinelOne console: ApiErrors 440-448, after the seed's table of HTTP
/// statuses (what each means, what to check).
extension TrawlError.Code {
    public static let sentinelOneUnauthorized = Self(
        kind: "ApiError",
        id: 440,
        title: "SentinelOne console refused the API token",
        cause:
            "The console answered 401: the token is wrong, expired or revoked, or belongs to another console.",
        fix:
            "Generate a new API token (My User > API Token, or a service user) and set api_token; check that console_url is the console the token belongs to."
    )
    public static let sentinelOneForbidden = Self(
        kind: "ApiError",
        id: 441,
        title: "SentinelOne role lacks a permission",
        cause:
            "The console answered 403: the token is valid but its user's role or scope does not allow this content or action (collecting needs Viewer or Admin with the content's view permission; responding needs Admin).",
        fix:
            "Give the token's user the Admin or Viewer role with the permission the message names (Threats View, Deep Visibility View, Rogues View; STAR for some content), or drop that service."
    )
    public static let sentinelOneNotFound = Self(
        kind: "ApiError",
        id: 442,
        title: "SentinelOne API path not found",
        cause:
            "The console answered 404 for an API path: console_url points somewhere else than a SentinelOne console, or the console does not offer this content type.",
        fix:
            "Check console_url (https://<your-console>.sentinelone.net, nothing after the host) and whether the console's licence includes this content type."
    )
    public static let sentinelOneBadRequest = Self(
        kind: "ApiError",
        id: 443,
        title: "SentinelOne console rejected the request",
        cause: "The console answered 400: a filter, date or query it does not accept (the message gives its detail).",
        fix:
            "Check the service's settings the detail names (site_ids, account_ids, query, historical_poll_datetime). A date the console no longer keeps may be the saved position: a new historical_poll_datetime takes effect with a new reset_persistence_auth."
    )
    public static let sentinelOneThrottled = Self(
        kind: "ApiError",
        id: 444,
        title: "SentinelOne console kept refusing requests (429/503)",
        cause:
            "The console answered 429 Too Many Requests (or 503, treated alike) to every attempt: its rate limit or the licence's quota is exhausted.",
        fix:
            "Nothing is lost: the service retries at its next interval from where it stopped. Lower requests_per_minute, lengthen request_period_in_seconds, or ask SentinelOne about the console's limits."
    )
    public static let sentinelOneServerError = Self(
        kind: "ApiError",
        id: 445,
        title: "SentinelOne console failed",
        cause:
            "The console answered 5xx to every attempt, or did not finish a Deep Visibility query within query_timeout_in_seconds.",
        fix:
            "Nothing is lost: the service retries at its next interval. Check SentinelOne's status page if it persists."
    )
    public static let sentinelOneAnswerUnreadable = Self(
        kind: "ApiError",
        id: 446,
        title: "SentinelOne answer not understood",
        cause:
            "The console answered 200 with a body that is not the API's JSON envelope (data, pagination): a proxy's page, a truncated answer, a changed API; or paging whose nextCursor leads back to a page already read.",
        fix: "Check console_url and any proxy in between; the service retries at its next interval."
    )
    public static let sentinelOneUnreachable = Self(
        kind: "ApiError",
        id: 447,
        title: "SentinelOne console unreachable",
        cause: "The connection to console_url failed or timed out on every attempt (DNS, firewall, proxy, TLS).",
        fix:
            "Check that this host reaches console_url's host and port (DNS, a firewall, HTTPS_PROXY) and trusts its certificate; the service retries at its next interval."
    )

    public static let sentinelOneRedirected = Self(
        kind: "ApiError",
        id: 448,
        title: "SentinelOne console redirected the request",
        cause:
            "The console answered a redirect (3xx): console_url is http:// where the console wants https://, names a former host, or a proxy's or single sign-on page intercepts API calls. Trawl does not follow it, so the API token goes nowhere else.",
        fix:
            "If the address the message says it redirects to is your console, set console_url to it (https://<your-console>.sentinelone.net); otherwise check the proxy in between."
    )

    /// Every code of the SentinelOne connector, as listed in docs/errors.md.
    public static let sentinelOneCatalogue: [Self] = [
        .sentinelOneUnauthorized, .sentinelOneForbidden, .sentinelOneNotFound, .sentinelOneBadRequest,
        .sentinelOneThrottled, .sentinelOneServerError, .sentinelOneAnswerUnreadable, .sentinelOneUnreachable,
        .sentinelOneRedirected,
    ]
}
