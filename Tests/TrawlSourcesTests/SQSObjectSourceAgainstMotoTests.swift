import Foundation
import Metrics
import MetricsTestKit
import NIOCore
import Synchronization
import Testing
import TrawlAWS
import TrawlCore
import TrawlFormats
import TrawlSources
import TrawlTesting

/// A sink that takes `delay` per write, to see what a slow output does to the queue.
final class SlowSink: EventSink {
    let name = "slow"
    let delay: Duration
    private let received = Mutex<[Event]>([])

    init(delay: Duration) { self.delay = delay }

    func write(_ batches: [EventBatch]) async throws {
        try await Task.sleep(for: self.delay)
        self.received.withLock { $0 += batches.flatMap(\.events) }
    }

    func close() async throws {}
    var events: [Event] { self.received.withLock { $0 } }
}

/// A slow sink that deletes the queue when it first receives a record containing `trigger`: from then on
/// the source's receives fail while the messages already received are still being read.
final class QueueDeletingSink: EventSink {
    let name = "queue-deleting"
    let fixture: MotoBucketQueue
    let trigger: String
    private let received = Mutex<[Event]>([])
    private let deleted = Mutex(false)

    init(fixture: MotoBucketQueue, trigger: String) {
        self.fixture = fixture
        self.trigger = trigger
    }

    func write(_ batches: [EventBatch]) async throws {
        try await Task.sleep(for: .milliseconds(10))
        let events = batches.flatMap(\.events)
        self.received.withLock { $0 += events }
        let triggered = events.contains { String(buffer: $0.body).contains(self.trigger) }
        let first =
            triggered
            && self.deleted.withLock { deleted in
                defer { deleted = true }
                return !deleted
            }
        if first { try await self.fixture.deleteQueue() }
    }

    func close() async throws {}
    var events: [Event] { self.received.withLock { $0 } }
}

/// The S3+SQS source against moto: a bucket whose notifications go to a queue, objects put as an
/// operator's pipeline would, and one pull cycle into a collecting sink.
struct SQSHarness {
    let fixture: MotoBucketQueue
    let directory: TemporaryDirectory
    let log = RecordingLogger()

    static func make(notify: Bool = true, versioned: Bool = false) async throws -> SQSHarness {
        SQSHarness(
            fixture: try await MotoBucketQueue.make(notify: notify, versioned: versioned),
            directory: try TemporaryDirectory()
        )
    }

    var bucket: String { self.fixture.bucket }
    func put(_ objects: [[String: String]]) async throws { try await self.fixture.put(objects) }
    func send(_ bodies: [String]) async throws { try await self.fixture.send(bodies) }
    func messagesLeft() async throws -> Int { try await self.fixture.messagesLeft() }

    /// `where` replaces the queue, region and endpoint of the moto fixture.
    func source(
        format: RecordFormat = .jsonLines,
        tagger: RecordTagger = RecordTagger(tag: "my.app.s3.events"),
        exclude: [String] = [],
        extra: String = "",
        where place: String? = nil
    ) throws -> SQSObjectSource {
        let settings = try SettingsFixture.valid(
            SQSObjectSettings.self,
            yaml:
                "{\(place ?? self.fixture.serviceSettings), ack_messages: true, sqs_wait_timeout: 1, records_per_commit: 3\(extra)}"
        )
        let store = try FileStateStore(directory: "\(self.directory.path)/state")
        return SQSObjectSource(
            configuration: SQSObjectSource.Configuration(
                name: "s3/test",
                settings: settings,
                credentials: AWSCredentialSettings(accessKeyID: "AKIDEXAMPLEKEY123456", secretAccessKey: "testing"),
                format: format,
                tagger: tagger,
                includeKeys: [],
                excludeKeys: exclude.map(KeyPattern.init)
            ),
            ledger: S3ObjectLedger(
                persistence: ServicePersistence(
                    store: store,
                    key: StateKey(collectorID: "c", input: "1", service: "test.ledger"),
                    resetPersistenceAuth: "",
                    logger: self.log.logger
                ),
                retention: .seconds(3_600)
            ),
            environment: [:]
        )
    }

    /// One pull cycle whose events go to `sink`, acknowledged as the sink accepts them.
    func pull(
        _ source: any PullingSource,
        into sink: any EventSink,
        metrics: SourceMetrics? = nil
    ) async throws -> PullCycleStatistics {
        let queue = BoundedEventQueue(maxBufferedEvents: 1_000)
        let dispatcher = EventDispatcher(queues: [queue], maxBatchEvents: 2)
        var statistics = PullCycleStatistics()
        try await source.withResources {
            statistics = try await withThrowingTaskGroup(of: PullCycleStatistics?.self) { group in
                let batches = try queue.takeBatches()
                group.addTask {
                    for await batch in batches {
                        try await sink.write([batch])
                        batch.acknowledgement.release()
                    }
                    return nil
                }
                let statistics = try await source.pull(
                    PullContext(
                        pullingID: PullingID.now(),
                        dispatcher: dispatcher,
                        logger: self.log.logger,
                        metrics: metrics
                    )
                )
                group.cancelAll()
                return statistics
            }
        }
        return statistics
    }

