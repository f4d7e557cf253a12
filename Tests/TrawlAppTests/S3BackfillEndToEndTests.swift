import Foundation
import Testing
import TrawlTesting

/// `trawl backfill` against moto: what is already in a bucket, read through a configured service and its
/// ledger, which `trawl run` shares.
@Suite struct S3BackfillEndToEndTests {
    static func records(_ names: Range<Int>) -> [String] {
        names.map { #"{"eventVersion":"1.08","eventName":"Call\#($0)","awsRegion":"us-east-1"}"# }
    }

    static func cloudTrail(_ records: [String]) -> String { "{\"Records\":[\(records.joined(separator: ","))]}" }

    static func trawl(_ arguments: [String], in directory: TemporaryDirectory) async throws -> (Int32, String) {
        let (status, output, log) = try await BuiltExecutable.run(
            "trawl",
            arguments: arguments,
            workingDirectory: directory.path
        )
        return (status, output + log)
    }

    /// A bucket (and queue) with a configuration in `directory` whose `trail/cloudtrail` service follows it.
    static func configuredTrail(
        in directory: TemporaryDirectory,
        notify: Bool = false,
        versioned: Bool = false
    ) async throws -> MotoBucketQueue {
        let trail = try await MotoBucketQueue.make(notify: notify, versioned: versioned)
        try directory.write(
            "config.yaml",
            S3CollectorsEndToEndTests.configuration([("trail", "aws_sqs", "cloudtrail", trail.serviceSettings)])
        )
        return trail
    }

    static func delivered(_ directory: TemporaryDirectory) -> [String] {
        (directory.read("out.log") ?? "").split(separator: "\n").map(String.init)
    }

    /// In a versioned bucket too: AWS's notifications name each object by its version, the listing by its
    /// ETag only, and the backfill keys the ledger by the version the object's GET answers.
    @Test(arguments: [false, true])
    func aBackfillDeliversWhatIsInTheBucketOnceAndTheNotificationsFindItDelivered(versioned: Bool) async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let trail = try await Self.configuredTrail(in: directory, versioned: versioned)
        let prefix = "AWSLogs/123456789012/CloudTrail/us-east-1/2026/11/23"
        let put = try await trail.put([
            ["key": "\(prefix)/a.json.gz", "text": Self.cloudTrail(Self.records(0..<2)), "compression": "gzip"],
            ["key": "\(prefix)/b.json.gz", "text": Self.cloudTrail(Self.records(2..<5)), "compression": "zstd"],
            [
                "key": "AWSLogs/123456789012/CloudTrail-Digest/us-east-1/2026/11/23/d.json.gz", "text": "{}",
                "compression": "gzip",
            ],
            ["key": "elsewhere/c.json.gz", "text": Self.cloudTrail(Self.records(5..<6)), "compression": "gzip"],
        ])
        let backfill = [
            "backfill", "--config", "config.yaml", "--service", "cloudtrail", "s3://\(trail.bucket)/AWSLogs/",
        ]

        let (first, firstLog) = try await Self.trawl(backfill, in: directory)
        #expect(first == 0, "\(firstLog)")
        #expect(
            firstLog.contains(
                "Listed 3 object(s) under s3://\(trail.bucket)/AWSLogs/: 2 to read, 1 excluded by include_keys/exclude_keys, 0 last modified outside --since/--until"
            ),
            "\(firstLog)"
        )
        let expected = Self.records(0..<5).map { "<14>Jan  1 00:00:00 vm cloud.aws.cloudtrail.events: \($0)" }
        #expect(Self.delivered(directory).sorted() == expected.sorted())

        let (second, secondLog) = try await Self.trawl(backfill, in: directory)
        #expect(second == 0, "\(secondLog)")
        #expect(secondLog.components(separatedBy: "was already delivered").count == 3, "\(secondLog)")
        #expect(Self.delivered(directory).count == 5)

