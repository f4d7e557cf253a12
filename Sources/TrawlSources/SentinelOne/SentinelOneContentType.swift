/// What Trawl collects from a SentinelOne console: one service per content type, each with the seed's
/// `msg_class` (how the SIEM finds the records) and a default Devo table.
public struct SentinelOneContentType: Sendable, Equatable {
    /// The service name in the configuration.
    public var service: String
    /// The API path under `/web/api/v2.1`.
    public var path: String
    public var messageClass: String
    public var defaultTag: String
    /// The permission a Viewer role needs for it, named in errors.
    public var permission: String
    /// Its records get the native-alert `alert` object (threats).
    public var mapsAlerts = false
    /// A list read per record and added to it (the CVEs of an installed application).
    public var enrichment: Enrichment?
    /// Which time the records are followed by.
    public var position: Position = .updated

    /// The time a content type's records are followed by, as its endpoint filters and sorts on it and as its
    /// records carry it: each endpoint offers its own (API v2.1 reference).
    public struct Position: Sendable, Equatable {
        /// The field the endpoint filters on (`<filter>__gte`); nil when it cannot filter on the time, only
        /// sort on it: the records are then read newest first down to the watermark.
        public var filter: String?
        /// The `sortBy` value that orders the records by that time.
        public var sortBy: String
        /// Where a record keeps its id, and that time (a path into nested objects).
        public var idPath: [String]
        public var timePath: [String]
        /// What the time says, in log lines: "updated", "created", "last seen".
        public var meaning: String

        /// `updatedAt`, which agents and threats filter and sort on: an update sends a record again.
        public static let updated = Position(
            filter: "updatedAt",
            sortBy: "updatedAt",
            idPath: ["id"],
            timePath: ["updatedAt"],
            meaning: "updated"
        )

        /// Cloud detection alerts keep their id and times in `alertInfo`, and the endpoint filters them only
        /// by `createdAt` (no `updatedAt__gte`): each alert is sent once, as created.
        public static let alertCreated = Position(
            filter: "createdAt",
            sortBy: "alertInfoCreatedAt",
            idPath: ["alertInfo", "alertId"],
            timePath: ["alertInfo", "createdAt"],
            meaning: "created"
        )

        /// Installed applications sort on `updatedAt` but offer no filter on it (the API v2.1 reference lists
        /// none): they are read newest first down to the watermark.
        public static let updatedUnfiltered = Position(
            filter: nil,
            sortBy: "updatedAt",
            idPath: ["id"],
            timePath: ["updatedAt"],
            meaning: "updated"
        )

        /// Application risks filter on `riskUpdatedDate` (a significant change of the CVE on the endpoint, which
        /// the API v2.1 reference recommends for reading changes), but neither show it nor sort on it: they are
        /// read in windows of it, by id (``SentinelOneApplicationRiskSource``), and `timePath` is empty.
        public static let riskUpdated = Position(
            filter: "riskUpdatedDate",
            sortBy: "id",
            idPath: ["id"],
            timePath: [],
            meaning: "significantly updated"
        )

        /// Rogues (devices found unprotected) carry no `updatedAt`: a device seen again is a new `lastSeen`.
        public static let lastSeen = Position(
            filter: "lastSeen",
            sortBy: "lastSeen",
            idPath: ["id"],
            timePath: ["lastSeen"],
            meaning: "last seen"
        )
    }

    /// The list at `path` (`{id}` is the record's id), added to the record as `field`.
    public struct Enrichment: Sendable, Equatable {
        public var path: String
        public var field: String
    }

    /// `vulnerabilities` as older consoles serve it: installed applications, each with its CVEs.
    public static let installedApplications = SentinelOneContentType(
        service: "vulnerabilities",
        path: "/installed-applications",
        messageClass: "sentinelone_vulnerabilities",
        defaultTag: "edr.sentinelone.vulnerabilities",
        permission: "Applications View",
        enrichment: Enrichment(path: "/private/installed-applications/{id}/cves", field: "cves"),
        position: .updatedUnfiltered
    )

    /// `vulnerabilities` on consoles with application management: its risks endpoint, one row per CVE of an
    /// application on an endpoint.
    public static let applicationRisks = SentinelOneContentType(
        service: "vulnerabilities",
        path: "/application-management/risks",
        messageClass: "sentinelone_vulnerabilities",
        defaultTag: "edr.sentinelone.vulnerabilities",
        permission: "Applications Page: View Risks",
        position: .riskUpdated
    )

    /// The content types read by listing one endpoint incrementally on a time (``Position``).
    public static let listed: [SentinelOneContentType] = [
        .init(
            service: "agents",
            path: "/agents",
            messageClass: "sentinelone_host",
            defaultTag: "edr.sentinelone.agents",
            permission: "Endpoints View"
        ),
        .init(
            service: "threats",
            path: "/threats",
            messageClass: "sentinelone_threat_detection",
            defaultTag: "edr.sentinelone.threats",
            permission: "Threats View",
            mapsAlerts: true
        ),
        .init(
            service: "cloud_detection_alerts",
            path: "/cloud-detection/alerts",
            messageClass: "sentinelone_cloud_detection_alerts",
            defaultTag: "edr.sentinelone.cloud_detection_alerts",
            permission: "STAR Custom Rules View (a STAR licence)",
            position: .alertCreated
        ),
        .init(
            service: "rogues",
            path: "/rogues/table-view",
            messageClass: "sentinelone_rogues_table",
            defaultTag: "edr.sentinelone.rogues",
            permission: "Rogues View",
            position: .lastSeen
        ),
    ]
}
