import Crypto
import Foundation
import Logging
import NIOCore
import Synchronization
import TrawlAWS
import TrawlCore
import TrawlFormats
import TrawlParquet

/// Follows S3 notifications in an SQS queue: each cycle it long-polls the queue, reads the objects each
/// message names (several messages at once), splits them into events and publishes them; a message is
/// deleted only once every event of every object it names was accepted by every output, and its
/// visibility is extended meanwhile, so a big object is not handed to another reader halfway through.
///
/// The ``S3ObjectLedger`` makes a notification received again (SQS delivers at least once, a crash can
/// come before the delete) skip what was already delivered.
public final class SQSObjectSource: PullingSource {
    /// What one service of an S3+SQS input does.
    public struct Configuration: Sendable {
        /// `<input>/<service>`, for logs and event metadata.
        public var name: String
        public var settings: SQSObjectSettings
        public var credentials: AWSCredentialSettings
        public var format: RecordFormat
        public var tagger: RecordTagger
        public var includeKeys: [KeyPattern]
        public var excludeKeys: [KeyPattern]

        public init(
            name: String,
            settings: SQSObjectSettings,
            credentials: AWSCredentialSettings,
            format: RecordFormat,
            tagger: RecordTagger,
            includeKeys: [KeyPattern],
            excludeKeys: [KeyPattern]
        ) {
            self.name = name
            self.settings = settings
            self.credentials = credentials
            self.format = format
            self.tagger = tagger
            self.includeKeys = includeKeys
            self.excludeKeys = excludeKeys
        }

        /// What an ``ObjectReader`` of this service needs.
        func readerSetup(ledger: S3ObjectLedger?) -> ObjectReader.Setup {
            ObjectReader.Setup(
                name: self.name,
                format: self.format,
                encoding: self.settings.encoding,
                maxRecordBytes: self.settings.recordMaxBytes,
                columns: self.settings.columns,
                tagger: self.tagger,
                recordsPerCommit: self.settings.recordsPerCommit,
                doNotSend: self.settings.doNotSend,
                ledger: ledger,
                obfuscator: ObfuscationSettings(rules: self.settings.obfuscate, key: self.settings.obfuscationKey)
                    .obfuscator,
                parquetOptions: ParquetJSONOptions(
                    keepNulls: self.settings.parquetKeepNulls,
                    fields: self.settings.parquetFields.map(Set.init)
                ),
                parquetLimits: ParquetReadLimits(
                    maximumRowGroupBytes: Int64(self.settings.parquetMaxRowGroupMegabytes) << 20
                ),
                spoolDirectory: self.settings.parquetSpoolDirectory
            )
        }

        /// Whether the object at `key` is read at all.
        public func reads(key: String) -> Bool {
            (self.includeKeys.isEmpty || self.includeKeys.contains { $0.matches(key) })
                && !self.excludeKeys.contains { $0.matches(key) }
        }
    }

    /// The queue and the clients, resolved at the first cycle.
    struct Connection: Sendable {
        var sqs: SQSClient
        var s3: S3Client
        var queueURL: String
        var queueARN: String
    }

    public let configuration: Configuration
    public let ledger: S3ObjectLedger
    let aws: AWSClient
    let environment: [String: String]
    private let connection = Mutex<Connection?>(nil)

    public init(
        configuration: Configuration,
        ledger: S3ObjectLedger,
        aws: AWSClient = AWSClient(),
        environment: [String: String]
    ) {
        self.configuration = configuration
        self.ledger = ledger
        self.aws = aws
        self.environment = environment
    }

    public func withResources(_ body: () async throws -> Void) async throws {
        try await closing(self.aws.shutdown, after: body)
    }

    var settings: SQSObjectSettings { self.configuration.settings }

