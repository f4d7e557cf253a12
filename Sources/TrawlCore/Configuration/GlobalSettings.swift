/// `globals`: what applies to the whole collector process.
public struct GlobalSettings: Decodable, Sendable {
    /// The collector id; with input and service names it builds the persistence address.
    public var id: String
    public var name: String
    /// Which of several instances sharing a persistence directory (several `trawl run` on one queue) this
    /// is; names its output spools. Empty for a lone instance.
    public var instance: String
    /// `true` turns on debug logging.
    public var debugStatus: Bool
    /// The host name written in each Devo syslog line; the machine's own by default.
    public var hostname: String?
    public var persistence: PersistenceSettings
    /// High watermark of each output's queue, in events: the memory bound under backpressure.
    public var queueMaxEvents: Int
    /// Most events a source hands to the pipeline in one batch.
    public var batchMaxEvents: Int
    public var senderStatisticsPeriodInSeconds: Int
    public var memoryReportPeriodInSeconds: Int
    /// How long a stop may take to drain in-flight work before it is cut short (and left to be re-pulled).
    public var shutdownTimeoutInSeconds: Int
    /// Disk each output's spool may use for events it cannot deliver yet; 0 keeps them in memory only.
    public var spoolMaxMegabytes: Int
    /// The monitoring endpoint (`/metrics`, `/health`, `/ready`); off unless enabled.
    public var httpEndpoint: HTTPEndpointSettings

    enum CodingKeys: String, CodingKey, CaseIterable {
        case id
        case name
        case instance
        case debugStatus = "debug_status"
        case hostname
        case persistence
        case queueMaxEvents = "queue_max_events"
        case batchMaxEvents = "batch_max_events"
        case senderStatisticsPeriodInSeconds = "sender_statistics_period_in_seconds"
        case memoryReportPeriodInSeconds = "memory_report_period_in_seconds"
        case shutdownTimeoutInSeconds = "shutdown_timeout_in_seconds"
        case spoolMaxMegabytes = "spool_max_megabytes"
        case httpEndpoint = "http_endpoint"
    }

    public init(from decoder: any Decoder) throws {
        let settings = SettingsReader(decoder, keys: CodingKeys.self)
        self.id =
            settings.string(
                .id,
                required: true,
                format: "1 to 32 letters, digits, '-' or '_'",
                isValid: isIdentifier
            ) ?? "invalid"
        self.name = settings.string(.name, default: "trawl") ?? "trawl"
        self.instance =
            settings.string(
                .instance,
                default: "",
                format: "empty, or 1 to 32 letters, digits, '-' or '_'",
                isValid: { $0.isEmpty || isIdentifier($0) }
            ) ?? ""
        self.debugStatus = settings.bool(.debugStatus, default: false)
        self.hostname = settings.string(
            .hostname,
            format: "a host name without spaces",
            isValid: { !$0.isEmpty && !$0.contains(" ") }
        )
        self.persistence = settings.section(.persistence, as: PersistenceSettings.self) ?? PersistenceSettings()
        self.queueMaxEvents = settings.int(.queueMaxEvents, default: 10_000, range: 10...10_000_000) ?? 10_000
        self.batchMaxEvents = settings.int(.batchMaxEvents, default: 500, range: 1...100_000) ?? 500
        self.senderStatisticsPeriodInSeconds =
            settings.int(.senderStatisticsPeriodInSeconds, default: 300, range: 1...86_400) ?? 300
        self.memoryReportPeriodInSeconds =
            settings.int(.memoryReportPeriodInSeconds, default: 300, range: 1...86_400) ?? 300
        self.shutdownTimeoutInSeconds = settings.int(.shutdownTimeoutInSeconds, default: 30, range: 1...3_600) ?? 30
        self.spoolMaxMegabytes = settings.int(.spoolMaxMegabytes, default: 1_024, range: 0...1_048_576) ?? 1_024
        self.httpEndpoint = settings.section(.httpEndpoint, as: HTTPEndpointSettings.self) ?? HTTPEndpointSettings()
    }
}

