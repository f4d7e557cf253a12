import Foundation
import Logging
import TrawlAWS
import TrawlCore
import TrawlFormats
import TrawlSources

/// What makes an S3+SQS service's own source, with its ledger in `store` under `key`; `aws` is how its
/// requests weather failures (a collector's patience, or a check's promptness).
public typealias ObjectSourceMaker =
    @Sendable (_ store: any StateStore, _ key: StateKey, _ logger: Logger, _ aws: AWSRequestPatience)
    -> SQSObjectSource

/// How an S3+SQS source's AWS requests weather failures.
public enum AWSRequestPatience: Sendable {
    /// Collecting or backfilling: connects and retries ride out a flaky network.
    case collecting
    /// A check an operator waits on: an unreachable endpoint is reported within about a second.
    case checking
}

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
        /// For services that read objects: a source running the same processing over local files
        /// (`trawl replay`).
        public var makeReplay: (@Sendable (_ files: [String], _ concurrency: Int?) -> ObjectReplaySource)? = nil
        /// For services that read objects: the service's own source, whose processing and ledger
        /// `trawl backfill` uses for what is already in S3.
        public var makeObjectSource: ObjectSourceMaker? = nil
        /// Whether one instance at a time polls it (it follows a cursor), when several run the same
        /// configuration; false where the source spreads the work itself (an SQS queue).
        public var exclusive = true
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

extension InputType.PlannedService {
    /// `service` of `input`, pulled every `request_period_in_seconds` of its common settings.
    init(
        _ input: InputConfiguration,
        _ service: ServiceConfiguration,
        every common: CommonServiceSettings,
        makeSource:
            @escaping @Sendable (_ store: any StateStore, _ key: StateKey, _ logger: Logger) -> any PullingSource
    ) {
        self.init(
            input: input.name,
            inputID: input.id,
            service: service.name,
            period: .seconds(common.requestPeriodInSeconds),
            makeSource: makeSource
        )
    }
}