    public func pull(_ context: PullContext) async throws -> PullCycleStatistics {
        let connection = try await context.cancellingOnStop { try await self.connect(logger: context.logger) }
        let counters = CycleCounters(metrics: context.metrics)
        let slots = ObjectReadSlots(self.settings.concurrency)
        var upToDate = false
        try await withThrowingTaskGroup(of: Void.self) { group in
            var inFlight = 0
            var reportedDone = 0
            while !context.isShuttingDown {
                if inFlight >= self.settings.concurrency {
                    try await group.next()
                    inFlight -= 1
                    continue
                }
                counters.update { $0.statistics.requests += 1 }
                let messages: [SQSMessage]
                let maxMessages = min(self.settings.maxMessages, self.settings.concurrency - inFlight)
                let waitTimeSeconds = inFlight == 0 ? self.settings.waitTimeout : 0
                let receive: @Sendable () async throws -> [SQSMessage] = { [settings = self.settings] in
                    try await connection.sqs.receiveMessages(
                        queueURL: connection.queueURL,
                        maxMessages: maxMessages,
                        waitTimeSeconds: waitTimeSeconds,
                        visibilityTimeout: settings.visibilityTimeout,
                        logger: context.logger
                    )
                }
                do {
                    // A long poll (nothing in flight) is cut short by a stop instead of holding it up to
                    // sqs_wait_timeout. Messages SQS handed to an answer cut off wait out their visibility
                    // timeout: late, but neither lost nor (with the ledger) sent twice.
                    messages = try await inFlight == 0 ? context.cancellingOnStop(receive) : receive()
                } catch is CancellationError where inFlight == 0 && context.isShuttingDown {
                    break
                } catch {
                    // Leaving the group by throwing would cancel the messages being read half way, and they
                    // would wait out their visibility timeout: they are finished first.
                    if inFlight > 0 {
                        context.logger.warning(
                            "Receiving from SQS failed: finishing the \(inFlight) message(s) being read before this cycle ends (\(error))"
                        )
                        try await group.waitForAll()
                    }
                    throw error
                }
                if messages.isEmpty {
                    if inFlight == 0 {
                        context.logger.info("No visible messages found in the queue \(connection.queueARN)")
                        upToDate = true
                        break
                    }
                    try await group.next()
                    inFlight -= 1
                    continue
                }
                let done = counters.read { $0.messagesDone }
                if done > reportedDone {
                    reportedDone = done
                    Self.logPartial(counters, context: context)
                }
                context.logger.info(
                    "Fetched \(messages.count) message(s) from SQS \(connection.queueARN). Extracting records from S3 files."
                )
                for message in messages {
                    inFlight += 1
                    group.addTask {
                        await self.process(
                            message,
                            connection: connection,
                            slots: slots,
                            counters: counters,
                            context: context
                        )
                    }
                }
            }
            try await group.waitForAll()
        }
        if counters.read({ $0.messagesDone }) > 0 { Self.logPartial(counters, context: context) }
        var statistics = counters.read { $0.statistics }
        statistics.upToDate = upToDate && !context.isShuttingDown
        return statistics
    }

    /// The seed's "(Partial)" lines: what a long cycle delivered so far, per tag and in all.
    static func logPartial(_ counters: CycleCounters, context: PullContext) {
        let (tags, statistics) = counters.read { ($0.perTagSummary, $0.statistics) }
        context.logger.info("(Partial) Number of messages per tag sent so far in this partial pull cycle: \(tags)")
        let elapsed = Duration.microseconds(UTCTimestamp.now().microsecondsSinceEpoch - context.pullingID.microseconds)
        context.logger.info("(Partial) \(statistics.summary(pullingID: context.pullingID, elapsed: elapsed))")
    }

    /// The endpoint given for one service (`s3_endpoint_url`...), else `endpoint_url`; nil for AWS's own.
    private func endpoint(_ url: String?) -> AWSEndpoint? {
        url.flatMap(AWSEndpoint.init(url:)) ?? self.settings.endpointURL.flatMap(AWSEndpoint.init(url:))
    }

    /// The service's credentials (keys or roles, resolved lazily) and its S3 client; no request is made.
    func objectAccess() throws -> (credentials: any AWSCredentialProvider, s3: S3Client) {
        let settings = self.settings
        let credentials = try self.configuration.credentials.makeProvider(
            client: self.aws,
            region: settings.region,
            stsEndpoint: self.endpoint(settings.stsEndpointURL),
            environment: self.environment,
            clock: ContinuousClock()
        )
        let s3 = S3Client(
            client: self.aws,
            region: settings.region,
            endpoint: self.endpoint(settings.s3EndpointURL),
            addressing: settings.s3Addressing,
            credentials: credentials
        )
        return (credentials, s3)
    }

