import AsyncHTTPClient
import Crypto
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOSSL
import Synchronization
import TrawlCore
import TrawlFormats

/// `inputs.<name>.services.cewl` of a `ctci_cewl` input (with `credentials.api_token`).
public struct CEWLSettings: Decodable, Sendable, HasCommonSettings {
    /// `http[s]://host[:port]` of the CTCI API.
    public var apiBaseURL: String
    public var verifyHostSSLCert: Bool
    /// The Devo lookup table kept current.
    public var lookupTable: String
    /// Also send each new or changed CVE as an event to this table, for alerting.
    public var eventTag: String?
    /// Validated as the seeds validate it; the list has no time filter, so every poll reads all of it.
    public var historicalPollDatetime: UTCTimestamp?
    /// Fields hidden before delivery (the seed's "source events obfuscation"), in the lookup and the events.
    public var obfuscate: [RecordObfuscator.Rule]
    /// The secret of `hash` rules; from the environment (`${TRAWL_OBFUSCATION_KEY}`), never logged.
    public var obfuscationKey: String?
    public var common: CommonServiceSettings

    enum CodingKeys: String, CodingKey, CaseIterable {
        case apiBaseURL = "api_base_url"
        case verifyHostSSLCert = "verify_host_ssl_cert"
        case lookupTable = "lookup_table"
        case eventTag = "event_tag"
        case historicalPollDatetime = "historical_poll_datetime"
        case obfuscate
        case obfuscationKey = "obfuscation_key"
        case requestPeriodInSeconds = "request_period_in_seconds"
        case resetPersistenceAuth = "reset_persistence_auth"
    }

    public init(from decoder: any Decoder) throws {
        let settings = SettingsReader(decoder, keys: CodingKeys.self)
        let url =
            settings.string(
                .apiBaseURL,
                required: true,
                format: "http[s]://{ip_address_or_domain}{:optional_port}",
                isValid: SentinelOneCredentials.isConsoleURL
            ) ?? ""
        self.apiBaseURL = url.hasSuffix("/") ? String(url.dropLast()) : url
        self.verifyHostSSLCert = settings.bool(.verifyHostSSLCert, default: true)
        self.lookupTable =
            settings.string(
                .lookupTable,
                default: "cewl",
                format: "letters, digits and _ (a Devo lookup name)",
                isValid: { !$0.isEmpty && $0.allSatisfy { $0.isLetter || $0.isNumber || $0 == "_" } }
            ) ?? "cewl"
        self.eventTag = settings.string(.eventTag, format: devoTagFormat, isValid: isDevoTag)
        self.historicalPollDatetime = settings.historicalPollDatetime(.historicalPollDatetime, now: .now())
        let obfuscation = ObfuscationSettings(settings, rules: .obfuscate, key: .obfuscationKey)
        self.obfuscate = obfuscation.rules
        self.obfuscationKey = obfuscation.key
        for (index, rule) in self.obfuscate.enumerated() where rule.path == "cve" || rule.path.hasPrefix("cve.") {
            settings.record(
                .settingWrongFormat,
                "obfuscate[\(index)] names cve, the lookup's key: rows keyed by a hidden value cannot be updated or joined with events",
                at: CodingKeys.obfuscate,
                fix: "Remove that rule; a CVE id is public, and it is what events are joined on."
            )
        }
        self.common = settings.commonServiceSettings(
            requestPeriod: .requestPeriodInSeconds,
            resetPersistenceAuth: .resetPersistenceAuth,
            defaultPeriod: 3_600
        )
    }
}

/// `inputs.<name>.credentials` of a `ctci_cewl` input.
public struct CEWLCredentials: Decodable, Sendable {
    /// Sent as `x-api-key`; never logged.
    public var apiToken: String

    enum CodingKeys: String, CodingKey, CaseIterable {
        case apiToken = "api_token"
    }

    public init(from decoder: any Decoder) throws {
        let settings = SettingsReader(decoder, keys: CodingKeys.self)
        self.apiToken = settings.value(.apiToken, as: String.self, required: true) ?? ""
    }
}

