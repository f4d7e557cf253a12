import TrawlCore

/// `inputs.<name>.credentials` of a `sentinelone` input: which console, and the API token (best taken from
/// the environment, `${S1_API_TOKEN}`; no log line or error shows it).
public struct SentinelOneCredentials: Decodable, Sendable {
    /// `https://<console>`, without a trailing slash.
    public var consoleURL: String
    public var apiToken: String

    enum CodingKeys: String, CodingKey, CaseIterable {
        case consoleURL = "console_url"
        case apiToken = "api_token"
    }

    public init(from decoder: any Decoder) throws {
        let settings = SettingsReader(decoder, keys: CodingKeys.self)
        let url = settings.string(
            .consoleURL,
            required: true,
            format: "http[s]://{ip_address_or_domain}{:optional_port}, e.g. https://usea1-partners.sentinelone.net",
            isValid: Self.isConsoleURL
        )
        self.consoleURL = url.map { $0.hasSuffix("/") ? String($0.dropLast()) : $0 } ?? ""
        let token = settings.value(.apiToken, as: String.self, required: true)
        if let token, token.allSatisfy({ $0 == " " || $0 == "\t" }) {
            settings.record(
                .settingWrongFormat,
                "api_token is empty",
                at: CodingKeys.apiToken,
                fix: "Set api_token to the console's API token, e.g. ${S1_API_TOKEN} from the environment."
            )
        }
        self.apiToken = token ?? ""
    }

    /// `http[s]://host[:port]` with an optional trailing `/` and nothing else.
    static func isConsoleURL(_ text: String) -> Bool {
        var rest = Substring(text)
        if rest.hasPrefix("https://") {
            rest = rest.dropFirst(8)
        } else if rest.hasPrefix("http://") {
            rest = rest.dropFirst(7)
        } else {
            return false
        }
        if rest.hasSuffix("/") { rest = rest.dropLast() }
        let parts = rest.split(separator: ":", omittingEmptySubsequences: false)
        guard (1...2).contains(parts.count), let host = parts.first, !host.isEmpty,
            host.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "." || $0 == "-" })
        else { return false }
        if parts.count == 2 {
            guard let port = Int(parts[1]), (1...65_535).contains(port) else { return false }
        }
        return true
    }
}

/// `inputs.<name>.settings` of a `sentinelone` input: what all its services share.
public struct SentinelOneInputSettings: Decodable, Sendable {
    /// Requests to the console per minute, all services together.
    public var requestsPerMinute: Int

    enum CodingKeys: String, CodingKey, CaseIterable {
        case requestsPerMinute = "requests_per_minute"
    }

    public init() {
        self.requestsPerMinute = 300
    }

    public init(from decoder: any Decoder) throws {
        let settings = SettingsReader(decoder, keys: CodingKeys.self)
        self.requestsPerMinute = settings.int(.requestsPerMinute, default: 300, range: 1...6_000) ?? 300
    }
}

/// `inputs.<name>.services.<content type>` of a `sentinelone` input.
public struct SentinelOneServiceSettings: Decodable, Sendable, HasCommonSettings {
    public var tag: String?
    /// Records per request (`limit`).
    public var pageSize: Int
    public var siteIDs: [String]
    public var accountIDs: [String]
    /// Where the first run starts; a day back by default.
    public var historicalPollDatetime: UTCTimestamp
    /// The `deep_visibility` service's query and windows (ignored by the other services, but for
    /// `query_lag_in_seconds`, which also ends the windows of `vulnerabilities` read from `risks`, and
    /// where the marks of `threat_events` and `threat_notes` stop).
    public var deepVisibility: DeepVisibility
    /// Where `vulnerabilities` come from: `installed_applications` (each with its CVEs) or `risks` (the
    /// application-management endpoint of newer consoles); ``vulnerabilitiesContent`` is the content type.
    public var vulnerabilitiesSource: String
    public var common: CommonServiceSettings