    /// Resolves the queue and checks it exists (the seeds' setup), once; logs what in the queue's settings
    /// works against Trawl's unless `reportSettings` is false (the connection check reports it itself).
    func connect(logger: Logger, reportSettings: Bool = true) async throws -> Connection {
        if let connection = self.connection.withLock({ $0 }) { return connection }
        let settings = self.settings
        let (credentials, s3) = try self.objectAccess()
        var sqsEndpoint = self.endpoint(settings.sqsEndpointURL)
        if sqsEndpoint == nil, let baseURL = settings.baseURL, let queueEndpoint = AWSEndpoint(url: baseURL) {
            sqsEndpoint = AWSEndpoint(scheme: queueEndpoint.scheme, host: queueEndpoint.host, port: queueEndpoint.port)
        }
        let sqs = SQSClient(client: self.aws, region: settings.region, endpoint: sqsEndpoint, credentials: credentials)
        let queueURL: String
        if let baseURL = settings.baseURL {
            queueURL = baseURL
        } else {
            queueURL = try await sqs.queueURL(
                name: settings.queueName ?? "",
                ownerAccountID: settings.queueOwnerAccountID,
                logger: logger
            )
        }
        logger.info("Checking if SQS queue \(queueURL) exists")
        let attributes = try await sqs.queueAttributes(
            queueURL: queueURL,
            names: ["QueueArn", "MessageRetentionPeriod"],
            logger: logger
        )
        let arn = attributes["QueueArn"] ?? queueURL
        logger.info("SQS queue \(arn) exists. Records are pullable.")
        if reportSettings,
            let warning = Self.ledgerRetentionWarning(attributes["MessageRetentionPeriod"], settings: settings)
        {
            logger.warning("\(warning)")
        }
        let connection = Connection(sqs: sqs, s3: s3, queueURL: queueURL, queueARN: arn)
        self.connection.withLock { $0 = connection }
        return connection
    }

    /// What to say when the queue keeps messages (`MessageRetentionPeriod`, seconds) longer than the ledger
    /// remembers delivered objects: the ledger is what keeps a message received again from delivering its
    /// objects twice, so a late one would. Nil when the ledger remembers long enough.
    static func ledgerRetentionWarning(_ queueRetention: String?, settings: SQSObjectSettings) -> String? {
        guard let retention = queueRetention.flatMap(Int.init), retention > settings.ledgerRetentionHours * 3_600
        else { return nil }
        let hours = (retention + 3_599) / 3_600
        return
            "The queue keeps messages for \(hours) hours (its MessageRetentionPeriod) but the ledger remembers delivered objects for \(settings.ledgerRetentionHours) hours (ledger_retention_hours): a message away from the queue longer than that (moved back from a dead-letter queue, or left undeleted while Trawl was stopped) delivers its objects again. Set ledger_retention_hours to at least \(hours)"
    }

    /// Reads every object of one message and deletes the message once all were delivered. Never throws:
    /// a failure is logged and the message stays in the queue, to be received again.
    private func process(
        _ message: SQSMessage,
        connection: Connection,
        slots: ObjectReadSlots,
        counters: CycleCounters,
        context: PullContext
    ) async {
        var logger = context.logger
        logger[metadataKey: "sqs.message.id"] = "\(message.messageID)"
        counters.messageBegan(message.messageID)
        var outcome = MessageOutcome.failed
        defer {
            counters.messageEnded(message.messageID, outcome: outcome)
            counters.update { $0.messagesDone += 1 }
        }
        logger.debug(
            "Received message \(message.messageID) (receive count \(message.approximateReceiveCount ?? 1))",
            metadata: ["sqs.receipt_handle": "\(message.receiptHandle)"]
        )
        let notification: S3Notification
        do {
            notification = try S3Notification.parse(message.body)
        } catch {
            self.reportPoison(message, reason: error.reason, connection: connection, logger: logger)
            outcome = .poison
            return
        }
        do {
            switch notification {
            case .nothingToRead(let reason):
                logger.info("Message \(message.messageID) names no object to read (\(reason)); deleting it")
            case .objectsCreated(let objects):
                try await self.keepingInvisible(message, connection: connection, counters: counters, logger: logger) {
                    try await self.readObjects(
                        objects,
                        connection: connection,
                        slots: slots,
                        counters: counters,
                        context: context,
                        logger: logger
                    )
                }
                if self.settings.debugMD5 {
                    try await self.publishMD5(of: message, objects: objects, context: context)
                }
            }
            outcome = try await self.acknowledge(message, connection: connection, counters: counters, logger: logger)
        } catch is CancellationError {
            await self.release(message, connection: connection, counters: counters, logger: logger)
            outcome = .released
        } catch let error as TrawlError {
            logger.error("\(error)", metadata: ["error.id": "\(error.code.id)"])
        } catch let error as ObjectsOfMessageFailed {
            logger.warning(
                "Message \(message.messageID) is left in the queue: \(error.failed) of its \(error.objects) objects failed (logged above); the others were delivered, and the ledger skips them when the message comes back"
            )
        } catch let error as AcknowledgementRejected {
            logger.error(
                "Message \(message.messageID) is left in the queue: an output gave up on \(error.unit): \(error.message)"
            )
        } catch {
            logger.error("Message \(message.messageID) is left in the queue: \(error)")
        }
    }