/// The input types of this build.
public enum InputCatalogue {
    public static let all: [InputType] = [localFiles, awsSQS, cloudFunnel, securityLake, sentinelOne, cewl]

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
            let name = "\(input.name)/\(service.name)"
            planned.append(
                InputType.PlannedService(input, service, every: settings.common) { store, key, logger in
                    LocalFilesSource(
                        name: name,
                        settings: settings,
                        persistence: ServicePersistence(
                            store: store,
                            key: key,
                            service: settings.common,
                            logger: logger
                        )
                    )
                }
            )
        }
        return planned
    }

    /// The processor, default tag and default key exclusions of each `aws_sqs` service.
    static let sqsServices:
        [String: (format: @Sendable (SQSObjectSettings) -> RecordFormat, tag: String?, exclude: [String])] = [
            "cloudtrail": (
                { .jsonDocument(listField: $0.listField) }, "cloud.aws.cloudtrail.events", ["*/CloudTrail-Digest/*"]
            ),
            "vpc_flow": ({ _ in .vpcFlow }, nil, []),
            "cloudwatch_logs": ({ .cloudWatchLogs(messageOnly: $0.cloudWatchMessageOnly) }, nil, []),
            "json_lines": ({ _ in .jsonLines }, nil, []),
            "json_document": ({ .jsonDocument(listField: $0.listField) }, nil, []),
            "json_array": ({ _ in .jsonArray }, nil, []),
            "csv": ({ _ in .csv }, nil, []),
            "tsv": ({ _ in .tsv }, nil, []),
            "lines": ({ _ in .lines }, nil, []),
            "whole_object": ({ .wholeObject(maxBytes: $0.wholeObjectMaxBytes) }, nil, []),
        ]

    /// `aws_sqs`: objects announced by S3 notifications in an SQS queue, one service per processor.
    public static let awsSQS = InputType(name: "aws_sqs", services: sqsServices.keys.sorted()) { input, diagnostics in
        planSQSServices(input, diagnostics, requiresAckMessages: true) { service, settings in
            guard let preset = sqsServices[service.name] else { return nil }
            guard let tag = settings.tag ?? preset.tag else {
                if settings.tagGiven { return nil }
                diagnostics.record(
                    TrawlError(
                        .settingMissing,
                        "required setting tag not found: the \(service.name) service has no default Devo table",
                        location: "\(service.path).tag",
                        fix: "Add tag: the Devo table of these events, e.g. my.app.aws.\(service.name)."
                    )
                )
                return nil
            }
            if settings.tagPerClass, settings.tagField != nil {
                diagnostics.record(
                    TrawlError(
                        .settingWrongFormat,
                        "tag_per_class and tag_field both choose the tag from a record field",
                        location: "\(service.path).tag_per_class",
                        fix: "Keep one of them: tag_per_class for OCSF records, tag_field with tag_mapping otherwise."
                    )
                )
                return nil
            }
            let rule =
                settings.tagPerClass
                ? RecordTagger.FieldRule.suffix(field: ocsfClassField)
                : settings.tagField.map {
                    RecordTagger.FieldRule.mapping(
                        field: $0,
                        mapping: settings.tagMapping,
                        fallback: settings.tagDefault
                    )
                }
            return (
                preset.format(settings), RecordTagger(tag: tag, keyTags: settings.keyTags, fieldRule: rule),
                preset.exclude
            )
        }
    }

    /// `sentinelone_cloud_funnel`: SentinelOne Deep Visibility events that Cloud Funnel writes to S3, one
    /// Devo table per event category.
    public static let cloudFunnel = InputType(name: "sentinelone_cloud_funnel", services: ["cloud_funnel"]) {
        input,
        diagnostics in
        planSQSServices(input, diagnostics, requiresAckMessages: true) { _, settings in
            let fallback = settings.fallbackTag ?? CloudFunnelCategorizer.defaultFallbackTag
            return (
                .jsonLines, RecordTagger(tag: fallback, keyTags: [], fieldRule: .cloudFunnel(fallback: fallback)), []
            )
        }
    }

    /// `sentinelone`: a SentinelOne management console's API, one service per content type, all paced
    /// together.
    public static let sentinelOne = InputType(
        name: "sentinelone",
        services: SentinelOneServices.names
    ) { input, diagnostics in
        let credentials = SettingsDecoding.decode(
            SentinelOneCredentials.self,
            from: input.credentials,
            path: "\(input.path).credentials",
            diagnostics: diagnostics
        )
        let inputSettings =
            input.settings.flatMap {
                SettingsDecoding.decode(
                    SentinelOneInputSettings.self,
                    from: $0,
                    path: "\(input.path).settings",
                    diagnostics: diagnostics
                )
            } ?? SentinelOneInputSettings()
        let gate = SentinelOneRequestGate(
            configuration: .init(requestsPerMinute: inputSettings.requestsPerMinute)
        )
        let proxy = HTTPProxySettings.egress(diagnostics)
        return planServices(input, diagnostics, credentials: credentials, settings: SentinelOneServiceSettings.self) {
            name,
            service,
            credentials,
            settings,
            store,
            key,
            logger in
            SentinelOneServices.source(
                for: service,
                name: name,
                settings: settings,
                console: SentinelOneConsole(
                    configuration: .init(url: credentials.consoleURL, token: credentials.apiToken, proxy: proxy),
                    gate: gate
                ),
                store: store,
                key: key,
                logger: logger
            )
        }
    }

    /// `ctci_cewl`: the CTCI CVE Early Warning List, kept current in a Devo lookup table.
    public static let cewl = InputType(name: "ctci_cewl", services: ["cewl"], produces: .lookups) {
        input,
        diagnostics in
        let credentials = SettingsDecoding.decode(
            CEWLCredentials.self,
            from: input.credentials,
            path: "\(input.path).credentials",
            diagnostics: diagnostics
        )
        let proxy = HTTPProxySettings.egress(diagnostics)
        return planServices(input, diagnostics, credentials: credentials, settings: CEWLSettings.self) {
            name,
            _,
            credentials,
            settings,
            store,
            key,
            logger in
            CEWLLookupSource(
                name: name,
                settings: settings,
                token: credentials.apiToken,
                persistence: ServicePersistence(store: store, key: key, service: settings.common, logger: logger),
                proxy: proxy
            )
        }
    }

    /// Plans the services of an API input: each service's settings decoded (errors to the diagnostics),
    /// each source made by `make` from its name (`<input>/<service>`), the service, the input's credentials
    /// and the service's settings.
    static func planServices<Credentials: Sendable, Settings: Decodable & Sendable & HasCommonSettings>(
        _ input: InputConfiguration,
        _ diagnostics: ConfigurationDiagnostics,
        credentials: Credentials?,
        settings: Settings.Type,
        make:
            @escaping @Sendable (
                _ name: String, _ service: String, _ credentials: Credentials, _ settings: Settings,
                _ store: any StateStore,
                _ key: StateKey, _ logger: Logger
            ) -> any PullingSource
    ) -> [InputType.PlannedService] {
        var planned: [InputType.PlannedService] = []
        for service in input.services {
            guard
                let decoded = SettingsDecoding.decode(
                    Settings.self,
                    from: service.node,
                    path: service.path,
                    diagnostics: diagnostics
                ),
                let credentials
            else { continue }
            let (name, serviceName) = ("\(input.name)/\(service.name)", service.name)
            planned.append(
                InputType.PlannedService(input, service, every: decoded.common) { store, key, logger in
                    make(name, serviceName, credentials, decoded, store, key, logger)
                }
            )
        }
        return planned
    }

    /// The OCSF field whose value `tag_per_class` adds to the tag.
    static let ocsfClassField = "class_name"

    /// `amazon_security_lake`: OCSF records that Amazon Security Lake stores as Parquet objects and announces
    /// with EventBridge notifications; each row is one event for `cloud.aws.amazon.security_lake.events`
    /// (or, with `tag_per_class`, one table per OCSF class). Iceberg `metadata/` objects are not events.
    public static let securityLake = InputType(name: "amazon_security_lake", services: ["events"]) {
        input,
        diagnostics in
        planSQSServices(input, diagnostics, requiresAckMessages: false) { _, settings in
            let tag = settings.tag ?? "cloud.aws.amazon.security_lake.events"
            return (
                .parquet,
                RecordTagger(
                    tag: tag,
                    keyTags: settings.keyTags,
                    fieldRule: settings.tagPerClass ? .suffix(field: ocsfClassField) : nil
                ),
                ["metadata/*", "*/metadata/*"]
            )
        }
    }

    /// Plans the services of an S3+SQS input: `preset` gives each service's processor, tagger and default
    /// key exclusions (nil when it recorded an error). Where the seed makes `ack_messages` required, it
    /// must be written; otherwise messages are deleted once delivered.
    static func planSQSServices(
        _ input: InputConfiguration,
        _ diagnostics: ConfigurationDiagnostics,
        requiresAckMessages: Bool,
        preset: (ServiceConfiguration, SQSObjectSettings) -> (RecordFormat, RecordTagger, [String])?
    ) -> [InputType.PlannedService] {
        let credentials =
            SettingsDecoding.decode(
                AWSCredentialSettings.self,
                from: input.credentials,
                path: "\(input.path).credentials",
                diagnostics: diagnostics
            ) ?? AWSCredentialSettings()
        let environment = ProcessInfo.processInfo.environment
        let proxy = HTTPProxySettings.egress(diagnostics)
        var planned: [InputType.PlannedService] = []
        for service in input.services {
            guard
                let settings = SettingsDecoding.decode(
                    SQSObjectSettings.self,
                    from: service.node,
                    path: service.path,
                    diagnostics: diagnostics
                ),
                let (format, tagger, exclude) = preset(service, settings)
            else { continue }
            if settings.columns != nil, format != .csv, format != .tsv {
                diagnostics.record(
                    TrawlError(
                        .settingWrongFormat,
                        "columns names the columns of headerless csv and tsv objects; the \(service.name) service has none",
                        location: "\(service.path).columns",
                        fix: "Remove columns, or move it to a csv or tsv service."
                    )
                )
                continue
            }
            if requiresAckMessages, !settings.ackMessagesGiven {
                diagnostics.record(
                    TrawlError(
                        .settingMissing,
                        "required setting ack_messages not found",
                        location: "\(service.path).ack_messages",
                        fix:
                            "Add ack_messages: true to delete each message once its objects were delivered (false leaves them in the queue)."
                    )
                )
                continue
            }
            let configuration = SQSObjectSource.Configuration(
                name: "\(input.name)/\(service.name)",
                settings: settings,
                credentials: credentials,
                format: format,
                tagger: tagger,
                includeKeys: settings.includeKeys ?? [],
                excludeKeys: settings.excludeKeys ?? exclude.map(KeyPattern.init)
            )
            let makeObjectSource: ObjectSourceMaker = { store, key, logger, patience in
                var ledgerKey = key
                ledgerKey.service = "\(key.service).ledger"
                return SQSObjectSource(
                    configuration: configuration,
                    ledger: S3ObjectLedger(
                        persistence: ServicePersistence(
                            store: store,
                            key: ledgerKey,
                            resetPersistenceAuth: settings.common.resetPersistenceAuth,
                            logger: logger
                        ),
                        retention: .seconds(settings.ledgerRetentionHours * 3_600)
                    ),
                    aws: AWSClient(
                        configuration: patience == .checking
                            ? .forChecks(proxy: proxy) : AWSClient.Configuration(proxy: proxy)
                    ),
                    environment: environment
                )
            }
            var plannedService = InputType.PlannedService(input, service, every: settings.common) {
                makeObjectSource($0, $1, $2, .collecting)
            }
            plannedService.makeObjectSource = makeObjectSource
            plannedService.makeReplay = { files, concurrency in
                ObjectReplaySource(configuration: configuration, files: files, concurrency: concurrency)
            }
            plannedService.exclusive = false
            planned.append(plannedService)
        }
        return planned
    }
}