/// Keeps a Devo lookup table equal to the CTCI CVE Early Warning List: each poll fetches the whole list
/// (the API has no "since"), and compares it with the snapshot last delivered. The first run, a run after a
/// persistence reset, and a run where the columns changed deploy the full table; later runs send only the
/// CVEs added or changed (an incremental update) and those removed (row deletions); nothing when nothing
/// changed. The snapshot is saved only after the outputs accepted the update.
///
/// A record without `cve` cannot be keyed: it is reported (counted and logged) and not sent. A list without
/// any CVE is refused (ApiError 453) while the table holds some, rather than deleting every row.
public final class CEWLLookupSource: PullingSource {
    /// The snapshot last delivered: the columns and each CVE's row digest.
    public struct State: Codable, Sendable, Equatable {
        public var columns: [String]
        /// The columns' Devo types; nil in a snapshot saved before they were kept, whose types were the
        /// default ones (``defaultTypes(of:)``).
        public var types: [String]?
        public var rows: [String: String]
    }

    /// The fields the API documents, with their Devo types; other fields become `str` columns after them.
    static let knownColumns: [(name: String, type: String)] = [
        ("cve", "str"), ("year_", "int4"), ("base_score", "float"), ("base_severity", "str"), ("cve_date", "str"),
        ("vendor", "str"), ("product", "str"), ("description", "str"), ("honeypot", "str"), ("intel", "str"),
        ("research", "str"),
    ]

    public let name: String
    public let settings: CEWLSettings
    public let token: String
    public let persistence: ServicePersistence<State>
    /// Opened by the first poll (a source only validated holds none), closed after the last.
    private let pool = Mutex<HTTPClient?>(nil)
    /// Whether the first poll said what the settings expose (``exposure``).
    private let exposureWarned = OnceFlag()

    /// The egress proxy (`HTTPS_PROXY`, `NO_PROXY`) the API is reached through.
    public let proxy: HTTPProxySettings
    /// The `obfuscate` rules, applied to each record before it becomes a row or an event.
    let obfuscator: RecordObfuscator?

    public init(
        name: String,
        settings: CEWLSettings,
        token: String,
        persistence: ServicePersistence<State>,
        proxy: HTTPProxySettings = HTTPProxySettings()
    ) {
        self.name = name
        self.settings = settings
        self.token = token
        self.persistence = persistence
        self.proxy = proxy
        self.obfuscator = ObfuscationSettings(rules: settings.obfuscate, key: settings.obfuscationKey).obfuscator
    }

    private var http: HTTPClient {
        self.pool.withLock { pool in
            if let pool { return pool }
            var configuration = HTTPClient.Configuration()
            if !self.settings.verifyHostSSLCert {
                var tls = TLSConfiguration.makeClientConfiguration()
                tls.certificateVerification = .none
                configuration.tlsConfiguration = tls
            }
            configuration.timeout = .init(connect: .seconds(10), read: .seconds(60))
            configuration.redirectConfiguration = .disallow
            configuration.tunnel(through: self.proxy.server(forURL: self.settings.apiBaseURL))
            let client = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
            pool = client
            return client
        }
    }

    public func withResources(_ body: () async throws -> Void) async throws {
        try await closing(
            {
                let client = self.pool.withLock { pool -> HTTPClient? in
                    defer { pool = nil }
                    return pool
                }
                try await client?.shutdown()
            },
            after: body
        )
    }

    var url: String { "\(self.settings.apiBaseURL)/api/v1/cewl" }

    /// What the settings expose the token and the list to, said once at the first poll; nil when nothing.
    var exposure: String? {
        if !self.settings.verifyHostSSLCert {
            return
                "verify_host_ssl_cert is false: the certificate of \(self.settings.apiBaseURL) is not checked, so whoever is on the path can read api_token and change the list Trawl delivers; set it to true, with the CA in the system's trust store"
        }
        if sendsInCleartext(self.settings.apiBaseURL) {
            return
                "api_base_url \(self.settings.apiBaseURL) is http://: api_token and the list cross the network unencrypted, so whoever is on the path can read the token and change the list; use https://"
        }
        return nil
    }