    /// How processing a message ended, as `trawl_sqs_messages_total` counts it.
    enum MessageOutcome: String, CaseIterable, Sendable {
        /// Delivered (or naming nothing to read) and deleted.
        case deleted
        /// Delivered and left in the queue, as `ack_messages: false` asks.
        case kept
        /// Delivered, but deleting it failed: it comes back and the ledger skips its objects.
        case notDeleted = "not_deleted"
        /// Not a notification: left for the queue's dead-letter policy.
        case poison
        /// An object or an output failed: left in the queue to be received again.
        case failed
        /// Trawl stopped while reading it: made visible again for the next start.
        case released
    }

    /// How reading one object of a message ended.
    private enum ObjectOutcome: Sendable {
        case read
        case failed(TrawlError)
        case stopped
        case gaveUp(any Error)
    }

    /// Reads a message's objects, several at once when slots are free. Something wrong with one object
    /// (corrupt, too long a record, unreadable) is no reason to hold back the others: it is logged, they are
    /// delivered and recorded, and the message stays in the queue for it. A stop, or an output giving up,
    /// starts no further object.
    ///
    /// - Throws: `CancellationError` on a stop; the error of a message's only object; ``ObjectsOfMessageFailed``
    ///   when some of its objects failed; what an output gave up with.
    private func readObjects(
        _ objects: [S3ObjectReference],
        connection: Connection,
        slots: ObjectReadSlots,
        counters: CycleCounters,
        context: PullContext,
        logger: Logger
    ) async throws {
        let outputsGaveUp = ObjectFailureCount()
        let outcomes = await withTaskGroup(of: ObjectOutcome.self, returning: [ObjectOutcome].self) { group in
            var outcomes: [ObjectOutcome] = []
            for object in objects {
                await slots.take()
                guard !context.isShuttingDown, outputsGaveUp.value == 0 else {
                    slots.give()
                    if context.isShuttingDown { outcomes.append(.stopped) }
                    break
                }
                group.addTask {
                    defer { slots.give() }
                    var objectLogger = logger
                    objectLogger[metadataKey: "s3.bucket"] = "\(object.bucket)"
                    objectLogger[metadataKey: "s3.key"] = "\(object.key)"
                    do {
                        try await self.read(
                            object,
                            s3: connection.s3,
                            counters: counters,
                            context: context,
                            logger: objectLogger
                        )
                        return .read
                    } catch is CancellationError {
                        return .stopped
                    } catch let error as TrawlError {
                        if objects.count > 1 {
                            objectLogger.error("\(error)", metadata: ["error.id": "\(error.code.id)"])
                        }
                        return .failed(error)
                    } catch {
                        outputsGaveUp.add()
                        return .gaveUp(error)
                    }
                }
            }
            for await outcome in group { outcomes.append(outcome) }
            return outcomes
        }
        if outcomes.contains(where: { if case .stopped = $0 { true } else { false } }) { throw CancellationError() }
        for case .gaveUp(let error) in outcomes { throw error }
        let failures = outcomes.compactMap { if case .failed(let error) = $0 { error } else { nil } }
        guard let first = failures.first else { return }
        if objects.count == 1 { throw first }
        throw ObjectsOfMessageFailed(failed: failures.count, objects: objects.count)
    }

