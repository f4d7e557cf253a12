import Foundation
import Testing
import TrawlTesting

/// The Amazon Security Lake collector as a subscriber runs it: OCSF Parquet objects in a bucket, EventBridge
/// notifications in the subscriber's queue, `trawl run`, and the rows in the file output as pyarrow renders
/// them.
@Suite struct SecurityLakeEndToEndTests {
    static let tag = "cloud.aws.amazon.security_lake.events"

    /// What Security Lake sends a subscriber for a new object.
    static func eventBridgeNotification(bucket: String, key: String, size: Int) throws -> String {
        let body: [String: Any] = [
            "version": "0", "id": UUID().uuidString, "detail-type": "Object Created", "source": "aws.s3",
            "account": "123456789012", "time": "2026-11-24T00:00:00Z", "region": "us-east-1",
            "resources": ["arn:aws:s3:::\(bucket)"],
            "detail": [
                "version": "0", "bucket": ["name": bucket],
                "object": ["key": key, "size": size, "etag": "e", "sequencer": "00"], "reason": "PutObject",
            ],
        ]
        return String(decoding: try JSONSerialization.data(withJSONObject: body), as: UTF8.self)
    }

    static func deliveredLines(_ directory: TemporaryDirectory) throws -> [String] {
        try String(contentsOfFile: "\(directory.path)/out.log", encoding: .utf8).split(separator: "\n").map(String.init)
    }

    static func size(_ path: String) throws -> Int {
        (try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
    }

    @Test func eventBridgeNotificationsOfParquetObjectsDeliverEveryRowAsPyarrowRendersIt() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let lake = try await MotoBucketQueue.make(notify: false)
        try FileManager.default.createDirectory(atPath: "\(directory.path)/written", withIntermediateDirectories: true)
        let written = try await ParquetOracle.writeOCSFLikeFiles(into: "\(directory.path)/written")
        let custom = written.filter {
            $0.hasSuffix("ocsf-gzip-v1-dict.parquet") || $0.hasSuffix("ocsf-zstd-v2-plain.parquet")
        }
        #expect(custom.count == 2)
        let partition = "region=us-east-1/accountId=123456789012/eventDay=20261123"
        var objects: [(key: String, path: String)] = []
        for (index, sample) in try RepositoryFiles.securityLakeSamples().enumerated() {
            objects.append(("aws/SOURCE_\(index)/1.0/\(partition)/\(index)f3a9c.gz.parquet", sample))
        }
        for (index, file) in custom.enumerated() {
            objects.append(("ext/custom_ocsf/2.0/data/\(partition)/part-\(index).parquet", file))
        }
        var puts = objects.map { ["key": $0.key, "path": $0.path] }
        let metadataKey = "ext/custom_ocsf/2.0/metadata/00001-5e1f.metadata.json"
        puts.append(["key": metadataKey, "text": #"{"format-version":2,"table-uuid":"x"}"#])
        let brokenKey = "aws/SOURCE_0/1.0/\(partition)/broken.gz.parquet"
        puts.append(["key": brokenKey, "path": objects[0].path, "truncate": "9000"])
        try await lake.put(puts)
        var notifications = try objects.map {
            try Self.eventBridgeNotification(bucket: lake.bucket, key: $0.key, size: try Self.size($0.path))
        }
        notifications.append(try Self.eventBridgeNotification(bucket: lake.bucket, key: metadataKey, size: 40))
        notifications.append(try Self.eventBridgeNotification(bucket: lake.bucket, key: brokenKey, size: 9000))
        try await lake.send(notifications)

        let (status, log) = try await S3CollectorsEndToEndTests.runOnce(
            S3CollectorsEndToEndTests.configuration([
                ("lake", "amazon_security_lake", "events", lake.serviceSettings + ", records_per_commit: 100")
            ]),
            in: directory
        )
        #expect(status == 1, "the broken object's error makes --once exit 1: \(log.suffix(3_000))")
        #expect(log.contains("Completed with 1 error(s) logged (SourceError 304 x1)"), "\(log.suffix(3_000))")
        var expected: [String] = []
        for object in objects {
            expected += try await ParquetOracle.render(object.path).map { "<14>Jan  1 00:00:00 vm \(Self.tag): \($0)" }
        }
        #expect(expected.count == 5 + 2 * 700)
        let delivered = try Self.deliveredLines(directory)
        #expect(delivered.count == expected.count)
        #expect(delivered.sorted() == expected.sorted())
        let unreadable = log.split(separator: "\n").filter { $0.contains("ERROR") && $0.contains("SourceError 304") }
        #expect(unreadable.count == 1)
        #expect(unreadable.first?.contains("broken.gz.parquet#") == true)
        #expect(
            unreadable.first?.contains(
                ": its Parquet content cannot be read: the file starts with PAR1 but does not end with it"
            ) == true,
            "the object is named once, as the location: \(unreadable)"
        )
        #expect(!log.contains("SourceError 302"), "the metadata/ object was read")
        let left = try await lake.messagesLeft()
        let notable = log.split(separator: "\n").filter {
            $0.contains("WARNING") || $0.contains("ERROR") || $0.contains("Acked") || $0.contains("Fetched")
        }
        #expect(
            left == 1,
            "only the broken object's message stays; \(left) left, Trawl logged:\n\(notable.joined(separator: "\n"))"
        )
    }

