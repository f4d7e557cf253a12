import Logging
import TrawlCore

/// The services of a `sentinelone` input, and which source collects each.
public enum SentinelOneServices {
    /// Every service name the input offers, one per content type.
    public static let names: [String] =
        SentinelOneContentType.listed.map(\.service) + ["vulnerabilities"]
        + SentinelOneThreatChildSource.contents.map(\.service) + [SentinelOneDeepVisibilitySource.content.service]

    /// The source collecting `service` (one of ``names``) from `console`, its state under `key` of `store`.
    public static func source(
        for service: String,
        name: String,
        settings: SentinelOneServiceSettings,
        console: SentinelOneConsole,
        store: any StateStore,
        key: StateKey,
        logger: Logger
    ) -> any PullingSource {
        if service == SentinelOneDeepVisibilitySource.content.service {
            return SentinelOneDeepVisibilitySource(
                name: name,
                settings: settings,
                console: console,
                persistence: ServicePersistence(store: store, key: key, service: settings.common, logger: logger)
            )
        }
        if let child = SentinelOneThreatChildSource.contents.first(where: { $0.service == service }) {
            return SentinelOneThreatChildSource(
                name: name,
                content: child,
                settings: settings,
                console: console,
                persistence: ServicePersistence(store: store, key: key, service: settings.common, logger: logger)
            )
        }
        if service == "vulnerabilities", settings.vulnerabilitiesContent == .applicationRisks {
            return SentinelOneApplicationRiskSource(
                name: name,
                settings: settings,
                console: console,
                persistence: ServicePersistence(store: store, key: key, service: settings.common, logger: logger)
            )
        }
        let content =
            SentinelOneContentType.listed.first { $0.service == service } ?? .installedApplications
        return SentinelOneListSource(
            name: name,
            content: content,
            settings: settings,
            console: console,
            persistence: ServicePersistence(store: store, key: key, service: settings.common, logger: logger)
        )
    }
}