    /// A stop leaves a message half read in the queue, and makes it visible again at once: the next start, or
    /// another instance, resumes it from the ledger instead of waiting out `sqs_visibility_timeout` (up to
    /// 12 hours). A failed message is not released: its visibility timeout spaces out its retries.
    private func release(
        _ message: SQSMessage,
        connection: Connection,
        counters: CycleCounters,
        logger: Logger
    ) async {
        do {
            counters.update { $0.statistics.requests += 1 }
            try await connection.sqs.changeVisibility(
                queueURL: connection.queueURL,
                receiptHandle: message.receiptHandle,
                timeout: 0,
                logger: logger
            )
            logger.info(
                "Stopping: message \(message.messageID) is left in the queue, visible again now; what was delivered of it is in the ledger"
            )
        } catch {
            logger.info(
                "Stopping: message \(message.messageID) is left in the queue, visible again once its visibility timeout ends (making it visible now failed: \(error)); what was delivered of it is in the ledger"
            )
        }
    }

    private func reportPoison(_ message: SQSMessage, reason: String, connection: Connection, logger: Logger) {
        let receives = message.approximateReceiveCount ?? 1
        let error = TrawlError(
            .notificationUnrecognised,
            "message \(message.messageID) (received \(receives) time(s)) is not an S3 notification: \(reason); its body starts with \(String(message.body.prefix(120)).debugDescription)",
            location: connection.queueARN
        )
        logger.error("\(error)", metadata: ["error.id": "\(error.code.id)"])
        if receives >= self.settings.poisonReceiveCount {
            logger.warning(
                "Message \(message.messageID) was received \(receives) times and is still not a notification: Trawl never deletes it; the queue's redrive policy should move it to its dead-letter queue"
            )
        }
    }

    /// Deletes a message whose objects were all delivered, unless `ack_messages` is false.
    private func acknowledge(
        _ message: SQSMessage,
        connection: Connection,
        counters: CycleCounters,
        logger: Logger
    ) async throws -> MessageOutcome {
        guard self.settings.ackMessages else {
            logger.debug("ack_messages is false: message \(message.messageID) stays in the queue")
            return .kept
        }
        counters.update { $0.statistics.requests += 1 }
        let outcome: SQSDeleteOutcome
        do {
            outcome = try await connection.sqs.deleteMessages(
                queueURL: connection.queueURL,
                receiptHandles: [message.receiptHandle],
                logger: logger
            )
        } catch let error as TrawlError {
            logger.error(
                "Message \(message.messageID) was delivered but could not be deleted; when it comes back the ledger skips its objects: \(error)",
                metadata: ["error.id": "\(error.code.id)"]
            )
            return .notDeleted
        }
        if let failure = outcome.failed.first {
            logger.warning(
                "Message \(message.messageID) was delivered but could not be deleted (\(failure.code): \(failure.message)); when it comes back the ledger skips its objects"
            )
            return .notDeleted
        }
        logger.info("Acked message \(message.messageID)")
        return .deleted
    }

