import ArgumentParser
import Logging
import TrawlCore
import TrawlSources

/// `trawl backfill`: the objects already in S3 under some prefixes, read by a configured S3+SQS service and
/// delivered to the configured outputs.
struct BackfillCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backfill",
        abstract: "Read the objects already in S3 under some prefixes as a configured S3+SQS service would.",
        discussion: helpParagraphs(
            """
            Lists each s3://bucket/prefix and reads every object the service's include_keys/exclude_keys
            keep (and, with --since/--until, last modified in that window) through the service's
            decompression, processor and tagging, to every configured output: for the history before the
            bucket's notifications were set up, or objects whose notifications were lost. The service's
            ledger is shared with trawl run: an object it already delivered is skipped, as is one delivered
            here when its notification arrives later; run the same command again after a stop or a failure
            and it resumes, delivering nothing twice. Credentials, region and endpoints are the service's; a
            bucket in another region is read there.
            Exits 1 when an object could not be read or another error was logged.

            Examples:
              trawl backfill -c config.yaml --service cloudtrail s3://org-trail/AWSLogs/
              trawl backfill -c config.yaml --service s1/cloud_funnel --since 2026-11-01 \\
                  s3://s1-dv/
            """
        )
    )

    @Option(name: [.short, .long], help: "The configuration file (YAML or JSON).")
    var config: String

    @Option(help: "The S3+SQS service whose processing and ledger to use: <input>/<service>, or <service> when unique.")
    var service: String

    @Option(help: "Only objects last modified at or after this UTC date or time (2026-11-01, 2026-11-01T06:00:00Z).")
    var since: String?

    @Option(help: "Only objects last modified before this UTC date or time.")
    var until: String?

    @Option(help: "The buckets' region (default: the service's; a bucket elsewhere is found from S3's first answer).")
    var region: String?

    @Option(help: "Objects read at once (default: the service's concurrency).")
    var concurrency: Int?

    @Flag(
        help:
            "Only count the objects to read and their stored size, and those already delivered; read and deliver nothing."
    )
    var dryRun = false

    @Argument(help: "Where the objects are: s3://bucket/prefix (the whole bucket without a prefix).")
    var locations: [String]

    func validate() throws {
        for location in self.locations where S3BackfillSource.Location(url: location) == nil {
            throw ValidationError("\(location) is not s3://bucket/prefix with a valid bucket name.")
        }
        for (option, value) in [("--since", self.since), ("--until", self.until)] {
            if let value, parseUTCDatetime(value) == nil {
                throw ValidationError(
                    "\(option) \(value) is not a UTC date (2026-11-01) or time (2026-11-01T06:00:00Z)."
                )
            }
        }
        if let since = self.since.flatMap(parseUTCDatetime), let until = self.until.flatMap(parseUTCDatetime),
            !(since < until)
        {
            throw ValidationError("--since \(self.since ?? "") is not before --until \(self.until ?? "").")
        }
        if let region = self.region, !isRegion(region) {
            throw ValidationError("--region \(region) is not an AWS region such as us-east-1.")
        }
        if let concurrency = self.concurrency, !(1...256).contains(concurrency) {
            throw ValidationError("--concurrency must be between 1 and 256, not \(concurrency).")
        }
    }

    func run() async throws {
        var plan = try loadPlan(self.config)
        let (planned, makeObjectSource) = try objectService(
            self.service,
            in: plan,
            \.makeObjectSource,
            toDo: "backfill"
        )
        let locations = self.locations.compactMap(S3BackfillSource.Location.init(url:))
        let (since, until) = (self.since.flatMap(parseUTCDatetime), self.until.flatMap(parseUTCDatetime))
        let (region, concurrency, dryRun) = (self.region, self.concurrency, self.dryRun)
        let failures = ObjectFailureCount()
        var backfill = planned
        backfill.makeSource = { store, key, logger in
            S3BackfillSource(
                objects: makeObjectSource(store, key, logger, .collecting),
                locations: locations,
                modifiedSince: since,
                modifiedBefore: until,
                region: region,
                concurrency: concurrency,
                dryRun: dryRun,
                failures: failures
            )
        }
        plan.services = [backfill]
        let (logger, errors) = bootstrapLogging(plan)
        logger.info(
            "Trawl \(TrawlVersion.current) \(dryRun ? "counting (dry run)" : "backfilling") \(locations.map(\.description).joined(separator: ", ")) through \(planned.input)/\(planned.service) to \(plan.outputs.count) output(s)"
        )
        try await execute(plan, once: true, logger: logger)
        guard failures.value == 0 else {
            logger.error(
                "\(failures.value) object(s) or listing(s) failed; run the same command again to retry them (what was delivered is skipped)"
            )
            throw ExitCode(1)
        }
        try exitIfErrorsWereLogged(errors, logger: logger)
        logger.info("Trawl stopped")
    }
}
