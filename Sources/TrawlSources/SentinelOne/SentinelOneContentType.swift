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
        enrichment: Enrichment(path: "/private/installed-applications/{id}/cves", field: "cves")
    )

    /// `vulnerabilities` on consoles with application management: its risks endpoint.
    public static let applicationRisks = SentinelOneContentType(
        service: "vulnerabilities",
        path: "/application-management/risks",
        messageClass: "sentinelone_vulnerabilities",
        defaultTag: "edr.sentinelone.vulnerabilities",
        permission: "Application Management View"
    )

    /// The content types read by listing one endpoint incrementally on `updatedAt`.
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
            permission: "STAR Custom Rules View (a STAR licence)"
        ),
        .init(
            service: "rogues",
            path: "/rogues/table-view",
            messageClass: "sentinelone_rogues_table",
            defaultTag: "edr.sentinelone.rogues",
            permission: "Rogues View"
        ),
    ]
}