    /// What to put for `key` to hold `text` gzipped and broken off halfway (a truncated upload): the gzip's
    /// size is learnt by putting it whole first, under another key.
    func gzipCutInHalf(_ key: String, _ text: String) async throws -> [String: String] {
        let whole = try await self.fixture.put([["key": "whole-\(key)", "text": text, "compression": "gzip"]])
        let size = try #require(whole["whole-\(key)"]).size
        return ["key": key, "text": text, "compression": "gzip", "truncate": "\(size / 2)"]
    }

    func remove() { self.directory.remove() }
}

func jsonLines(_ prefix: String, count: Int) -> String {
    (0..<count).map { "{\"id\":\"\(prefix)-\($0)\"}\n" }.joined()
}

@Suite(.serialized) struct SQSObjectSourceAgainstMotoTests {
    @Test func readsEveryCompressionAnnouncedByRealNotificationsAndEmptiesTheQueue() async throws {
        let harness = try await SQSHarness.make()
        defer { harness.remove() }
        // gzip-multi+gzip: CloudWatch Logs' gzip members that a Firehose stream set to GZIP compressed again.
        let formats = ["gzip", "gzip-multi", "zstd", "snappy", "bzip2", "none", "gzip-multi+gzip"]
        // A Firehose stream without a delimiter writes its records back to back on one line.
        let firehose = ["key": "logs/firehose", "text": jsonLines("firehose", count: 7).filter { $0 != "\n" }]
        try await harness.put(
            formats.map { ["key": "logs/\($0) object", "text": jsonLines($0, count: 7), "compression": $0] }
                + [firehose.merging(["compression": "gzip"]) { $1 }]
        )
        let sink = CollectingSink()
        let statistics = try await harness.pull(try harness.source(), into: sink)
        let bodies = Set(sink.events.map { String(buffer: $0.body) })
        let names = formats + ["firehose"]
        #expect(bodies == Set(names.flatMap { name in (0..<7).map { "{\"id\":\"\(name)-\($0)\"}" } }))
        #expect(sink.events.count == names.count * 7)
        #expect(statistics.sent == names.count * 7)
        #expect(statistics.upToDate)
        #expect(
            sink.events.allSatisfy {
                $0.tag == "my.app.s3.events" && $0.metadata.unit.hasPrefix("s3://\(harness.bucket)/logs/")
            }
        )
        #expect(try await harness.messagesLeft() == 0)
        #expect(!harness.log.messages(containing: "names no object to read (s3:TestEvent)").isEmpty)
        #expect(!harness.log.messages(containing: "No visible messages found in the queue arn:aws:sqs:").isEmpty)
        #expect(!harness.log.messages(containing: "gzip-multi+gzip object (gzip in gzip): 7 records").isEmpty)
    }

    @Test func readsEveryNotificationShapeAndSkipsWhatNamesNoCreatedObject() async throws {
        let harness = try await SQSHarness.make(notify: false)
        defer { harness.remove() }
        try await harness.put([
            ["key": "a b/s3 event.json", "text": jsonLines("s3", count: 2)],
            ["key": "second.json", "text": jsonLines("second", count: 1)],
            ["key": "sns.json", "text": jsonLines("sns", count: 2)],
            ["key": "bridge dir/bridge.json", "text": jsonLines("bridge", count: 2)],
            ["key": "bridge dir/encoded+plus.json", "text": jsonLines("encoded", count: 1)],
            ["key": "data/f0714ca5/part-00000.gz", "text": jsonLines("fdr", count: 2), "compression": "gzip"],
            ["key": "data/f0714ca5/part-00001.gz", "text": jsonLines("fdr1", count: 1), "compression": "gzip"],
            ["key": "logs/2026/", "text": ""],
        ])
        func record(_ key: String, name: String = "ObjectCreated:Put", size: Int = 10) -> [String: Any] {
            [
                "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1", "eventName": name,
                "s3": ["bucket": ["name": harness.bucket], "object": ["key": key, "size": size]],
            ]
        }
        func json(_ object: Any) throws -> String {
            String(decoding: try JSONSerialization.data(withJSONObject: object), as: UTF8.self)
        }
        // A folder the S3 console creates is a zero-byte key ending in /, announced like an object.
        let s3Event = try json([
            "Records": [record("a+b/s3+event.json"), record("second.json"), record("logs/2026/", size: 0)]
        ])
        let sns = try json([
            "Type": "Notification", "MessageId": "m", "TopicArn": "arn:aws:sns:us-east-1:123456789012:t",
            "Message": try json(["Records": [record("sns.json")]]),
        ])
        func bridgeEvent(_ key: String) throws -> String {
            try json([
                "version": "0", "detail-type": "Object Created", "source": "aws.s3",
                "detail": [
                    "bucket": ["name": harness.bucket], "object": ["key": key, "size": 10], "reason": "PutObject",
                ],
            ])
        }
        // EventBridge keys: as given, and URL-encoded as S3 event notifications' are (read after a 404).
        let bridge = try bridgeEvent("bridge dir/bridge.json")
        let encodedBridge = try bridgeEvent("bridge+dir/encoded%2Bplus.json")
        let test = try json([
            "Service": "Amazon S3", "Event": "s3:TestEvent", "Time": "2026-11-23T00:00:00Z", "Bucket": harness.bucket,
        ])
        let removed = try json(["Records": [record("gone.json", name: "ObjectRemoved:Delete")]])
        // CrowdStrike Falcon Data Replicator's own message: a batch of files in its bucket.
        let falcon = try json([
            "cid": "1a2b3c", "timestamp": 1_795_000_000_000, "fileCount": 2, "totalSize": 200,
            "bucket": harness.bucket, "pathPrefix": "data/f0714ca5",
            "files": [
                ["path": "data/f0714ca5/part-00000.gz", "size": 120, "checksum": "69fe068d"],
                ["path": "data/f0714ca5/part-00001.gz", "size": 80, "checksum": "0cc175b9"],
            ],
        ])
        try await harness.send([s3Event, sns, bridge, encodedBridge, test, removed, falcon])
        let sink = CollectingSink()
        let statistics = try await harness.pull(try harness.source(), into: sink)
        let ids = Set(sink.events.map { String(buffer: $0.body) })
        #expect(
            ids
                == Set(
                    [
                        "s3-0", "s3-1", "second-0", "sns-0", "sns-1", "bridge-0", "bridge-1", "encoded-0", "fdr-0",
                        "fdr-1", "fdr1-0",
                    ].map { "{\"id\":\"\($0)\"}" }
                )
        )
        #expect(statistics.sent == 11)
        #expect(try await harness.messagesLeft() == 0)
        #expect(harness.log.messages(containing: "names no object to read").count == 2)
        #expect(
            harness.log.messages(containing: "encoded%2Bplus.json does not exist: reading the key decoded").count == 1
        )
        #expect(
            harness.log.messages(containing: "logs/2026/: a zero-byte key ending in / is a console's folder marker")
                .count == 1
        )
    }

    @Test func aPoisonMessageIsLoggedWithItsIDAndLeftInTheQueue() async throws {
        let harness = try await SQSHarness.make(notify: false)
        defer { harness.remove() }
        try await harness.send(["this is not a notification"])
        let sink = CollectingSink()
        _ = try await harness.pull(try harness.source(extra: ", poison_receive_count: 1"), into: sink)
        #expect(sink.events.isEmpty)
        let errors = harness.log.lines.filter { $0.contains("SourceError 303") }
        #expect(errors.count == 1)
        #expect(errors.first?.contains("sqs.message.id") == true)
        #expect(!harness.log.messages(containing: "redrive policy").isEmpty)
        #expect(try await harness.messagesLeft() == 1)
    }

    @Test func eachMessageIsCountedByHowItEnded() async throws {
        let harness = try await SQSHarness.make(notify: false)
        defer { harness.remove() }
        let put = try await harness.fixture.put([
            ["key": "good.json", "text": jsonLines("good", count: 3)],
            try await harness.gzipCutInHalf("cut.json.gz", jsonLines("cut", count: 300)),
        ])
        try await harness.send([
            "this is not a notification",
            try harness.fixture.notification("good.json", #require(put["good.json"])),
            try harness.fixture.notification("cut.json.gz", #require(put["cut.json.gz"])),
        ])
        let metrics = TestMetrics()
        try await withMetricsFactory(metrics) {
            let source = try harness.source()
            _ = try await harness.pull(source, into: CollectingSink(), metrics: SourceMetrics(serviceName: "s3/test"))
        }
        func messages(_ outcome: String) throws -> Int64 {
            try metrics.expectCounter(
                "trawl_sqs_messages_total",
                [("input", "s3"), ("service", "test"), ("outcome", outcome)]
            ).totalValue
        }
        #expect(try messages("deleted") == 1)
        #expect(try messages("poison") == 1)
        #expect(try messages("failed") == 1)
        #expect(try messages("kept") == 0)
        #expect(try messages("not_deleted") == 0)
        #expect(try messages("released") == 0)
        #expect(try await harness.messagesLeft() == 2)
    }

    @Test func anObjectWhoseRecordNeverEndsFailsAtRecordMaxBytesAndStaysInTheQueue() async throws {
        let harness = try await SQSHarness.make()
        defer { harness.remove() }
        try await harness.put([
            ["key": "bomb.json.gz", "text": String(repeating: "A", count: 1 << 20), "compression": "gzip"],
            ["key": "fine.json.gz", "text": jsonLines("fine", count: 4), "compression": "gzip"],
        ])
        let sink = CollectingSink()
        _ = try await harness.pull(try harness.source(extra: ", record_max_bytes: 65536"), into: sink)
        #expect(sink.events.map { String(buffer: $0.body) } == (0..<4).map { "{\"id\":\"fine-\($0)\"}" })
        let errors = harness.log.lines.filter { $0.contains("SourceError 302") }
        #expect(errors.count == 1)
        #expect(errors.first?.contains("bomb.json.gz") == true)
        #expect(errors.first?.contains("longer than record_max_bytes (65536 bytes)") == true)
        #expect(errors.first?.contains("(between bytes 0 and ") == true, "where in the text: \(errors)")
        #expect(errors.first?.contains(" of the text, after 0 record(s))") == true)
        #expect(try await harness.messagesLeft() == 1)
    }

    /// The records before the point where an object turns out corrupt are delivered, and the ledger says so:
    /// its message received again does not deliver them a second time. Before, the commit published last
    /// before the failure reached the outputs without being recorded, and every receive delivered it again.
    @Test func whatWasDeliveredOfAnObjectCorruptPartWayIsNotDeliveredAgain() async throws {
        let harness = try await SQSHarness.make(notify: false)
        defer { harness.remove() }
        let cut = try await harness.fixture.put([
            try await harness.gzipCutInHalf("cut.json.gz", jsonLines("cut", count: 100_000))
        ])
        let body = try harness.fixture.notification("cut.json.gz", #require(cut["cut.json.gz"]))
        let sink = CollectingSink()
        for _ in 0..<2 {
            try await harness.send([body])
            _ = try await harness.pull(try harness.source(extra: ", concurrency: 1"), into: sink)
        }
        let ids = sink.events.map { String(buffer: $0.body) }
        #expect(ids.count > 0 && ids.count < 100_000, "the object's first records are delivered, not all")
        #expect(Set(ids).count == ids.count, "\(ids.count - Set(ids).count) record(s) delivered twice")
        #expect(harness.log.lines.filter { $0.contains("SourceError 301") }.count == 2)
        #expect(try await harness.messagesLeft() == 2)
    }

    /// One message can name many objects (a CrowdStrike FDR batch, S3 events batched by a pipeline): a corrupt
    /// one keeps the message in the queue, and the others are delivered all the same, once, instead of
    /// waiting behind it until the queue's dead-letter policy takes the whole message away.
    @Test func aCorruptObjectDoesNotHoldBackTheOtherObjectsOfItsMessage() async throws {
        let harness = try await SQSHarness.make(notify: false)
        defer { harness.remove() }
        let put = try await harness.fixture.put([
            ["key": "before.json.gz", "text": jsonLines("before", count: 4), "compression": "gzip"],
            try await harness.gzipCutInHalf("bad.json.gz", jsonLines("bad", count: 10_000)),
            ["key": "after.json", "text": jsonLines("after", count: 5)],
        ])
        let body = harness.fixture.notification(
            try ["before.json.gz", "bad.json.gz", "after.json"].map { ($0, try #require(put[$0])) }
        )
        let sink = CollectingSink()
        for _ in 0..<2 {
            try await harness.send([body])
            _ = try await harness.pull(try harness.source(extra: ", concurrency: 1"), into: sink)
        }
        let ids = sink.events.map { String(buffer: $0.body) }
        let good = Set(jsonLines("before", count: 4).split(separator: "\n").map(String.init))
            .union(jsonLines("after", count: 5).split(separator: "\n").map(String.init))
        let missing = good.subtracting(ids).sorted()
        #expect(missing.isEmpty, "not delivered from either side of the corrupt object: \(missing)")
        #expect(Set(ids).count == ids.count, "\(ids.count - Set(ids).count) record(s) delivered twice")
        let errors = harness.log.lines.filter { $0.contains("SourceError 301") }
        #expect(errors.count == 2 && errors.allSatisfy { $0.contains("bad.json.gz") })
        let left = harness.log.messages(containing: "is left in the queue: 1 of its 3 objects failed")
        #expect(left.count == 2, "\(harness.log.lines.suffix(5))")
        #expect(try await harness.messagesLeft() == 2)
    }

    /// A message naming several objects (a CrowdStrike FDR batch) has them read at once, up to `concurrency`
    /// objects in all, as separate messages are: their records interleave at the output. With `concurrency: 1`
    /// they come one object after the other.
    @Test(arguments: [1, 3])
    func theObjectsOfOneMessageAreReadAtOnceUpToConcurrency(concurrency: Int) async throws {
        let harness = try await SQSHarness.make(notify: false)
        defer { harness.remove() }
        let keys = ["a", "b", "c"]
        // Several pieces (256 KiB) each, so several commits: one object's commits and the next one's can meet.
        let count = 40_000
        let put = try await harness.fixture.put(
            keys.map { ["key": "\($0).json", "text": jsonLines($0, count: count)] }
        )
        try await harness.send([
            harness.fixture.notification(try keys.map { ("\($0).json", try #require(put["\($0).json"])) })
        ])
        let sink = CollectingSink()
        let statistics = try await harness.pull(try harness.source(extra: ", concurrency: \(concurrency)"), into: sink)
        let ids = sink.events.map { String(buffer: $0.body) }
        #expect(ids.count == 3 * count && Set(ids).count == 3 * count && statistics.sent == 3 * count)
        let firstOfLast = try #require(ids.firstIndex { $0.hasPrefix("{\"id\":\"c-") })
        let lastOfFirst = try #require(ids.lastIndex { $0.hasPrefix("{\"id\":\"a-") })
        if concurrency == 1 {
            #expect(lastOfFirst < firstOfLast, "one object after the other")
        } else {
            #expect(firstOfLast < lastOfFirst, "c.json's first record came after a.json's last: read one by one")
        }
        #expect(try await harness.messagesLeft() == 0)
    }

    /// A receive that fails while other messages are being read (SQS throttling or an outage past the retries,
    /// the queue taken away) ends the cycle only once those messages are done with: it used to cancel their
    /// reads half way, leaving them invisible for `sqs_visibility_timeout` (an hour by default).
    @Test func aFailedReceiveLetsTheMessagesBeingReadFinish() async throws {
        let harness = try await SQSHarness.make(notify: false)
        defer { harness.remove() }
        let put = try await harness.fixture.put([
            ["key": "long.json", "text": jsonLines("long", count: 300)],
            ["key": "short.json", "text": jsonLines("short", count: 1)],
        ])
        // One message per receive, short.json's first (moto hands a queue's messages out in order): its record
        // reaches the sink, which deletes the queue, well before long.json's last one.
        try await harness.send([
            harness.fixture.notification("short.json", #require(put["short.json"])),
            harness.fixture.notification("long.json", #require(put["long.json"])),
        ])
        let sink = QueueDeletingSink(fixture: harness.fixture, trigger: "short-0")
        let source = try harness.source(extra: ", concurrency: 2, sqs_max_messages: 1")
        await #expect(throws: (any Error).self) { try await harness.pull(source, into: sink) }
        let ids = sink.events.map { String(buffer: $0.body) }
        let long = ids.filter { $0.contains("long-") }
        #expect(Set(long).count == 300, "\(Set(long).count) of long.json's 300 records delivered")
        #expect(Set(ids).count == ids.count, "\(ids.count - Set(ids).count) record(s) delivered twice")
        #expect(
            !harness.log.messages(containing: "Receiving from SQS failed").isEmpty,
            "\(harness.log.lines.filter { !$0.hasPrefix("debug") })"
        )
    }

    /// The ledger is what keeps a message received again from delivering its objects twice: one that forgets
    /// sooner than the queue keeps messages lets a late redelivery through, so the start says so.
    @Test func aLedgerForgettingSoonerThanTheQueueKeepsMessagesIsWarnedOf() async throws {
        let harness = try await SQSHarness.make(notify: false)
        defer { harness.remove() }
        _ = try await harness.pull(try harness.source(extra: ", ledger_retention_hours: 24"), into: CollectingSink())
        let warnings = harness.log.messages(containing: "(its MessageRetentionPeriod)")
        #expect(warnings.count == 1)
        #expect(warnings.first?.contains("keeps messages for 96 hours") == true, "moto's default is 4 days")
        #expect(warnings.first?.contains("Set ledger_retention_hours to at least 96") == true)
        _ = try await harness.pull(try harness.source(extra: ", ledger_retention_hours: 96"), into: CollectingSink())
        #expect(harness.log.messages(containing: "(its MessageRetentionPeriod)").count == 1)
    }

    @Test func debugMD5SendsEachMessagesDigestReceiveCountSendingTimeAndObjects() async throws {
        let harness = try await SQSHarness.make()
        defer { harness.remove() }
        try await harness.put([["key": "dir/a b.json", "text": jsonLines("a", count: 2)]])
        let sink = CollectingSink()
        let started = Date().timeIntervalSince1970 * 1_000
        _ = try await harness.pull(try harness.source(extra: ", debug_md5: true"), into: sink)
        let debug = sink.events.filter { $0.tag == "my.app.sqs.message_body" }
        #expect(sink.events.count == 3 && debug.count == 1)
        let record = try #require(
            try JSONSerialization.jsonObject(with: Data(String(buffer: debug[0].body).utf8)) as? [String: Any]
        )
        #expect((record["message_id"] as? String)?.isEmpty == false)
        #expect((record["md5"] as? String)?.count == 32)
        #expect(record["receive_count"] as? Int == 1)
        let sent = try #require(record["sent_timestamp"] as? Double)
        #expect(abs(sent - started) < 60_000)
        let objects = record["objects"] as? [[String: String]]
        #expect(objects == [["bucket": harness.bucket, "key": "dir/a b.json"]])
    }

    @Test func cloudTrailDocumentsAreSplitAndDigestFilesSkipped() async throws {
        let harness = try await SQSHarness.make()
        defer { harness.remove() }
        let records = (0..<5).map {
            #"{"eventVersion":"1.08","eventName":"Call\#($0)","userIdentity":{"type":"IAMUser"},"resources":[{"ARN":"x"}]}"#
        }
        try await harness.put([
            [
                "key":
                    "AWSLogs/123456789012/CloudTrail/us-east-1/2026/11/23/123456789012_CloudTrail_us-east-1_20261123T0000Z_a.json.gz",
                "text": "{\"Records\":[\(records.joined(separator: ","))]}", "compression": "gzip",
            ],
            [
                "key": "AWSLogs/123456789012/CloudTrail-Digest/us-east-1/2026/11/23/digest.json.gz",
                "text": #"{"awsAccountId":"123456789012","digestSignatureAlgorithm":"SHA256withRSA"}"#,
                "compression": "gzip",
            ],
        ])
        let sink = CollectingSink()
        let source = try harness.source(format: .jsonDocument(listField: "Records"), exclude: ["*/CloudTrail-Digest/*"])
        _ = try await harness.pull(source, into: sink)
        #expect(sink.events.map { String(buffer: $0.body) } == records)
        #expect(try await harness.messagesLeft() == 0)
    }

    @Test(arguments: [
        ("csv", RecordFormat.csv, "a,b\n1,\"x,y\"\n2,z\n", [#"{"a":"1","b":"x,y"}"#, #"{"a":"2","b":"z"}"#]),
        ("tsv", RecordFormat.tsv, "a\tb\n1\t2\n", [#"{"a":"1","b":"2"}"#]),
        (
            "vpc", RecordFormat.vpcFlow, "version srcaddr action\n2 10.0.0.1 ACCEPT\n2 - REJECT\n",
            [#"{"version":"2","srcaddr":"10.0.0.1","action":"ACCEPT"}"#, #"{"version":"2","action":"REJECT"}"#]
        ),
        ("lines", RecordFormat.lines, "first line\nsecond line\n", ["first line", "second line"]),
        (
            "cloudwatch", RecordFormat.cloudWatchLogs(messageOnly: true),
            #"{"messageType":"DATA_MESSAGE","owner":"123456789012","logGroup":"g","logStream":"s","logEvents":[{"id":"1","timestamp":1,"message":"first"},{"id":"2","timestamp":2,"message":"se\"cond"}]}"#
                + #"{"messageType":"CONTROL_MESSAGE","logEvents":[{"id":"","timestamp":3,"message":"CWL CONTROL MESSAGE"}]}"#,
            ["first", "se\"cond"]
        ),
        ("array", RecordFormat.jsonArray, #"[{"a":1},{"b":2}]"#, [#"{"a":1}"#, #"{"b":2}"#]),
        ("whole", RecordFormat.wholeObject(maxBytes: 1_000), "one\nmessage", ["one\nmessage"]),
    ])
    func everyProcessorReadsItsObjects(
        name: String,
        format: RecordFormat,
        text: String,
        expected: [String]
    ) async throws {
        let harness = try await SQSHarness.make()
        defer { harness.remove() }
        try await harness.put([["key": "data/\(name)", "text": text, "compression": "gzip"]])
        let sink = CollectingSink()
        _ = try await harness.pull(try harness.source(format: format), into: sink)
        #expect(sink.events.map { String(buffer: $0.body) } == expected)
        #expect(try await harness.messagesLeft() == 0)
    }

    @Test(arguments: [
        ("latin-1", "latin-1", "user,city\nJosé,Zürich\n", #"{"user":"José","city":"Zürich"}"#),
        ("windows-1252", "cp1252", "user,note\nnaïve,“€5” – ok™\n", #"{"user":"naïve","note":"“€5” – ok™"}"#),
        ("utf-16be", "utf-16-be", "user,host\n日本,🔒 srv\n", #"{"user":"日本","host":"🔒 srv"}"#),
        ("utf-8", "utf-16", "user,host\nJosé,🔒\n", #"{"user":"José","host":"🔒"}"#),
        ("latin-1", "utf-8-sig", "user,city\nJosé,Zürich\n", #"{"user":"José","city":"Zürich"}"#),
    ])
    func objectsWrittenInAnotherEncodingAreDeliveredAsUTF8(
        setting: String,
        codec: String,
        text: String,
        expected: String
    ) async throws {
        let harness = try await SQSHarness.make()
        defer { harness.remove() }
        try await harness.put([["key": "exports/\(codec).csv", "text": text, "encoding": codec, "compression": "gzip"]])
        let sink = CollectingSink()
        _ = try await harness.pull(try harness.source(format: .csv, extra: ", encoding: \(setting)"), into: sink)
        #expect(sink.events.map { String(buffer: $0.body) } == [expected])
        #expect(try await harness.messagesLeft() == 0)
    }

    @Test func aNotificationReceivedAgainSkipsWhatWasDelivered() async throws {
        let harness = try await SQSHarness.make(notify: false)
        defer { harness.remove() }
        let put = try await harness.fixture.put([
            ["key": "dup.json", "text": jsonLines("dup", count: 5), "compression": "gzip"]
        ])
        let body = try harness.fixture.notification("dup.json", #require(put["dup.json"]))
        try await harness.send([body])
        let source = try harness.source(extra: ", concurrency: 1")
        let sink = CollectingSink()
        _ = try await harness.pull(source, into: sink)
        try await harness.send([body])
        let again = try await harness.pull(try harness.source(extra: ", concurrency: 1"), into: sink)
        #expect(sink.events.count == 5)
        #expect(again.duplicatesFilteredOut == 5)
        #expect(again.sent == 0)
        #expect(try await harness.messagesLeft() == 0)
    }

    /// Puts `k.json` twice (four records, then five), sends both writes' notifications and reads them.
    /// Also checks that the key is counted once as written again.
    static func writeTwiceThenRead(_ harness: SQSHarness) async throws -> (CollectingSink, PullCycleStatistics) {
        let first = try await harness.fixture.put([["key": "k.json", "text": jsonLines("first", count: 4)]])
        let second = try await harness.fixture.put([["key": "k.json", "text": jsonLines("second", count: 5)]])
        try await harness.send([
            try harness.fixture.notification("k.json", #require(first["k.json"])),
            try harness.fixture.notification("k.json", #require(second["k.json"])),
        ])
        let sink = CollectingSink()
        let metrics = TestMetrics()
        let statistics = try await withMetricsFactory(metrics) {
            let source = try harness.source(extra: ", concurrency: 1")
            return try await harness.pull(source, into: sink, metrics: SourceMetrics(serviceName: "s3/test"))
        }
        let writtenAgain = try metrics.expectCounter(
            "trawl_s3_objects_changed_before_read_total",
            [("input", "s3"), ("service", "test"), ("change", "written_again")]
        )
        #expect(writtenAgain.totalValue == 1)
        return (sink, statistics)
    }

    /// Without versions, what a key held when it was announced is gone once it is written again: its
    /// current content is delivered once, under its own ETag, and the later write's notification finds it
    /// delivered. Before, the first notification delivered the new content under the old ETag and the second
    /// delivered it again.
    @Test func aKeyWrittenAgainBeforeItIsReadIsDeliveredOnceAsItIsNow() async throws {
        let harness = try await SQSHarness.make(notify: false)
        defer { harness.remove() }
        let (sink, statistics) = try await Self.writeTwiceThenRead(harness)
        #expect(sink.events.map { String(buffer: $0.body) } == (0..<5).map { #"{"id":"second-\#($0)"}"# })
        #expect(statistics.duplicatesFilteredOut == 5)
        #expect(harness.log.messages(containing: "was written again since it was announced (ETag").count == 1)
        #expect(try await harness.messagesLeft() == 0)
    }

    /// In a versioned bucket the version a notification names is still there after the key is written again:
    /// each version is read as it was written, once.
    @Test func eachVersionOfAKeyWrittenAgainBeforeItIsReadIsDeliveredOnce() async throws {
        let harness = try await SQSHarness.make(notify: false, versioned: true)
        defer { harness.remove() }
        let (sink, statistics) = try await Self.writeTwiceThenRead(harness)
        #expect(
            sink.events.map { String(buffer: $0.body) }
                == (0..<4).map { #"{"id":"first-\#($0)"}"# } + (0..<5).map { #"{"id":"second-\#($0)"}"# }
        )
        #expect(statistics.duplicatesFilteredOut == 0)
        #expect(harness.log.messages(containing: "which is no longer the current one").count == 1)
        #expect(try await harness.messagesLeft() == 0)
    }

    /// S3 reads its own writes, so an object a notification names and S3 does not have was deleted since:
    /// received again and again it would never be read. It is named in a warning and its message deleted;
    /// in a versioned bucket a delete marker only hides the key, and the version announced is read.
    @Test(arguments: [false, true])
    func anObjectDeletedBeforeItIsReadIsReportedOrReadAtItsVersion(versioned: Bool) async throws {
        let harness = try await SQSHarness.make(notify: false, versioned: versioned)
        defer { harness.remove() }
        let put = try await harness.fixture.put([["key": "gone.json", "text": jsonLines("gone", count: 3)]])
        try await harness.fixture.delete("gone.json")
        try await harness.send([try harness.fixture.notification("gone.json", #require(put["gone.json"]))])
        let sink = CollectingSink()
        let metrics = TestMetrics()
        try await withMetricsFactory(metrics) {
            let source = try harness.source(extra: ", concurrency: 1")
            _ = try await harness.pull(source, into: sink, metrics: SourceMetrics(serviceName: "s3/test"))
        }
        let deleted = harness.log.messages(containing: "was deleted before it could be read (S3 answers NoSuchKey)")
        let counted = try metrics.expectCounter(
            "trawl_s3_objects_changed_before_read_total",
            [("input", "s3"), ("service", "test"), ("change", "deleted")]
        )
        if versioned {
            #expect(sink.events.map { String(buffer: $0.body) } == (0..<3).map { #"{"id":"gone-\#($0)"}"# })
            #expect(deleted.isEmpty)
            #expect(counted.totalValue == 0)
        } else {
            #expect(sink.events.isEmpty)
            #expect(deleted.count == 1)
            #expect(counted.totalValue == 1)
        }
        #expect(try await harness.messagesLeft() == 0)
    }

    /// Two messages naming one object, taken at once: the ledger only knows the object once its events were
    /// delivered, so without waiting for each other both readers would send them.
    @Test func twoMessagesNamingOneObjectAtOnceDeliverItOnce() async throws {
        let harness = try await SQSHarness.make(notify: false)
        defer { harness.remove() }
        let put = try await harness.fixture.put([["key": "twice.json", "text": jsonLines("twice", count: 6)]])
        let body = try harness.fixture.notification("twice.json", #require(put["twice.json"]))
        try await harness.send([body, body])
        let sink = SlowSink(delay: .milliseconds(300))
        let statistics = try await harness.pull(try harness.source(extra: ", concurrency: 2"), into: sink)
        #expect(sink.events.map { String(buffer: $0.body) } == (0..<6).map { #"{"id":"twice-\#($0)"}"# })
        #expect(statistics.duplicatesFilteredOut == 6)
        #expect(harness.log.messages(containing: "is being read for another message: waiting").count == 1)
        #expect(try await harness.messagesLeft() == 0)
    }

    /// The same, with the two messages taken by two instances sharing the state store (two sources with
    /// ledgers of their own, as two processes have): the object is held in the store while it is read.
    @Test func twoInstancesTakingMessagesNamingOneObjectDeliverItOnce() async throws {
        let harness = try await SQSHarness.make(notify: false)
        defer { harness.remove() }
        let put = try await harness.fixture.put([["key": "shared.json", "text": jsonLines("shared", count: 6)]])
        let body = try harness.fixture.notification("shared.json", #require(put["shared.json"]))
        try await harness.send([body, body])
        let sinks = [SlowSink(delay: .milliseconds(300)), SlowSink(delay: .milliseconds(300))]
        let extra = ", concurrency: 1, sqs_max_messages: 1"
        let sources = [try harness.source(extra: extra), try harness.source(extra: extra)]
        let statistics = try await withThrowingTaskGroup(of: PullCycleStatistics.self) { group in
            for (source, sink) in zip(sources, sinks) { group.addTask { try await harness.pull(source, into: sink) } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        let delivered = sinks.flatMap(\.events).map { String(buffer: $0.body) }
        #expect(delivered == (0..<6).map { #"{"id":"shared-\#($0)"}"# })
        #expect(statistics.map(\.duplicatesFilteredOut).reduce(0, +) == 6)
        #expect(
            harness.log.messages(containing: "is being read by another Trawl process sharing the state store: waiting")
                .count == 1
        )
        #expect(try await harness.messagesLeft() == 0)
    }

    @Test func aSlowOutputKeepsTheMessageInvisibleWithHeartbeats() async throws {
        let harness = try await SQSHarness.make()
        defer { harness.remove() }
        try await harness.put([["key": "slow.json", "text": jsonLines("slow", count: 6), "compression": "gzip"]])
        let sink = SlowSink(delay: .milliseconds(900))
        _ = try await harness.pull(try harness.source(extra: ", sqs_visibility_heartbeat_in_seconds: 1"), into: sink)
        #expect(sink.events.count == 6)
        #expect(harness.log.messages(containing: "Extended the visibility of message").count >= 1)
        #expect(try await harness.messagesLeft() == 0)
    }

    @Test func cloudFunnelRecordsAreTaggedByCategoryAndCountedPerTag() async throws {
        let harness = try await SQSHarness.make()
        defer { harness.remove() }
        let categories = ["dns", "file", "file", "process", "mystery"]
        let text = categories.enumerated().map {
            #"{"event.category":"\#($0.element)","event.type":"T","event.time":1700000000000,"src.process.Storyline™.id":"\#($0.offset)"}"#
        }.joined(separator: "\n")
        try await harness.put([
            ["key": "s1/cloud_funnel/2026/11/23/account_id=1/a.log.gz", "text": text, "compression": "gzip"]
        ])
        let sink = CollectingSink()
        let tagger = RecordTagger(
            tag: "edr.sentinelone.dv.unknown",
            fieldRule: .cloudFunnel(fallback: "edr.sentinelone.dv.unknown")
        )
        _ = try await harness.pull(try harness.source(tagger: tagger), into: sink)
        #expect(
            sink.events.map(\.tag) == ["dns", "file", "file", "process", "unknown"].map { "edr.sentinelone.dv.\($0)" }
        )
        #expect(String(buffer: sink.events[0].body) == text.split(separator: "\n")[0].description)
        #expect(
            !harness.log.messages(
                containing:
                    "(Partial) Number of messages per tag sent so far in this partial pull cycle: {'edr.sentinelone.dv.dns': 1, 'edr.sentinelone.dv.file': 2, 'edr.sentinelone.dv.process': 1, 'edr.sentinelone.dv.unknown': 1}"
            ).isEmpty
        )
        #expect(!harness.log.messages(containing: "went to the fallback tag").isEmpty)
    }
}