    public func pull(_ context: PullContext) async throws -> PullCycleStatistics {
        var statistics = PullCycleStatistics()
        if let exposure = self.exposure, self.exposureWarned.claim() {
            context.logger.warning("\(exposure)")
        }
        let previous = try await self.persistence.load()
        if previous == nil, let start = self.settings.historicalPollDatetime {
            // The list is whole in every answer, so the date picks nothing; a first deployment is still held to
            // the seed's bound on it.
            _ = try firstPullStart(from: start, service: self.name)
        }
        statistics.requests += 1
        let records = try self.obfuscated(try await self.fetch(context))
        statistics.received = records.count
        var rows: [String: [String: Any]] = [:]
        var positions: [String: Int] = [:]
        var unkeyed = 0
        for (index, record) in records.enumerated() {
            guard let cve = record["cve"] as? String, !cve.isEmpty else {
                unkeyed += 1
                context.logger.warning(
                    "CEWL record \(index) has no cve: reported, not sent: \(Self.text(record).prefix(200))"
                )
                continue
            }
            if let earlier = positions.updateValue(index, forKey: cve) {
                context.logger.warning(
                    "CEWL record \(index) repeats cve \(cve) of record \(earlier): the lookup keeps record \(index)"
                )
            }
            rows[cve] = record
        }
        if rows.isEmpty, let previous, !previous.rows.isEmpty {
            throw TrawlError(
                .cewlListEmptied,
                "GET \(self.url) answered \(records.count) record(s) and no CVE where the lookup \(self.settings.lookupTable) holds \(previous.rows.count): nothing is removed",
                location: self.url
            )
        }
        let extra = Set(rows.values.flatMap(\.keys)).subtracting(Self.knownColumns.map(\.name)).sorted()
        let columns = self.documentedColumns + extra.map { ($0, "str") }
        let names = columns.map(\.name)
        let types = columns.map(\.type)
        var digests: [String: String] = [:]
        var values: [String: [LookupUpdate.Value]] = [:]
        for (cve, record) in rows {
            let row = columns.map { Self.value(record[$0.name], type: $0.type) }
            values[cve] = row
            digests[cve] = Self.digest(row)
        }
        let full =
            previous.map { $0.columns != names || ($0.types ?? Self.defaultTypes(of: $0.columns)) != types } ?? true
        let changed = rows.keys.filter { full || previous?.rows[$0] != digests[$0] }.sorted()
        let removed = full ? [] : (previous?.rows.keys.filter { rows[$0] == nil } ?? []).sorted()
        statistics.duplicatesFilteredOut = rows.count - changed.count
        guard full || !changed.isEmpty || !removed.isEmpty else {
            context.logger.info("CEWL unchanged (\(rows.count) CVEs): nothing sent. The data is up to date!")
            statistics.upToDate = true
            return statistics
        }
        let update = LookupUpdate(
            table: self.settings.lookupTable,
            columns: columns.map { LookupUpdate.Column($0.name, type: $0.type) },
            mode: full ? .full : .incremental,
            rows: changed.compactMap { values[$0] },
            deletions: removed.map { [.string($0)] }
        )
        var events = [
            Event.lookup(
                update,
                metadata: EventMetadata(
                    source: self.name,
                    unit: "cewl \(update.transactionID)",
                    offset: 0,
                    pullingID: context.pullingID
                )
            )
        ]
        if let tag = self.settings.eventTag {
            for (offset, cve) in changed.enumerated() {
                events.append(
                    Event(
                        tag: tag,
                        body: ByteBuffer(string: Self.text(rows[cve] ?? [:])),
                        metadata: EventMetadata(
                            source: self.name,
                            unit: "cewl \(update.transactionID)",
                            offset: Int64(offset + 1),
                            pullingID: context.pullingID
                        )
                    )
                )
            }
        }
        let acknowledgement = Acknowledgement(unit: "\(self.name) \(update.transactionID)")
        try await context.dispatcher.publish(events, acknowledgement: acknowledgement)
        acknowledgement.seal()
        try await acknowledgement.delivered()
        statistics.sent = events.count
        try await self.persistence.save(State(columns: names, types: types, rows: digests))
        context.logger.info(
            "CEWL lookup \(self.settings.lookupTable) \(full ? "deployed in full" : "updated"): \(changed.count) row(s) sent, \(removed.count) removed, \(unkeyed) record(s) without cve reported"
        )
        statistics.upToDate = true
        return statistics
    }