    /// How the `deep_visibility` service queries.
    public struct DeepVisibility: Sendable {
        /// The Deep Visibility query (the console's query language).
        public var query: String
        /// Windows end this long before now, so events that arrive late are in them.
        public var lagInSeconds: Int
        public var maxWindowInSeconds: Int
        public var pollIntervalInSeconds: Int
        /// A query still running this long after it started is cancelled and the cycle fails, instead of
        /// the service waiting without end on a console that never finishes it.
        public var timeoutInSeconds: Int
        /// The console's limit per query; a window that reaches it is halved and queried again.
        public var maxEvents: Int
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case tag
        case pageSize = "page_size"
        case siteIDs = "site_ids"
        case accountIDs = "account_ids"
        case historicalPollDatetime = "historical_poll_datetime"
        case query
        case queryLagInSeconds = "query_lag_in_seconds"
        case maxWindowInSeconds = "max_window_in_seconds"
        case queryPollIntervalInSeconds = "query_poll_interval_in_seconds"
        case queryTimeoutInSeconds = "query_timeout_in_seconds"
        case maxEventsPerQuery = "max_events_per_query"
        case vulnerabilitiesSource = "vulnerabilities_source"
        case requestPeriodInSeconds = "request_period_in_seconds"
        case resetPersistenceAuth = "reset_persistence_auth"
    }

    public init(from decoder: any Decoder) throws {
        let settings = SettingsReader(decoder, keys: CodingKeys.self)
        self.tag = settings.string(.tag, format: devoTagFormat, isValid: isDevoTag)
        self.pageSize = settings.int(.pageSize, default: 1_000, range: 1...1_000) ?? 1_000
        self.siteIDs = settings.value(.siteIDs, as: [String].self) ?? []
        self.accountIDs = settings.value(.accountIDs, as: [String].self) ?? []
        let now = UTCTimestamp.now()
        self.historicalPollDatetime =
            settings.historicalPollDatetime(.historicalPollDatetime, now: now)
            ?? UTCTimestamp(microsecondsSinceEpoch: now.microsecondsSinceEpoch - 86_400_000_000)
        self.deepVisibility = DeepVisibility(
            query: settings.string(.query, default: "EventType IS NOT EMPTY") ?? "EventType IS NOT EMPTY",
            lagInSeconds: settings.int(.queryLagInSeconds, default: 300, range: 0...86_400) ?? 300,
            maxWindowInSeconds: settings.int(.maxWindowInSeconds, default: 3_600, range: 1...2_592_000) ?? 3_600,
            pollIntervalInSeconds: settings.int(.queryPollIntervalInSeconds, default: 2, range: 0...60) ?? 2,
            timeoutInSeconds: settings.int(.queryTimeoutInSeconds, default: 1_800, range: 1...86_400) ?? 1_800,
            maxEvents: settings.int(.maxEventsPerQuery, default: 20_000, range: 1...100_000) ?? 20_000
        )
        self.vulnerabilitiesSource =
            settings.string(
                .vulnerabilitiesSource,
                default: "installed_applications",
                allowed: ["installed_applications", "risks"]
            ) ?? "installed_applications"
        self.common = settings.commonServiceSettings(
            requestPeriod: .requestPeriodInSeconds,
            resetPersistenceAuth: .resetPersistenceAuth,
            defaultPeriod: 300
        )
    }
}

extension UTCTimestamp {
    /// `2026-11-24T01:02:03.456789Z`, as SentinelOne writes and filters dates.
    var sentinelOneText: String {
        var text = Array(self.description.utf8.prefix(26))
        text[10] = UInt8(ascii: "T")
        return String(decoding: text, as: UTF8.self) + "Z"
    }
}

extension SentinelOneServiceSettings {
    /// The content type `vulnerabilities` reads, as `vulnerabilities_source` says: what its source collects
    /// and what `test-connection` checks.
    public var vulnerabilitiesContent: SentinelOneContentType {
        self.vulnerabilitiesSource == "risks" ? .applicationRisks : .installedApplications
    }
}