/// `globals.http_endpoint`: the HTTP endpoint a Prometheus server scrapes (`/metrics`) and an orchestrator
/// probes (`/health`, `/ready`). Off by default; when on it listens on loopback unless told otherwise, since
/// the metrics name inputs, outputs and tags.
public struct HTTPEndpointSettings: Decodable, Sendable {
    public var enabled: Bool
    /// The address to listen on: `127.0.0.1` by default; `0.0.0.0` in a container whose port is published.
    public var address: String
    /// The port; 0 takes any free one (logged at start).
    public var port: Int

    enum CodingKeys: String, CodingKey, CaseIterable {
        case enabled
        case address
        case port
    }

    public init(enabled: Bool = false, address: String = "127.0.0.1", port: Int = 9464) {
        self.enabled = enabled
        self.address = address
        self.port = port
    }

    public init(from decoder: any Decoder) throws {
        let settings = SettingsReader(decoder, keys: CodingKeys.self)
        self.enabled = settings.bool(.enabled, default: false)
        self.address =
            settings.string(
                .address,
                default: "127.0.0.1",
                format: "an IP address or host name to listen on",
                isValid: { !$0.isEmpty && !$0.contains(" ") && !$0.contains("/") }
            ) ?? "127.0.0.1"
        self.port = settings.int(.port, default: 9464, range: 0...65_535) ?? 9464
    }
}

/// `globals.persistence`: where service state is kept. `filesystem` (the default) keeps it under
/// `directory`; `postgres` keeps service state, ledgers and leases in a PostgreSQL database that several
/// instances share, and `directory` keeps what stays local to an instance (output spools).
public struct PersistenceSettings: Decodable, Sendable {
    public var type: String
    public var directory: String
    public var postgres: PostgresSettings?

    /// The `postgres` backend's connection.
    public struct PostgresSettings: Sendable, Equatable {
        public var host: String
        public var port: Int
        public var database: String
        public var username: String
        public var password: String?
        /// `disable` or `require`.
        public var tls: String

        public init(host: String, port: Int, database: String, username: String, password: String?, tls: String) {
            self.host = host
            self.port = port
            self.database = database
            self.username = username
            self.password = password
            self.tls = tls
        }
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case type
        case directory
        case host
        case port
        case database
        case username
        case password
        case tls
    }

    public init(type: String = "filesystem", directory: String = "./trawl-state") {
        self.type = type
        self.directory = directory
    }

    public init(from decoder: any Decoder) throws {
        let settings = SettingsReader(decoder, keys: CodingKeys.self)
        self.type = settings.string(.type, default: "filesystem", allowed: ["filesystem", "postgres"]) ?? "filesystem"
        self.directory = settings.string(.directory, default: "./trawl-state") ?? "./trawl-state"
        let postgres = self.type == "postgres"
        let host = settings.string(.host, required: postgres)
        let port = settings.int(.port, default: 5432, range: 1...65_535) ?? 5432
        let database = settings.string(.database, required: postgres)
        let username = settings.string(.username, required: postgres)
        let password = settings.string(.password)
        let tls = settings.string(.tls, default: "disable", allowed: ["disable", "require"]) ?? "disable"
        if postgres, let host, let database, let username {
            self.postgres = PostgresSettings(
                host: host,
                port: port,
                database: database,
                username: username,
                password: password,
                tls: tls
            )
        }
    }
}

/// Letters, digits, `-` and `_`, 1 to 32 of them: safe in a file path and a log line.
public func isIdentifier(_ text: String) -> Bool {
    !text.isEmpty && text.utf8.count <= 32
        && text.utf8.allSatisfy { byte in
            (byte >= 48 && byte <= 57) || (byte >= 65 && byte <= 90) || (byte >= 97 && byte <= 122) || byte == 45
                || byte == 95
        }
}