    /// The documented columns with their types, except that one whose values a `mask` or `hash` rule
    /// replaces with text is `str`: a Devo `float` column cannot hold `"***"`.
    var documentedColumns: [(name: String, type: String)] {
        Self.knownColumns.map { column in
            let replaced = (self.obfuscator?.rules ?? []).contains { $0.path == column.name && $0.action != .drop }
            return (column.name, replaced ? "str" : column.type)
        }
    }

    /// The types the columns `names` had before any rule changed one.
    static func defaultTypes(of names: [String]) -> [String] {
        names.map { name in Self.knownColumns.first { $0.name == name }?.type ?? "str" }
    }

    /// `records` with the `obfuscate` rules applied to each, as to any JSON record (the same paths and
    /// actions as the S3 inputs'); the records themselves without rules.
    ///
    /// - Throws: SourceError 305 when a record cannot be obfuscated (nested deeper than the obfuscator
    ///   follows): nothing is sent and the snapshot is kept, so nothing it hides leaks.
    func obfuscated(_ records: [[String: Any]]) throws -> [[String: Any]] {
        guard let obfuscator = self.obfuscator else { return records }
        return try records.enumerated().map { index, record in
            let object: [String: Any]?
            do {
                let data = try JSONSerialization.data(withJSONObject: record)
                let hidden = try obfuscator.apply(to: ByteBuffer(bytes: data))
                object = try JSONSerialization.jsonObject(with: Data(hidden.readableBytesView)) as? [String: Any]
            } catch {
                throw Self.notObfuscatable(index, "\(error)", url: self.url)
            }
            guard let object else { throw Self.notObfuscatable(index, "it is no JSON object", url: self.url) }
            return object
        }
    }

    static func notObfuscatable(_ index: Int, _ reason: String, url: String) -> TrawlError {
        TrawlError(
            .recordNotObfuscatable,
            "CEWL record \(index) cannot be obfuscated: \(reason)",
            location: url,
            fix:
                "Nothing was sent and the lookup is kept as it was; the next poll tries again. Check the obfuscate rules against the record's fields."
        )
    }

    /// The list's records.
    ///
    /// - Throws: ApiError 450 when the token is refused, 451 for another status, 452 for an answer that is
    ///   not the list.
    func fetch(_ context: PullContext) async throws -> [[String: Any]] {
        var request = HTTPClientRequest(url: self.url)
        request.headers.add(name: "x-api-key", value: self.token)
        request.headers.add(name: "Accept", value: "application/json")
        let response: HTTPClientResponse
        let body: ByteBuffer
        do {
            // Nothing is sent before the whole list arrived: a stop cuts the request short instead of
            // waiting up to its 60 s timeout.
            (response, body) = try await context.cancellingOnStop { [request, http = self.http] in
                let response = try await http.execute(request, timeout: .seconds(60), logger: context.logger)
                return (response, try await response.body.collect(upTo: 256 << 20))
            }
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            throw TrawlError(
                .cewlUnexpectedStatus,
                "GET \(self.url) failed: \(NetworkFailure.describe(error))",
                location: self.url
            )
        }
        switch response.status.code {
        case 200: break
        case 401, 403:
            throw TrawlError(
                .cewlTokenRefused,
                "GET \(self.url) answered \(response.status.code): \(String(buffer: body).prefix(200))",
                location: self.url
            )
        case 300..<400:
            throw TrawlError(
                .cewlUnexpectedStatus,
                "GET \(self.url) answered \(response.status.code), redirecting to \(redirectTarget(response.headers.first(name: "Location"))): Trawl does not follow it, so the token goes nowhere else",
                location: self.url,
                fix: "If that address is the CTCI API, set api_base_url to it; otherwise check the proxy in between."
            )
        default:
            throw TrawlError(
                .cewlUnexpectedStatus,
                "Unexpected status code when fetching the CEWL: \(response.status.code) \(String(buffer: body).prefix(200))",
                location: self.url
            )
        }
        guard let object = try? JSONSerialization.jsonObject(with: Data(body.readableBytesView)) as? [String: Any],
            let data = object["data"] as? [Any]
        else {
            throw TrawlError(
                .cewlAnswerUnreadable,
                "GET \(self.url) answered a body without a data list: \(String(buffer: body).prefix(200))",
                location: self.url
            )
        }
        return data.map { $0 as? [String: Any] ?? [:] }
    }

