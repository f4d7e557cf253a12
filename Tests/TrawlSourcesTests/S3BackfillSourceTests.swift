import Logging
import Testing
import TrawlAWS
import TrawlCore
import TrawlTesting

@testable import TrawlSources

@Suite struct S3BackfillSourceTests {
    @Test func aLocationIsAnS3URLWithAValidBucketAndAnOptionalPrefix() {
        let whole = S3BackfillSource.Location(url: "s3://org-trail")
        #expect(whole?.bucket == "org-trail" && whole?.prefix == "")
        let prefixed = S3BackfillSource.Location(url: "s3://org-trail/AWSLogs/123456789012/CloudTrail/")
        #expect(prefixed?.bucket == "org-trail" && prefixed?.prefix == "AWSLogs/123456789012/CloudTrail/")
        #expect(prefixed?.description == "s3://org-trail/AWSLogs/123456789012/CloudTrail/")
        #expect(S3BackfillSource.Location(url: "s3://org-trail//rooted/")?.prefix == "/rooted/")
        for invalid in ["org-trail/AWSLogs", "https://org-trail.s3.amazonaws.com/x", "s3:///x", "s3://a", "s3://b@d/x"]
        {
            #expect(S3BackfillSource.Location(url: invalid) == nil, "\(invalid)")
        }
    }

    /// S3 answers a request for a bucket of another region with 301 and the bucket's region in a header: the
    /// error names it, and the backfill moves to that region (not with an endpoint given: it serves what it
    /// serves).
    @Test func aBucketInAnotherRegionIsNamedInTheErrorAndReadThere() async throws {
        let server = try await RecordingHTTPServer(answeringWithHeaders: { _ in
            (
                301, [("x-amz-bucket-region", "eu-west-1"), ("Content-Type", "application/xml")],
                "<Error><Code>PermanentRedirect</Code><Message>The bucket you are attempting to access must be addressed using the specified endpoint.</Message></Error>"
            )
        })
        let aws = AWSClient()
        let credentials = StaticCredentialProvider(AWSCredentials(accessKeyID: "AKIDEXAMPLE", secretAccessKey: "s"))
        let given = S3Client(
            client: aws,
            region: "us-east-1",
            endpoint: AWSEndpoint(url: server.url),
            credentials: credentials
        )
        let error = await #expect(throws: TrawlError.self) {
            _ = try await given.listObjects(bucket: "org-trail", logger: RecordingLogger().logger)
        }
        #expect((error?.underlying as? AWSServiceError)?.bucketRegion == "eu-west-1")
        #expect(error.map { "\($0)".contains("(the bucket is in eu-west-1)") } == true, "\(String(describing: error))")
        let standard = S3Client(client: aws, region: "us-east-1", credentials: credentials)
        if let error {
            #expect(S3BackfillSource.client(standard, forBucketOf: error)?.region == "eu-west-1")
            #expect(S3BackfillSource.client(given, forBucketOf: error) == nil)
            #expect(S3BackfillSource.client(standard.inRegion("eu-west-1"), forBucketOf: error) == nil)
        }
        #expect(S3BackfillSource.client(standard, forBucketOf: TrawlError(.awsClientException, "other")) == nil)
        try await aws.shutdown()
        try await server.stop()
    }

    @Test func aLongBackfillLogsItsProgressAfterEachPageListed() async throws {
        let harness = try await SQSHarness.make(notify: false)
        defer { harness.remove() }
        try await harness.put((0..<5).map { ["key": "logs/\($0).json", "text": jsonLines("o\($0)", count: 2)] })
        let location = try #require(S3BackfillSource.Location(url: "s3://\(harness.bucket)/logs/"))
        let backfill = S3BackfillSource(objects: try harness.source(), locations: [location], pageSize: 2)
        let sink = CollectingSink()
        let statistics = try await harness.pull(backfill, into: sink)
        #expect(sink.events.count == 10)
        #expect(statistics.sent == 10 && statistics.requests == 3 + 5, "three pages, five objects")
        let partial = harness.log.messages(containing: "(Partial) Backfill of s3://\(harness.bucket)/logs/")
        #expect(partial.count == 2, "after the two pages that are not the last: \(partial)")
        #expect(partial.first?.contains("2 object(s) listed so far") == true)
        #expect(harness.log.messages(containing: "(Partial) Statistics for this pull cycle").count == 2)
        #expect(harness.log.messages(containing: "Listed 5 object(s) under").count == 1)
        #expect(backfill.failures.value == 0)
    }

    /// A listing whose continuation token comes back (a misbehaving S3-compatible store) is stopped and
    /// reported after the page that repeats it: followed, it listed the same pages without end.
    @Test func aListingWhoseContinuationTokenComesBackStopsAndIsReported() async throws {
        let server = try await RecordingHTTPServer { _ in
            (
                200,
                "<ListBucketResult><IsTruncated>true</IsTruncated><NextContinuationToken>again</NextContinuationToken></ListBucketResult>"
            )
        }
        let harness = try await SQSHarness.make(notify: false)
        defer { harness.remove() }
        let place = "base_url: \"\(server.url)/123456789012/q\", region: us-east-1, endpoint_url: \"\(server.url)\""
        let location = try #require(S3BackfillSource.Location(url: "s3://looping/logs/"))
        let backfill = S3BackfillSource(objects: try harness.source(where: place), locations: [location], pageSize: 2)
        _ = try await harness.pull(backfill, into: CollectingSink())
        try await server.stop()
        #expect(server.requests.count == 2, "the first page, and the one that gave its token again")
        #expect(backfill.failures.value == 1)
        #expect(
            harness.log.messages(
                containing: #"S3 ListObjectsV2 page 2 gave the continuation token "again" that an earlier page gave"#
            )
            .count == 1,
            "\(harness.log.messages)"
        )
        #expect(
            harness.log.messages(containing: "Listed 0 object(s) under s3://looping/logs/ before its listing failed")
                .count == 1
        )
    }
}

/// The queue's redrive policy as GetQueueAttributes gives it: JSON in a string, its count a number or a
/// string depending on how the policy was written.
@Suite struct SQSObjectConnectionCheckTests {
    @Test func aRedrivePolicyNamesItsDeadLetterQueueAndReceiveCountAndNoneIsAWarning() {
        let target = "arn:aws:sqs:us-east-1:123456789012:trail-dlq"
        for policy in [
            #"{"deadLetterTargetArn":"\#(target)","maxReceiveCount":5}"#,
            #"{"deadLetterTargetArn":"\#(target)","maxReceiveCount":"5"}"#,
        ] {
            let finding = SQSObjectConnectionCheck.deadLetter(policy, queue: "q")
            #expect(finding.outcome == .ok)
            #expect(finding.line == "SQS queue q: messages received 5 times move to the dead-letter queue \(target)")
        }
        for policy in [nil, "", "{}", "not json"] {
            let finding = SQSObjectConnectionCheck.deadLetter(policy, queue: "q")
            #expect(finding.outcome == .warning)
            #expect(finding.line.hasPrefix("SQS queue q: no dead-letter queue."))
        }
    }
}
