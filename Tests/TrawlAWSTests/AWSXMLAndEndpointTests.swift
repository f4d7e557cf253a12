import Testing
import TrawlAWS
import TrawlCore
import TrawlTesting

@Suite struct AWSXMLAndEndpointTests {
    @Test func xmlListingsAreReadWithEntitiesAndRepeatedElements() throws {
        let xml = """
            <?xml version="1.0" encoding="UTF-8"?>
            <ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>b</Name>
            <Contents><Key>a &amp; b &lt;1&gt; &#x00F1;&#241;</Key><Size>12</Size><ETag>&quot;abc&quot;</ETag></Contents>
            <Contents><Key><![CDATA[raw <key>]]></Key><Size>3</Size><Owner/></Contents>
            <!-- comment --><IsTruncated>false</IsTruncated></ListBucketResult>
            """
        let document = try #require(AWSXMLElement.parse(Array(xml.utf8)))
        #expect(document.name == "ListBucketResult")
        let contents = document.all("Contents")
        #expect(contents.map { $0["Key"]?.text } == ["a & b <1> ññ", "raw <key>"])
        #expect(contents.first?["ETag"]?.text == "\"abc\"")
        #expect(document.at("IsTruncated")?.text == "false")
    }

    @Test func malformedXmlIsRefusedNotGuessed() {
        #expect(AWSXMLElement.parse(Array("<a><b></a>".utf8)) == nil)
        #expect(AWSXMLElement.parse(Array("<a>&bogus;</a>".utf8)) == nil)
        #expect(AWSXMLElement.parse(Array("<a>".utf8)) == nil)
    }

    /// An error answer may be a megabyte (`serviceError` reads up to 1 MiB): of `<a>` that is 340,000 levels,
    /// which walking (`firstDescendant`) or freeing as a tree would overflow the stack.
    @Test func anAnswerNestedDeeperThanAWSEverNestsIsRefusedNotWalked() throws {
        func nested(_ depth: Int) -> [UInt8] {
            Array((String(repeating: "<a>", count: depth) + String(repeating: "</a>", count: depth)).utf8)
        }
        let deepest = try #require(AWSXMLElement.parse(nested(AWSXMLElement.maximumDepth)))
        #expect(deepest.firstDescendant(named: "Error") == nil)
        #expect(AWSXMLElement.parse(nested(AWSXMLElement.maximumDepth + 1)) == nil)
        #expect(AWSXMLElement.parse(nested(340_000)) == nil)
        #expect(AWSXMLElement.parse(Array((String(repeating: "<a>", count: 340_000)).utf8)) == nil)
    }

    @Test func endpointsParseAndPickThePartition() throws {
        let moto = try #require(AWSEndpoint(url: "http://127.0.0.1:5000/"))
        #expect(moto.hostHeader == "127.0.0.1:5000")
        #expect(AWSEndpoint(url: "https://s3.example.com:443")?.hostHeader == "s3.example.com")
        #expect(AWSEndpoint(url: "ftp://x") == nil)
        #expect(AWSEndpoint(url: "https://host:99999") == nil)
        #expect(AWSEndpoint.standard(service: "sqs", region: "cn-north-1").host == "sqs.cn-north-1.amazonaws.com.cn")
        #expect(AWSEndpoint.standard(service: "s3", region: "us-gov-west-1").host == "s3.us-gov-west-1.amazonaws.com")
    }

    @Test(
        arguments: [
            ("https://sqs.eu-west-3.amazonaws.com/123456789012/q", "eu-west-3"),
            ("https://sqs-fips.us-gov-west-1.amazonaws.com/123456789012/q", "us-gov-west-1"),
            ("https://sqs.cn-north-1.amazonaws.com.cn/123456789012/q", "cn-north-1"),
            ("https://vpce-0a1b-c2d3.sqs.ap-south-1.vpce.amazonaws.com/123456789012/q", "ap-south-1"),
            ("https://ap-southeast-2.queue.amazonaws.com/123456789012/q", "ap-southeast-2"),
            ("https://queue.amazonaws.com/123456789012/q", "us-east-1"),
            ("https://SQS.US-EAST-2.AMAZONAWS.COM/123456789012/q", "us-east-2"),
            ("http://127.0.0.1:5000/123456789012/q", nil),
            ("https://sqs.internal.example.com/123456789012/q", nil),
            ("https://sqs.amazonaws.com/123456789012/q", nil),
        ] as [(String, String?)]
    )
    func anSQSHostNamesItsRegionOnlyWhenItIsAnAWSOne(url: String, region: String?) throws {
        #expect(try #require(AWSEndpoint(url: url)).sqsRegion == region)
    }