    static func value(_ raw: Any?, type: String) -> LookupUpdate.Value {
        switch (raw, type) {
        case (let number as NSNumber, "float"): return .float(number.doubleValue)
        case (let text as String, "float"): return Double(text).map { .float($0) } ?? .string(text)
        case (let number as NSNumber, "int4"): return .int(number.int64Value)
        case (let text as String, "int4"): return Int64(text).map { .int($0) } ?? .string(text)
        case (let text as String, _): return .string(text)
        case (nil, _), (is NSNull, _): return .string("")
        case (let other?, _): return .string(Self.text(other))
        }
    }

    static func text(_ value: Any) -> String {
        if let text = value as? String { return text }
        if let number = value as? NSNumber { return number.stringValue }
        let data =
            (try? JSONSerialization.data(withJSONObject: value, options: [.sortedKeys, .fragmentsAllowed])) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }

    static func digest(_ row: [LookupUpdate.Value]) -> String {
        var hash = SHA256()
        for value in row {
            switch value {
            case .string(let text): hash.update(data: Array("s\(text.utf8.count):\(text)".utf8))
            case .int(let number): hash.update(data: Array("i\(number);".utf8))
            case .float(let number): hash.update(data: Array("f\(number.bitPattern);".utf8))
            }
        }
        return hexString(hash.finalize())
    }
}

/// The codes of the CTCI API: ApiErrors 450-452, after the seed's InitVariablesError 100 and ApiError 400.
extension TrawlError.Code {
    public static let cewlTokenRefused = Self(
        kind: "ApiError",
        id: 450,
        title: "CTCI API refused the token",
        cause: "The CTCI API answered 401 or 403 to the CEWL request: api_token is wrong, expired or not entitled.",
        fix: "Copy the API token again from the CTCI admin portal into api_token (e.g. ${CTCI_API_TOKEN})."
    )
    public static let cewlUnexpectedStatus = Self(
        kind: "ApiError",
        id: 451,
        title: "Unexpected status code when fetching the CEWL",
        cause:
            "The CTCI API answered another status than 200 (the message gives it and the answer's text), or could not be reached.",
        fix:
            "Check api_base_url and that this host reaches it; nothing is sent and the snapshot is kept, so the next poll retries."
    )
    public static let cewlAnswerUnreadable = Self(
        kind: "ApiError",
        id: 452,
        title: "CEWL answer not understood",
        cause: "The CTCI API answered 200 with a body that is not a JSON object with a data list.",
        fix: "Check api_base_url (a proxy's page?); nothing is sent and the next poll retries."
    )

    public static let cewlListEmptied = Self(
        kind: "ApiError",
        id: 453,
        title: "CEWL answered an empty list",
        cause:
            "The CTCI API answered a list without any CVE while the lookup table holds CVEs: applied, it would delete every row, and an API fault is likelier than an early-warning list that emptied.",
        fix:
            "Nothing is sent and the table is kept, so the next poll retries. If the list really is empty, change reset_persistence_auth: the next poll deploys it in full."
    )

    /// Every code of the CEWL collector, as listed in docs/errors.md.
    public static let cewlCatalogue: [Self] = [
        .cewlTokenRefused, .cewlUnexpectedStatus, .cewlAnswerUnreadable, .cewlListEmptied,
    ]
}
