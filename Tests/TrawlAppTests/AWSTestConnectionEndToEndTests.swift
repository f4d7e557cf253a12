import Foundation
import Testing
import TrawlTesting

/// `trawl aws test-connection` against moto: what an operator sees before the first pull.
@Suite struct AWSTestConnectionEndToEndTests {
    @Test func aReachableQueueAndReadableBucketPassAndAMissingDeadLetterQueueOrAShortLedgerIsAWarning() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let trail = try await S3BackfillEndToEndTests.configuredTrail(in: directory)
        let settings = trail.serviceSettings + ", ledger_retention_hours: 48"
        try directory.write(
            "config.yaml",
            S3CollectorsEndToEndTests.configuration([("trail", "aws_sqs", "cloudtrail", settings)])
        )
        try await trail.put([
            [
                "key": "AWSLogs/1/CloudTrail/a.json.gz",
                "text": S3BackfillEndToEndTests.cloudTrail(S3BackfillEndToEndTests.records(0..<2)),
                "compression": "gzip",
            ]
        ])
        try await trail.send(["{}"])
        let (status, output) = try await S3BackfillEndToEndTests.trawl(
            ["aws", "test-connection", "--config", "config.yaml", "s3://\(trail.bucket)/AWSLogs/"],
            in: directory
        )
        #expect(status == 0, "\(output)")
        #expect(output.contains("trail/cloudtrail:\n"), "\(output)")
        #expect(output.contains("  ok: SQS queue arn:aws:sqs:us-east-1:"), "\(output)")
        #expect(output.contains(": readable; 1 message(s) waiting, 0 in flight"), "\(output)")
        #expect(output.contains("  WARNING: SQS queue arn:aws:sqs:us-east-1:"), "\(output)")
        #expect(output.contains("no dead-letter queue"), "\(output)")
        #expect(
            output.contains(
                "  WARNING: The queue keeps messages for 96 hours (its MessageRetentionPeriod) but the ledger remembers delivered objects for 48 hours"
            ),
            "\(output)"
        )
        #expect(output.components(separatedBy: "(its MessageRetentionPeriod)").count == 2, "said once: \(output)")
        #expect(output.contains("  ok: s3://\(trail.bucket)/AWSLogs/: listable\n"), "\(output)")
        #expect(output.contains("  ok: s3://\(trail.bucket)/AWSLogs/1/CloudTrail/a.json.gz: readable\n"), "\(output)")
        // Nothing was received: the message is still waiting, never counted towards a dead-letter policy.
        #expect(try await trail.messagesLeft() == 1)
        #expect(!FileManager.default.fileExists(atPath: "\(directory.path)/out.log"))
    }

    @Test func aMissingQueueAMissingBucketAndAnArchivedObjectEachFailSayingWhatToCheck() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let trail = try await MotoBucketQueue.make(notify: false)
        try await trail.put([["key": "old/a.json", "text": "{}", "storage_class": "GLACIER"]])
        let settings = "queue_name: no-such-queue, region: us-east-1, endpoint_url: \"\(trail.moto.endpoint)\""
        try directory.write(
            "config.yaml",
            S3CollectorsEndToEndTests.configuration([("trail", "aws_sqs", "cloudtrail", settings)])
        )
        let (status, output) = try await S3BackfillEndToEndTests.trawl(
            [
                "aws", "test-connection", "--config", "config.yaml", "--service", "cloudtrail",
                "s3://no-such-bucket-trawl/AWSLogs/", "s3://\(trail.bucket)/old/",
            ],
            in: directory
        )
        #expect(status == 1, "\(output)")
        #expect(output.contains("  FAILED: SQS queue no-such-queue: NOT readable: ApiError 421"), "\(output)")
        #expect(
            output.contains("  FAILED: s3://no-such-bucket-trawl/AWSLogs/: NOT listable: ApiError 430"),
            "\(output)"
        )
        #expect(output.contains("  FAILED: s3://\(trail.bucket)/old/a.json: NOT readable: ApiError 431"), "\(output)")
        #expect(output.contains("Restore it (aws s3api restore-object"), "\(output)")
    }

    /// An endpoint nothing listens on took about 51 s to report: 5 attempts, each trying to connect again until
    /// the 10 s connect timeout. An operator checking a configuration waits for the answer, so a check says
    /// at once that the connection is refused.
    @Test func anUnreachableEndpointIsReportedWithinSecondsForTheQueueAndEachBucket() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let endpoint = "http://127.0.0.1:\(try PeerProcess.refusingPort())"
        let settings = "queue_name: trail, region: us-east-1, endpoint_url: \"\(endpoint)\""
        try directory.write(
            "config.yaml",
            S3CollectorsEndToEndTests.configuration([("trail", "aws_sqs", "cloudtrail", settings)])
        )
        let (status, output) = try await S3BackfillEndToEndTests.trawl(
            ["aws", "test-connection", "--config", "config.yaml", "s3://trail-bucket/AWSLogs/"],
            in: directory
        )
        #expect(status == 1, "\(output)")
        #expect(output.contains("  FAILED: SQS queue trail: NOT readable: ApiError 499"), "\(output)")
        #expect(output.contains("  FAILED: s3://trail-bucket/AWSLogs/: NOT listable: ApiError 499"), "\(output)")
        let failures = output.split(separator: "\n").filter { $0.contains("FAILED: ") }
        #expect(failures.count == 2, "\(output)")
        #expect(failures.allSatisfy { $0.contains("failed after 2 attempt(s): connection refused") }, "\(output)")
        // The queue is checked, then the bucket. Between their first failed attempts lie the queue's second
        // attempt and the bucket's first: with each connect tried again until the 5 s connect timeout that is
        // at least 10 s of the process's own log times, where a refused connect fails at once. (The process's
        // whole run is no measure: started while the suite starts dozens of peers it took 23.6 s.)
        let firstFailures = ["sqs GetQueueUrl failed", "s3 ListObjectsV2 failed"].map { operation in
            output.split(separator: "\n").first { $0.contains("Retrying in") && $0.contains(operation) }
                .flatMap(Self.secondOfDay)
        }
        let (queue, bucket) = (try #require(firstFailures[0]), try #require(firstFailures[1]))
        #expect((bucket - queue + 86_400).truncatingRemainder(dividingBy: 86_400) < 5, "\(output)")
    }

    /// The second of the day a log line was written at, from its `2026-12-07T17:03:13.475` prefix.
    static func secondOfDay(_ line: Substring) -> Double? {
        guard let time = line.split(separator: " ").first?.split(separator: "T").last else { return nil }
        let parts = time.split(separator: ":").compactMap { Double($0) }
        guard parts.count == 3 else { return nil }
        return parts[0] * 3_600 + parts[1] * 60 + parts[2]
    }
}