        // The bucket's notifications, as AWS sends them: the backfilled objects are skipped as delivered, the
        // object outside the backfilled prefix is read.
        try await trail.send(put.sorted { $0.key < $1.key }.map { trail.notification($0.key, $0.value) })
        let (run, runLog) = try await Self.trawl(["run", "--once", "--config", "config.yaml"], in: directory)
        #expect(run == 0, "\(runLog)")
        #expect(runLog.contains("Number of duplicated events filtered out: 5"), "\(runLog)")
        #expect(
            Self.delivered(directory).sorted()
                == (expected + ["<14>Jan  1 00:00:00 vm cloud.aws.cloudtrail.events: \(Self.records(5..<6)[0])"])
                .sorted()
        )
        #expect(try await trail.messagesLeft() == 0)
    }

    /// Old CloudTrail often sits in Glacier by lifecycle rule: those objects are counted by the dry run, named
    /// when the backfill cannot read them (with the ApiError's fix once), and the rest is delivered.
    @Test func archivedObjectsAreCountedAndNamedAndTheRestIsDelivered() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let trail = try await Self.configuredTrail(in: directory)
        let prefix = "AWSLogs/1/CloudTrail"
        try await trail.put([
            ["key": "\(prefix)/a.json.gz", "text": Self.cloudTrail(Self.records(0..<2)), "compression": "gzip"],
            [
                "key": "\(prefix)/old1.json.gz", "text": Self.cloudTrail(Self.records(2..<3)), "compression": "gzip",
                "storage_class": "GLACIER",
            ],
            [
                "key": "\(prefix)/old2.json.gz", "text": Self.cloudTrail(Self.records(3..<4)), "compression": "gzip",
                "storage_class": "DEEP_ARCHIVE",
            ],
        ])
        let backfill = [
            "backfill", "--config", "config.yaml", "--service", "cloudtrail", "s3://\(trail.bucket)/AWSLogs/",
        ]
        let (dry, dryLog) = try await Self.trawl(backfill + ["--dry-run"], in: directory)
        #expect(dry == 0, "\(dryLog)")
        #expect(dryLog.contains("2 of them in GLACIER or DEEP_ARCHIVE (readable only once restored)"), "\(dryLog)")

        let (status, log) = try await Self.trawl(backfill, in: directory)
        #expect(status == 1, "\(log)")
        #expect(log.components(separatedBy: "ApiError 431").count == 4, "\(log)")
        #expect(log.components(separatedBy: "AWS S3 object is archived and must be restored").count == 2, "\(log)")
        #expect(log.contains("is archived and was not read (ApiError 431)"), "\(log)")
        #expect(log.contains("2 object(s) are archived (ApiError 431) and were not read"), "\(log)")
        #expect(Self.delivered(directory).count == 2)
    }

    @Test func onlyObjectsLastModifiedInTheWindowAreRead() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let trail = try await Self.configuredTrail(in: directory)
        try await trail.put([
            [
                "key": "AWSLogs/1/CloudTrail/a.json.gz", "text": Self.cloudTrail(Self.records(0..<2)),
                "compression": "gzip",
            ]
        ])
        let location = "s3://\(trail.bucket)"
        let base = ["backfill", "--config", "config.yaml", "--service", "trail/cloudtrail"]
        let (later, laterLog) = try await Self.trawl(base + ["--since", "2999-01-01", location], in: directory)
        #expect(later == 0, "\(laterLog)")
        #expect(laterLog.contains("0 to read, 0 excluded by include_keys/exclude_keys, 1 last modified outside"))
        #expect(Self.delivered(directory).isEmpty)
        let (now, nowLog) = try await Self.trawl(
            base + ["--since", "2026-01-01", "--until", "2999-01-01", location],
            in: directory
        )
        #expect(now == 0, "\(nowLog)")
        #expect(Self.delivered(directory).count == 2)
    }

    @Test func aDryRunCountsWhatABackfillWouldReadAndReadsNothing() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let trail = try await Self.configuredTrail(in: directory)
        let put = try await trail.put([
            [
                "key": "AWSLogs/1/CloudTrail/a.json.gz", "text": Self.cloudTrail(Self.records(0..<2)),
                "compression": "gzip",
            ],
            [
                "key": "AWSLogs/1/CloudTrail/b.json.gz", "text": Self.cloudTrail(Self.records(2..<4)),
                "compression": "gzip",
            ],
        ])
        let stored = put.values.map(\.size).reduce(0, +)
        let location = "s3://\(trail.bucket)/AWSLogs/"
        let backfill = ["backfill", "--config", "config.yaml", "--service", "cloudtrail"]
        let (before, beforeLog) = try await Self.trawl(backfill + ["--dry-run", location], in: directory)
        #expect(before == 0, "\(beforeLog)")
        #expect(
            beforeLog.contains(
                "Dry run: \(location) holds 2 object(s) to read (\(stored) bytes as stored, 0.0 MiB), 0 already delivered"
            ),
            "\(beforeLog)"
        )
        #expect(Self.delivered(directory).isEmpty)
        let (real, realLog) = try await Self.trawl(backfill + [location], in: directory)
        #expect(real == 0, "\(realLog)")
        #expect(Self.delivered(directory).count == 4)
        let (after, afterLog) = try await Self.trawl(backfill + ["--dry-run", location], in: directory)
        #expect(after == 0, "\(afterLog)")
        #expect(afterLog.contains("holds 0 object(s) to read (0 bytes as stored, 0.0 MiB), 2 already delivered"))
        #expect(Self.delivered(directory).count == 4)
    }

    /// An interrupted backfill whose listing cannot reach S3 waited for its retries until the 30 s shutdown
    /// timeout; it stops at once and says what is left.
    @Test func aStopWhileListingCutsTheListingShortAndSaysToRunAgain() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let unreachable = "http://127.0.0.1:\(try PeerProcess.refusingPort())"
        let settings =
            "base_url: \"\(unreachable)/123456789012/q\", region: us-east-1, endpoint_url: \"\(unreachable)\""
        try directory.write(
            "config.yaml",
            S3CollectorsEndToEndTests.configuration([("trail", "aws_sqs", "cloudtrail", settings)])
        )
        let trawl = try BuiltExecutable(
            "trawl",
            arguments: ["backfill", "--config", "config.yaml", "--service", "cloudtrail", "s3://trail/AWSLogs/"],
            workingDirectory: directory.path
        )
        let listing = await eventually { trawl.standardError.contains("Starting data collection") }
        #expect(listing, "\(trawl.standardError)")
        try await Task.sleep(for: .milliseconds(500))
        let (_, took) = await trawl.stop(with: SIGINT)
        // Waiting for the retries would take the 30 s shutdown timeout from the signal: a bound just under it
        // tells that apart and leaves the rest to a machine loaded by the suite's start.
        #expect(took < .seconds(28), "the stop took \(took)")
        #expect(
            trawl.standardError.contains(
                "Listed 0 object(s) under s3://trail/AWSLogs/ before Trawl was asked to stop"
            ),
            "\(trawl.standardError)"
        )
    }

    @Test func aLocationThatIsNoS3URLOrAnUnknownServiceIsRefusedBeforeAnythingRuns() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let trail = try await Self.configuredTrail(in: directory)
        let (noURL, noURLLog) = try await Self.trawl(
            ["backfill", "--config", "config.yaml", "--service", "cloudtrail", "\(trail.bucket)/AWSLogs/"],
            in: directory
        )
        #expect(noURL != 0)
        #expect(noURLLog.contains("is not s3://bucket/prefix with a valid bucket name"), "\(noURLLog)")
        let (unknown, unknownLog) = try await Self.trawl(
            ["backfill", "--config", "config.yaml", "--service", "vpc_flow", "s3://\(trail.bucket)"],
            in: directory
        )
        #expect(unknown == 2)
        #expect(unknownLog.contains("services that can backfill: trail/cloudtrail"), "\(unknownLog)")
    }

    @Test func aMissingBucketIsAnApiErrorAndExitStatus1WhileTheOtherLocationsAreRead() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let trail = try await Self.configuredTrail(in: directory)
        try await trail.put([
            [
                "key": "AWSLogs/1/CloudTrail/a.json.gz", "text": Self.cloudTrail(Self.records(0..<3)),
                "compression": "gzip",
            ]
        ])
        let (status, log) = try await Self.trawl(
            [
                "backfill", "--config", "config.yaml", "--service", "cloudtrail",
                "s3://no-such-bucket-\(trail.bucket)/x/", "s3://\(trail.bucket)/AWSLogs/",
            ],
            in: directory
        )
        #expect(status == 1, "\(log)")
        #expect(log.contains("ApiError 430"), "\(log)")
        #expect(
            log.contains("Listed 0 object(s) under s3://no-such-bucket-\(trail.bucket)/x/ before its listing failed")
        )
        #expect(log.contains("1 object(s) or listing(s) failed; run the same command again"))
        #expect(Self.delivered(directory).count == 3)
    }
}
