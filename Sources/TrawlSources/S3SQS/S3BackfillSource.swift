import Logging
import TrawlAWS
import TrawlCore

/// `trawl backfill`: reads the objects already in S3 under some prefixes through an S3+SQS service's
/// processing, as if its queue had announced each one. Notifications only announce objects written after
/// they were set up; history (the CloudTrail of the months before onboarding) and objects whose
/// notifications were lost are read this way.
///
/// The service's ledger is shared: an object the service already delivered from a notification is skipped
/// here, one delivered here is skipped when its notification arrives, and a backfill stopped midway (a crash,
/// Ctrl-C) resumes where it was when run again, a large object after the records already delivered. Listing
/// goes page by page, so a prefix of millions of objects is never held in memory.
public struct S3BackfillSource: PullingSource {
    /// `s3://bucket/prefix`: every object whose key starts with the prefix (all of the bucket without one).
    public struct Location: Sendable, Hashable, CustomStringConvertible {
        public var bucket: String
        public var prefix: String

        /// Nil when `url` is no `s3://` URL or names no valid bucket.
        public init?(url: String) {
            guard url.hasPrefix("s3://") else { return nil }
            let path = url.dropFirst("s3://".count)
            let bucket = String(path.prefix { $0 != "/" })
            guard (try? S3Notification.checkBucketName(bucket)) != nil else { return nil }
            self.bucket = bucket
            // Everything after the "/" that ends the bucket: a key may itself start with "/".
            self.prefix = String(path.dropFirst(bucket.count).dropFirst())
        }

        public var description: String { "s3://\(self.bucket)/\(self.prefix)" }
    }

    /// The service whose settings, processing and ledger the backfill uses.
    public let objects: SQSObjectSource
    public let locations: [Location]
    /// Only objects last modified at or after this.
    public let modifiedSince: UTCTimestamp?
    /// Only objects last modified before this.
    public let modifiedBefore: UTCTimestamp?
    /// The buckets' region when it is not the service's.
    public let region: String?
    /// Objects read at once.
    public let concurrency: Int
    /// Keys listed per request (S3 answers at most 1,000); progress is logged after each page.
    public let pageSize: Int
    /// Only count what would be read (objects, their stored size, those the ledger has as delivered), to
    /// size a backfill before it lands in a SIEM licensed by volume; nothing is read or delivered.
    public let dryRun: Bool
    /// Objects that could not be read, so the command can exit with an error.
    public let failures: ObjectFailureCount

    /// - Parameter concurrency: objects read at once; the service's `concurrency` when nil.
    public init(
        objects: SQSObjectSource,
        locations: [Location],
        modifiedSince: UTCTimestamp? = nil,
        modifiedBefore: UTCTimestamp? = nil,
        region: String? = nil,
        concurrency: Int? = nil,
        pageSize: Int = 1_000,
        dryRun: Bool = false,
        failures: ObjectFailureCount = ObjectFailureCount()
    ) {
        self.pageSize = pageSize
        self.dryRun = dryRun
        self.objects = objects
        self.failures = failures
        self.locations = locations
        self.modifiedSince = modifiedSince
        self.modifiedBefore = modifiedBefore
        self.region = region
        self.concurrency = max(1, concurrency ?? objects.settings.concurrency)
    }

    public func withResources(_ body: () async throws -> Void) async throws {
        try await self.objects.withResources(body)
    }