    @Test func s3AddressingPutsTheBucketInTheHostOrThePath() async throws {
        let client = AWSClient()
        let credentials = StaticCredentialProvider(AWSCredentials(accessKeyID: "AKID", secretAccessKey: "s"))
        let virtual = S3Client(client: client, region: "eu-west-1", credentials: credentials)
        let target = virtual.target(bucket: "logs", key: "a b/ñ.gz")
        #expect(target.endpoint.host == "logs.s3.eu-west-1.amazonaws.com")
        #expect(target.path == "/a%20b/%C3%B1.gz")
        #expect(virtual.target(bucket: "my.dotted.bucket", key: "k").path == "/my.dotted.bucket/k")
        let path = S3Client(
            client: client,
            region: "eu-west-1",
            endpoint: AWSEndpoint(url: "http://127.0.0.1:9000"),
            credentials: credentials
        )
        #expect(path.target(bucket: "logs", key: "x+y").path == "/logs/x%2By")
        #expect(path.target(bucket: "logs", key: "x").endpoint.host == "127.0.0.1")
        try await client.shutdown()
    }

    @Test func aBucketInAnotherRegionIsReadThroughThatRegionsEndpointUnlessOneWasGiven() async throws {
        let client = AWSClient()
        let credentials = StaticCredentialProvider(AWSCredentials(accessKeyID: "AKID", secretAccessKey: "s"))
        let queueRegion = S3Client(client: client, region: "eu-west-1", credentials: credentials)
        let other = queueRegion.inRegion("us-west-2")
        #expect(other.region == "us-west-2")
        #expect(other.target(bucket: "logs", key: "k").endpoint.host == "logs.s3.us-west-2.amazonaws.com")
        #expect(queueRegion.inRegion(nil).region == "eu-west-1")
        #expect(queueRegion.inRegion("eu-west-1").endpoint.host == "s3.eu-west-1.amazonaws.com")
        let emulator = S3Client(
            client: client,
            region: "eu-west-1",
            endpoint: AWSEndpoint(url: "http://127.0.0.1:9000"),
            credentials: credentials
        )
        #expect(emulator.inRegion("us-west-2").target(bucket: "logs", key: "k").endpoint.host == "127.0.0.1")
        #expect(emulator.inRegion("us-west-2").region == "eu-west-1")
        try await client.shutdown()
    }

    /// An S3 client of a fake store at `url`, and the AWS client to shut down after.
    static func s3(at url: String) -> (AWSClient, S3Client) {
        let client = AWSClient()
        let s3 = S3Client(
            client: client,
            region: "us-east-1",
            endpoint: AWSEndpoint(url: url),
            credentials: StaticCredentialProvider(AWSCredentials(accessKeyID: "AKID", secretAccessKey: "s"))
        )
        return (client, s3)
    }

    /// A listing that says it goes on but gives no token to go on with is an error: it ended the listing
    /// there as if complete, and the rest of the objects were never read.
    @Test func aTruncatedListingWithoutAContinuationTokenIsAnErrorNotTheEnd() async throws {
        let server = try await RecordingHTTPServer { request in
            let token = request.uri.contains("prefix=going") ? "<NextContinuationToken>t2</NextContinuationToken>" : ""
            return (200, "<ListBucketResult><IsTruncated>true</IsTruncated>\(token)</ListBucketResult>")
        }
        let (client, s3) = Self.s3(at: server.url)
        let logger = RecordingLogger().logger
        let going = try await s3.listObjects(bucket: "b", prefix: "going", logger: logger)
        #expect(going.nextContinuationToken == "t2")
        let error = await #expect(throws: TrawlError.self) {
            _ = try await s3.listObjects(bucket: "b", prefix: "ended", logger: logger)
        }
        #expect(error?.code == .awsClientException)
        #expect(
            error?.message.contains("said the listing goes on (IsTruncated) but gave no NextContinuationToken") == true
        )
        #expect(error?.location == "s3://b/ended")
        try await client.shutdown()
        try await server.stop()
    }

    /// A whole listing whose continuation token comes back (a misbehaving S3-compatible store) stops with an
    /// error at the page that repeats it: followed, it listed the same pages without end.
    @Test func aWholeListingWhoseContinuationTokenComesBackStopsWithAnError() async throws {
        let server = try await RecordingHTTPServer { request in
            // The first page leads to t1, t1 to t2, and t2 back to t1.
            let token = request.uri.contains("continuation-token=t1") ? "t2" : "t1"
            return (
                200,
                "<ListBucketResult><IsTruncated>true</IsTruncated><NextContinuationToken>\(token)</NextContinuationToken>"
                    + "<Contents><Key>k</Key></Contents></ListBucketResult>"
            )
        }
        let (client, s3) = Self.s3(at: server.url)
        let error = await #expect(throws: TrawlError.self) {
            _ = try await s3.listAllObjects(bucket: "b", prefix: "logs/", logger: RecordingLogger().logger)
        }
        #expect(error?.code == .awsClientException)
        #expect(error?.message.contains(#"page 3 gave the continuation token "t1" that an earlier page gave"#) == true)
        #expect(error?.location == "s3://b/logs/")
        #expect(server.requests.count == 3, "t1, t2, then t1 again: \(server.requests.count) requests")
        try await client.shutdown()
        try await server.stop()
    }
}