    /// Runs `body` while extending the message's visibility every `sqs_visibility_heartbeat_in_seconds`.
    private func keepingInvisible(
        _ message: SQSMessage,
        connection: Connection,
        counters: CycleCounters,
        logger: Logger,
        _ body: () async throws -> Void
    ) async throws {
        let settings = self.settings
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                while true {
                    do {
                        try await Task.sleep(for: .seconds(settings.visibilityHeartbeat))
                    } catch {
                        return
                    }
                    do {
                        counters.update { $0.statistics.requests += 1 }
                        try await connection.sqs.changeVisibility(
                            queueURL: connection.queueURL,
                            receiptHandle: message.receiptHandle,
                            timeout: settings.visibilityTimeout,
                            logger: logger
                        )
                        counters.visibilityExtended()
                        logger.info(
                            "Extended the visibility of message \(message.messageID) to \(settings.visibilityTimeout) seconds: its objects are still being processed"
                        )
                    } catch is CancellationError {
                        return
                    } catch {
                        logger.warning("Could not extend the visibility of message \(message.messageID): \(error)")
                    }
                }
            }
            defer { group.cancelAll() }
            try await body()
        }
    }

    /// Reads one object and publishes its events in commits of `records_per_commit`, recording each
    /// delivered commit in the ledger. Also used by ``S3BackfillSource`` for objects it lists. One reader
    /// at a time per object, among all processes sharing the state store: another message naming it waits,
    /// then finds it delivered.
    func read(
        _ notified: S3ObjectReference,
        s3: S3Client,
        counters: CycleCounters,
        context: PullContext,
        logger: Logger
    ) async throws {
        try await self.ledger.reading(notified, logger: logger) {
            try await self.readAlone(notified, s3: s3, counters: counters, context: context, logger: logger)
        }
    }

    private func readAlone(
        _ notified: S3ObjectReference,
        s3: S3Client,
        counters: CycleCounters,
        context: PullContext,
        logger: Logger
    ) async throws {
        /// The ledger's entry for `identity`, or nil after counting and logging it as skipped when the
        /// whole object was delivered before.
        func entryIfNotDelivered(
            _ identity: String,
            of object: S3ObjectReference
        ) async throws
            -> S3ObjectLedger.Entry??
        {
            let entry = try await self.ledger.entry(identity)
            guard let entry, entry.complete else { return .some(entry) }
            counters.update { $0.statistics.duplicatesFilteredOut += Int(entry.delivered) }
            logger.info("\(object) was already delivered (\(entry.delivered) events): skipping it")
            do {
                try await self.ledger.keepRemembering(identity, entry)
            } catch {
                logger.warning(
                    "\(object) was already delivered, but the ledger could not note that its notification came again, so it may forget the object while the notification can still come back: \(error)"
                )
            }
            return nil
        }
        var object = notified
        var identity: String
        var entry: S3ObjectLedger.Entry?
        var stream: S3ObjectStream
        while true {
            guard self.configuration.reads(key: object.key) else {
                logger.debug("Skipping \(object): its key is excluded by include_keys/exclude_keys")
                return
            }
            guard !S3ObjectSummary.isFolderMarker(key: object.key, size: object.size) else {
                logger.debug("Skipping \(object): a zero-byte key ending in / is a console's folder marker, not data")
                return
            }
            identity = S3ObjectLedger.identity(of: object, eTag: nil)
            guard let found = try await entryIfNotDelivered(identity, of: object) else { return }
            entry = found
            counters.update { $0.statistics.requests += 1 }
            do {
                stream = try await s3.inRegion(object.region).getObject(
                    bucket: object.bucket,
                    key: object.key,
                    logger: logger
                )
                break
            } catch let error as TrawlError where (error.underlying as? AWSServiceError)?.isMissingObject == true {
                if let alternate = object.alternateKey {
                    logger.info(
                        "\(object) does not exist: reading the key decoded, \(alternate) (an EventBridge event does not say whether its key is URL-encoded)"
                    )
                    object.key = alternate
                    object.alternateKey = nil
                    continue
                }
                // S3 reads its own writes: an object a notification named and S3 does not have was deleted
                // since. In a versioned bucket a delete marker hides the key, and the version is still there.
                if let announced = object.versionID,
                    let versioned = try await Self.version(announced, of: object, s3: s3, logger: logger)
                {
                    stream = versioned
                    break
                }
                counters.objectChangedBeforeRead(writtenAgain: false)
                logger.warning(
                    "\(object) was deleted before it could be read (S3 answers \((error.underlying as? AWSServiceError)?.code ?? "404")): nothing is left to deliver of it. Objects of a log bucket are not expected to go away: CloudTrail's data events name who deleted it",
                    metadata: ["s3.bucket": "\(object.bucket)", "s3.key": "\(object.key)"]
                )
                return
            }
        }
        // The key may have been written again since the notification (or listing) named it. The ledger
        // names what is read, never content under another version's or ETag's name: that would skip the
        // newer content when its own notification comes, or deliver it twice.
        if let announced = object.versionID, stream.info.versionID != announced {
            counters.objectChangedBeforeRead(writtenAgain: true)
            logger.info(
                "\(object) was written again since it was announced: reading version \(announced), which is no longer the current one",
                metadata: ["s3.version": "\(announced)"]
            )
            guard let versioned = try await Self.version(announced, of: object, s3: s3, logger: logger) else {
                counters.objectChangedBeforeRead(writtenAgain: false)
                logger.warning(
                    "Version \(announced) of \(object) was deleted before it could be read: nothing is left to deliver of it"
                )
                return
            }
            stream = versioned
        } else if object.versionID == nil, let version = stream.info.versionID {
            // A versioned bucket's notifications name the version: so does the ledger, whatever named the
            // object here (a listing gives only its ETag).
            object.versionID = version
            identity = S3ObjectLedger.identity(of: object, eTag: nil)
            guard let fresh = try await entryIfNotDelivered(identity, of: object) else { return }
            entry = fresh
        } else if object.versionID == nil, let current = stream.info.eTag.map(S3ObjectLedger.unquoted),
            object.eTag.map(S3ObjectLedger.unquoted) != current
        {
            // Without versions, what the key held when it was announced is gone: its current content is read
            // under its own ETag, which the later write's notification then finds delivered.
            if let announced = object.eTag {
                counters.objectChangedBeforeRead(writtenAgain: true)
                logger.info(
                    "\(object) was written again since it was announced (ETag \(S3ObjectLedger.unquoted(announced)), now \(current)): reading what it holds now"
                )
            }
            object.eTag = current
            identity = S3ObjectLedger.identity(of: object, eTag: nil)
            guard let fresh = try await entryIfNotDelivered(identity, of: object) else { return }
            entry = fresh
        }
        var reader = ObjectReader(
            setup: self.configuration.readerSetup(ledger: self.ledger),
            key: object.key,
            unit: "s3://\(identity)",
            identity: identity,
            alreadyDelivered: entry?.delivered ?? 0,
            counters: counters,
            context: context,
            logger: logger
        )
        let summary = try await reader.read(stream)
        if self.settings.compressedEvents, !summary.compressed {
            logger.warning("compressed_events is true but \(object) is not compressed: it was read as is")
        }
        logger.debug("Read \(object) (\(summary.layout)): \(reader.index) records, \(summary.bytes) bytes")
    }

    /// Starts reading `version` of `object`; nil when S3 has no such version (it was deleted for good).
    private static func version(
        _ version: String,
        of object: S3ObjectReference,
        s3: S3Client,
        logger: Logger
    ) async throws -> S3ObjectStream? {
        do {
            return try await s3.inRegion(object.region).getObject(
                bucket: object.bucket,
                key: object.key,
                versionID: version,
                logger: logger
            )
        } catch let error as TrawlError where (error.underlying as? AWSServiceError)?.isMissingObject == true {
            return nil
        } catch let error as TrawlError where (error.underlying as? AWSServiceError)?.status == 403 {
            logger.warning(
                "Reading version \(version) of \(object) was refused: a version other than the current one needs s3:GetObjectVersion besides s3:GetObject. The message stays in the queue until it is granted"
            )
            throw error
        }
    }

    /// What `debug_md5` sends about a message once its objects were delivered: enough to tell in Devo
    /// whether a duplicate came from SQS delivering the same message twice (same id, a higher receive
    /// count) or from two messages naming one object.
    private struct MessageDebugRecord: Encodable {
        struct Object: Encodable {
            var bucket: String
            var key: String
        }
        var messageID: String
        var md5: String
        var receiveCount: Int
        /// When the message was sent to the queue, milliseconds since the epoch (SQS's SentTimestamp).
        var sentTimestamp: Int64?
        var objects: [Object]

        enum CodingKeys: String, CodingKey {
            case messageID = "message_id"
            case md5
            case receiveCount = "receive_count"
            case sentTimestamp = "sent_timestamp"
            case objects
        }
    }

    /// Sends the message's MD5, receive count, sending time and objects to `my.app.sqs.message_body` (the
    /// seeds' `debug_md5`).
    private func publishMD5(
        of message: SQSMessage,
        objects: [S3ObjectReference],
        context: PullContext
    ) async throws {
        let record = MessageDebugRecord(
            messageID: message.messageID,
            md5: hexString(Insecure.MD5.hash(data: Array(message.body.utf8))),
            receiveCount: message.approximateReceiveCount ?? 1,
            sentTimestamp: message.attributes["SentTimestamp"].flatMap { Int64($0) },
            objects: objects.map { MessageDebugRecord.Object(bucket: $0.bucket, key: $0.key) }
        )
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let body = ByteBuffer(bytes: try encoder.encode(record))
        let acknowledgement = Acknowledgement(unit: "sqs message \(message.messageID)")
        try await context.dispatcher.publish(
            [
                Event(
                    tag: "my.app.sqs.message_body",
                    body: body,
                    metadata: EventMetadata(
                        source: self.configuration.name,
                        unit: "sqs message \(message.messageID)",
                        offset: 0,
                        pullingID: context.pullingID
                    )
                )
            ],
            acknowledgement: acknowledgement
        )
        acknowledgement.seal()
        try await acknowledgement.delivered()
    }
}

/// Some of a message's objects failed, each logged as it did; the others were read.
struct ObjectsOfMessageFailed: Error {
    var failed: Int
    var objects: Int
}
