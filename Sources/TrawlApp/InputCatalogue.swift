import Logging
import TrawlCore
import TrawlSources

/// One input type this build can run: its services and how to build a source for each configured one.
public struct InputType: Sendable {
    /// The source of one configured service, ready to be instantiated once the state store exists.
    public struct PlannedService: Sendable {
        public var input: String
        public var inputID: String
        public var service: String
        public var period: Duration
        /// Builds the source; `key` is where its state lives.
        public var makeSource:
            @Sendable (_ store: any StateStore, _ key: StateKey, _ logger: Logger) -> any PullingSource
    }

    public var name: String
    public var services: [String]
    /// What its sources publish: records for Devo tables, lookup updates, or both.
    public var produces: EventKinds
    /// Decodes and validates an input of this type (errors go to the diagnostics) and plans its services.
    public var plan: @Sendable (InputConfiguration, ConfigurationDiagnostics) -> [PlannedService]

    public init(
        name: String,
        services: [String],
        produces: EventKinds = .records,
        plan: @escaping @Sendable (InputConfiguration, ConfigurationDiagnostics) -> [PlannedService]
    ) {
        self.name = name
        self.services = services
        self.produces = produces
        self.plan = plan
    }
}

/// The input types of this build.
public enum InputCatalogue {
    public static let all: [InputType] = [localFiles]

    /// `local_files`: lines of local files (the quick start, replaying exports).
    public static let localFiles = InputType(name: "local_files", services: ["lines"]) { input, diagnostics in
        var planned: [InputType.PlannedService] = []
        for service in input.services {
            guard
                let settings = SettingsDecoding.decode(
                    LocalFilesSettings.self,
                    from: service.node,
                    path: service.path,
                    diagnostics: diagnostics
                )
            else { continue }
            let inputName = input.name
            let inputID = input.id
            let serviceName = service.name
            planned.append(
                InputType.PlannedService(
                    input: inputName,
                    inputID: inputID,
                    service: serviceName,
                    period: .seconds(settings.common.requestPeriodInSeconds)
                ) { store, key, logger in
                    LocalFilesSource(
                        name: "\(inputName)/\(serviceName)",
                        settings: settings,
                        persistence: ServicePersistence(
                            store: store,
                            key: key,
                            resetPersistenceAuth: settings.common.resetPersistenceAuth,
                            logger: logger
                        )
                    )
                }
            )
        }
        return planned
    }
}