    public func pull(_ context: PullContext) async throws -> PullCycleStatistics {
        let service = try self.objects.objectAccess().s3.inRegion(self.region)
        let counters = CycleCounters(metrics: context.metrics)
        let archived = ObjectFailureCount()
        try await withThrowingTaskGroup(of: Void.self) { group in
            var running = 0
            for location in self.locations {
                var (listed, excluded, outside) = (0, 0, 0)
                // Dry run: objects the ledger has as delivered, and the stored size of the others.
                var (delivered, storedBytes, inArchive): (Int, Int64, Int) = (0, 0, 0)
                var s3 = service
                var token: String?
                var tokens: Set<String> = []
                var pages = 0
                var firstPage = true
                var listingFailed = false
                var listingStopped = false
                while firstPage || token != nil {
                    if context.isShuttingDown {
                        listingStopped = true
                        break
                    }
                    counters.update { $0.statistics.requests += 1 }
                    let page: S3ObjectListing
                    do {
                        // A listing holds no work yet: a stop cuts it (and its retries) short, while the objects
                        // already being read finish their commits.
                        page = try await context.cancellingOnStop { [s3, token, pageSize = self.pageSize] in
                            try await s3.listObjects(
                                bucket: location.bucket,
                                prefix: location.prefix,
                                continuationToken: token,
                                maxKeys: pageSize,
                                logger: context.logger
                            )
                        }
                    } catch is CancellationError where context.isShuttingDown {
                        listingStopped = true
                        break
                    } catch let error as TrawlError {
                        if firstPage, let moved = Self.client(s3, forBucketOf: error) {
                            context.logger.info(
                                "\(location.bucket) is in \(moved.region), not \(s3.region): listing and reading it there"
                            )
                            s3 = moved
                            continue
                        }
                        // The other locations go on; what this one listed is still read.
                        self.failures.add()
                        context.logger.error("\(error)", metadata: ["error.id": "\(error.code.id)"])
                        listingFailed = true
                        break
                    }
                    firstPage = false
                    for summary in page.objects {
                        if summary.isFolderMarker { continue }
                        listed += 1
                        guard self.objects.configuration.reads(key: summary.key) else {
                            excluded += 1
                            continue
                        }
                        guard self.isInWindow(summary.lastModified) else {
                            outside += 1
                            continue
                        }
                        let object = S3ObjectReference(
                            bucket: location.bucket,
                            key: summary.key,
                            size: summary.size,
                            eTag: summary.eTag
                        )
                        if self.dryRun {
                            // By its ETag: in a versioned bucket the ledger names objects by version, so
                            // those delivered from notifications count as still to read.
                            let identity = S3ObjectLedger.identity(of: object, eTag: nil)
                            if try await self.objects.ledger.entry(identity)?.complete == true {
                                delivered += 1
                            } else {
                                storedBytes += summary.size
                                if summary.isArchived { inArchive += 1 }
                            }
                            continue
                        }
                        if running >= self.concurrency {
                            try await group.next()
                            running -= 1
                        }
                        running += 1
                        let reader = s3
                        group.addTask {
                            try await self.backfill(
                                object,
                                s3: reader,
                                counters: counters,
                                archived: archived,
                                context: context
                            )
                        }
                    }
                    pages += 1
                    token = page.nextContinuationToken
                    if let repeated = token, !tokens.insert(repeated).inserted {
                        // Followed, the same pages would be listed (and their objects skipped) without end.
                        let error = TrawlError(
                            .awsClientException,
                            "AWS request client encountered an exception: S3 ListObjectsV2 page \(pages) gave the continuation token \(String(repeated.prefix(80)).debugDescription) that an earlier page gave: the listing loops, so it stops here",
                            location: "\(location)"
                        )
                        self.failures.add()
                        context.logger.error("\(error)", metadata: ["error.id": "\(error.code.id)"])
                        listingFailed = true
                        break
                    }
                    if token != nil {
                        let read = self.dryRun ? "" : "; \(counters.read { $0.messagesDone }) object(s) read in all"
                        context.logger.info(
                            "(Partial) Backfill of \(location): \(listed) object(s) listed so far\(read)"
                        )
                        if !self.dryRun { SQSObjectSource.logPartial(counters, context: context) }
                    }
                }
                let skipped =
                    "\(excluded) excluded by include_keys/exclude_keys, \(outside) last modified outside --since/--until"
                let counts = "\(listed - excluded - outside) to read, \(skipped)"
                if self.dryRun {
                    let mebibytes = formatFixed(Double(storedBytes) / 1_048_576, decimals: 1)
                    let archive =
                        inArchive == 0
                        ? "" : ", \(inArchive) of them in GLACIER or DEEP_ARCHIVE (readable only once restored)"
                    context.logger.info(
                        "Dry run: \(location) holds \(listed - excluded - outside - delivered) object(s) to read (\(storedBytes) bytes as stored, \(mebibytes) MiB)\(archive), \(delivered) already delivered, \(skipped); nothing was read\(listingFailed ? " (its listing failed: these are the counts of what was listed)" : "")"
                    )
                } else if listingFailed || listingStopped {
                    let why = listingFailed ? "its listing failed" : "Trawl was asked to stop"
                    context.logger.warning(
                        "Listed \(listed) object(s) under \(location) before \(why) (\(counts)); run the command again for the rest"
                    )
                } else {
                    context.logger.info("Listed \(listed) object(s) under \(location): \(counts)")
                }
            }
            try await group.waitForAll()
        }
        let notRestored = archived.value
        if notRestored > 0 {
            context.logger.warning(
                "\(notRestored) object(s) are archived (ApiError 431) and were not read: restore them (aws s3api restore-object) and run the same command again; what was read is skipped then"
            )
        }
        context.logger.info("Number of messages per tag sent: \(counters.read { $0.perTagSummary })")
        return counters.read { $0.statistics }
    }

    /// The client for the bucket's own region when S3 answered `error` because the request went to another
    /// one (it names the bucket's region); nil otherwise, and when an endpoint was given (it serves what it
    /// serves).
    static func client(_ s3: S3Client, forBucketOf error: TrawlError) -> S3Client? {
        guard let region = (error.underlying as? AWSServiceError)?.bucketRegion, isRegion(region), region != s3.region
        else {
            return nil
        }
        let moved = s3.inRegion(region)
        return moved.region == region ? moved : nil
    }

    private func isInWindow(_ modified: UTCTimestamp?) -> Bool {
        guard self.modifiedSince != nil || self.modifiedBefore != nil else { return true }
        guard let modified else { return false }
        if let since = self.modifiedSince, modified < since { return false }
        if let before = self.modifiedBefore, !(modified < before) { return false }
        return true
    }

    /// Reads one object through the service's processing and ledger; a failure is logged and counted in
    /// ``failures``, and the other objects go on. Archived objects are counted in `archived` too; the first
    /// is logged with the whole ApiError (its fix), the others in a line each, so which to restore is known.
    private func backfill(
        _ object: S3ObjectReference,
        s3: S3Client,
        counters: CycleCounters,
        archived: ObjectFailureCount,
        context: PullContext
    ) async throws {
        var logger = context.logger
        logger[metadataKey: "s3.bucket"] = "\(object.bucket)"
        logger[metadataKey: "s3.key"] = "\(object.key)"
        defer { counters.update { $0.messagesDone += 1 } }
        do {
            try await self.objects.read(object, s3: s3, counters: counters, context: context, logger: logger)
        } catch let error as TrawlError where error.code == .awsObjectArchived {
            self.failures.add()
            if archived.add() == 0 {
                logger.error("\(error)", metadata: ["error.id": "\(error.code.id)"])
            } else {
                logger.warning("\(object) is archived and was not read (ApiError 431)")
            }
        } catch let error as TrawlError {
            self.failures.add()
            logger.error("\(error)", metadata: ["error.id": "\(error.code.id)"])
        } catch let error as AcknowledgementRejected {
            self.failures.add()
            logger.error("\(object) is left to backfill again: an output gave up on \(error.unit): \(error.message)")
        }
    }
}