    @Test func replayTagsPerOCSFClassAndObfuscatesBeforeDelivery() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let samples = try RepositoryFiles.securityLakeSamples()
        let settings = """
            queue_name: unused, region: us-east-1, tag_per_class: true, obfuscation_key: "${TRAWL_TEST_OBFUSCATION_KEY}",
            obfuscate: [{path: actor.user.name, action: hash}, {path: src_endpoint.ip, action: mask, mask: "x.x.x.x"},
                        {path: unmapped, action: drop}]
            """
        try directory.write(
            "config.yaml",
            S3CollectorsEndToEndTests.configuration([("lake", "amazon_security_lake", "events", settings)])
        )
        let (status, _, log) = try await BuiltExecutable.run(
            "trawl",
            arguments: ["replay", "--config", "config.yaml", "--service", "events"] + samples,
            workingDirectory: directory.path,
            environment: ["TRAWL_TEST_OBFUSCATION_KEY": "a-test-secret-of-24-bytes"]
        )
        #expect(status == 0, "\(log.suffix(3_000))")
        #expect(!log.contains("a-test-secret"))
        let delivered = try Self.deliveredLines(directory)
        #expect(delivered.count == samples.count)
        let tags = delivered.compactMap { $0.split(separator: " ", maxSplits: 5).dropFirst(4).first.map(String.init) }
        #expect(
            Set(tags)
                == Set(
                    ["account_change", "authentication", "dns_activity", "security_finding", "network_activity"].map {
                        "\(Self.tag).\($0):"
                    }
                )
        )
        var hashed = 0
        var masked = 0
        for line in delivered {
            let json = "{" + line[line.range(of: ": {")!.upperBound...]
            let record = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any] ?? [:]
            #expect(record["unmapped"] == nil)
            if let ip = (record["src_endpoint"] as? [String: Any])?["ip"] {
                #expect(ip as? String == "x.x.x.x")
                masked += 1
            }
            if let name = ((record["actor"] as? [String: Any])?["user"] as? [String: Any])?["name"] as? String {
                #expect(name.hasPrefix("hmac-sha256:") && name.count == 44)
                hashed += 1
            }
        }
        let originals = try await samples.asyncFlatMap { try await ParquetOracle.render($0) }
        #expect(originals.contains { $0.contains("\"unmapped\"") })
        #expect(masked == originals.filter { $0.contains("\"src_endpoint\":{") && $0.contains("\"ip\"") }.count)
        #expect(hashed >= 1)
    }

    @Test func theGenericProcessorsAndReplayReadParquetToo() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let sample = try RepositoryFiles.securityLakeSamples().first { $0.contains("VPC_FLOW") }!
        try directory.write(
            "config.yaml",
            S3CollectorsEndToEndTests.configuration([
                (
                    "flows", "aws_sqs", "vpc_flow",
                    "queue_name: unused, region: us-east-1, tag: my.app.vpc.flows"
                )
            ])
        )
        try directory.write("plain.log", "version account-id\n2 123456789012\n")
        let (status, _, log) = try await BuiltExecutable.run(
            "trawl",
            arguments: [
                "replay", "--concurrency", "1", "--config", "config.yaml", "--service", "vpc_flow", sample, "plain.log",
            ],
            workingDirectory: directory.path
        )
        #expect(status == 0, "\(log.suffix(3_000))")
        #expect(log.contains("(parquet, "))
        let expected =
            try await ParquetOracle.render(sample).map { "<14>Jan  1 00:00:00 vm my.app.vpc.flows: \($0)" }
            + [#"<14>Jan  1 00:00:00 vm my.app.vpc.flows: {"version":"2","account-id":"123456789012"}"#]
        #expect(try Self.deliveredLines(directory) == expected)
    }
}

extension Sequence {
    fileprivate func asyncFlatMap<T>(_ transform: (Element) async throws -> [T]) async rethrows -> [T] {
        var result: [T] = []
        for element in self { result += try await transform(element) }
        return result
    }
}
