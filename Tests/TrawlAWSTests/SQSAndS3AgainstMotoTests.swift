import Crypto
import Foundation
import Logging
import NIOCore
import Testing
import TrawlAWS
import TrawlCore
import TrawlTesting

/// The S3 and SQS clients against a real emulator: notifications, streaming, listing, batch deletes and
/// visibility, and the errors of missing resources.
@Suite struct SQSAndS3AgainstMotoTests {
    /// The object keys S3 event notifications announce, decoded (`+` is a space, `%XX` escapes).
    static func notifiedKeys(_ messages: [SQSMessage]) throws -> [String] {
        try messages.flatMap { message -> [String] in
            let event = try JSONSerialization.jsonObject(with: Data(message.body.utf8)) as? [String: Any]
            let records = event?["Records"] as? [[String: Any]] ?? []
            return records.compactMap { record in
                let object = (record["s3"] as? [String: Any])?["object"] as? [String: Any]
                return (object?["key"] as? String).flatMap { AWSPercentEncoding.decode($0, plusIsSpace: true) }
            }
        }
    }

    static func sha256(_ stream: S3ObjectStream) async throws -> (String, Int) {
        var hasher = SHA256()
        var count = 0
        for try await chunk in stream {
            chunk.withUnsafeReadableBytes { hasher.update(bufferPointer: $0) }
            count += chunk.readableBytes
        }
        return (hexString(hasher.finalize()), count)
    }

    static func hexString(_ digest: some Sequence<UInt8>) -> String {
        digest.map { String(format: "%02x", $0) }.joined()
    }

    /// Receives until `count` messages arrived (moto delivers notifications as objects are put).
    static func receive(
        _ count: Int,
        from sqs: SQSClient,
        queueURL: String,
        logger: Logger
    ) async throws -> [SQSMessage] {
        var messages: [SQSMessage] = []
        for _ in 0..<20 where messages.count < count {
            messages += try await sqs.receiveMessages(
                queueURL: queueURL,
                maxMessages: 10,
                waitTimeSeconds: 1,
                visibilityTimeout: 60,
                logger: logger
            )
        }
        return messages
    }

    @Test func notifiedObjectsStreamBackByteForByteAndTheirMessagesAreDeletedInBatches() async throws {
        let moto = try await MotoServer.open()
        let recording = RecordingLogger()
        try await withAWS(moto) { aws in
            let (bucket, _, queueURL) = try await aws.bucketAndQueue()
            let keys = ["logs/plain.json", "logs/a b/ñandú + café ™.json.gz", "logs/binary.bin"]
            let expected = try await aws.put(
                bucket,
                [
                    ["key": keys[0], "text": "{\"a\":1}\n"],
                    ["key": keys[1], "text": "{\"ñ\":\"™\"}\n"],
                    ["key": keys[2], "size": 3 * 1024 * 1024 + 17, "seed": "binary"],
                ]
            )
            let sqs = aws.sqs()
            let messages = try await Self.receive(4, from: sqs, queueURL: queueURL, logger: recording.logger)
            #expect(Set(try Self.notifiedKeys(messages)) == Set(keys))
            // Configuring the notification made S3 send one test event, as AWS does.
            #expect(messages.filter { $0.body.contains("\"s3:TestEvent\"") }.count == 1)
            #expect(messages.allSatisfy { $0.approximateReceiveCount == 1 && $0.bodyIsIntact })

            let s3 = aws.s3()
            for key in try Self.notifiedKeys(messages) {
                let stream = try await s3.getObject(bucket: bucket, key: key, logger: recording.logger)
                let (digest, size) = try await Self.sha256(stream)
                #expect(digest == expected[key]?.sha256, "\(key)")
                #expect(size == expected[key]?.size)
                let info = try await s3.headObject(bucket: bucket, key: key, logger: recording.logger)
                #expect(info.size == Int64(expected[key]?.size ?? -1))
            }
            let tail = try await s3.getObject(bucket: bucket, key: keys[2], offset: 1_000_000, logger: recording.logger)
            let (_, tailSize) = try await Self.sha256(tail)
            #expect(tailSize == 3 * 1024 * 1024 + 17 - 1_000_000)

            let outcome = try await sqs.deleteMessages(
                queueURL: queueURL,
                receiptHandles: messages.map(\.receiptHandle),
                logger: recording.logger
            )
            #expect(outcome.deleted.count == 4)
            #expect(outcome.failed.isEmpty)
            let counts = try await moto.fixtureJSON(["command": "queue-count", "queue_url": queueURL])
            #expect(counts["ApproximateNumberOfMessages"] as? Int == 0)
            #expect(counts["ApproximateNumberOfMessagesNotVisible"] as? Int == 0)
        }
    }

    @Test func listingsPageWithContinuationAndDecodeKeys() async throws {
        let moto = try await MotoServer.open()
        let recording = RecordingLogger()
        try await withAWS(moto) { aws in
            let (bucket, _, _) = try await aws.bucketAndQueue()
            let keys = (0..<7).map { "AWSLogs/123/CloudTrail/eu west/ñ+\($0).json" } + ["other/x.json"]
            try await aws.put(bucket, keys.map { ["key": $0, "text": $0] })
            let s3 = aws.s3()
            var token: String?
            var pages = 0
            var listed: [String] = []
            repeat {
                let page = try await s3.listObjects(
                    bucket: bucket,
                    prefix: "AWSLogs/",
                    continuationToken: token,
                    maxKeys: 3,
                    logger: recording.logger
                )
                listed += page.objects.map(\.key)
                #expect(page.objects.allSatisfy { $0.size > 0 && $0.lastModified != nil })
                token = page.nextContinuationToken
                pages += 1
            } while token != nil
            #expect(pages == 3)
            #expect(listed.sorted() == keys.dropLast().sorted())
            let all = try await s3.listAllObjects(bucket: bucket, logger: recording.logger)
            #expect(all.count == 8)
        }
    }

    @Test func hiddenMessagesReturnWhenTheirVisibilityIsChanged() async throws {
        let moto = try await MotoServer.open()
        let recording = RecordingLogger()
        try await withAWS(moto) { aws in
            let (_, queue, queueURL) = try await aws.bucketAndQueue(notify: false)
            try await moto.fixture(["command": "send", "queue_url": queueURL, "bodies": ["one"]])
            let sqs = aws.sqs()
            #expect(try await sqs.queueURL(name: queue, logger: recording.logger) == queueURL)
            #expect(
                try await sqs.queueURL(name: queue, ownerAccountID: MotoServer.accountID, logger: recording.logger)
                    == queueURL
            )
            let attributes = try await sqs.queueAttributes(queueURL: queueURL, logger: recording.logger)
            #expect(attributes["QueueArn"] == "arn:aws:sqs:us-east-1:\(MotoServer.accountID):\(queue)")

            let first = try await sqs.receiveMessages(
                queueURL: queueURL,
                maxMessages: 10,
                waitTimeSeconds: 0,
                visibilityTimeout: 600,
                logger: recording.logger
            )
            #expect(first.map(\.body) == ["one"])
            let hidden = try await sqs.receiveMessages(
                queueURL: queueURL,
                maxMessages: 10,
                waitTimeSeconds: 0,
                visibilityTimeout: 600,
                logger: recording.logger
            )
            #expect(hidden.isEmpty)
            try await sqs.changeVisibility(
                queueURL: queueURL,
                receiptHandle: first[0].receiptHandle,
                timeout: 0,
                logger: recording.logger
            )
            let again = try await sqs.receiveMessages(
                queueURL: queueURL,
                maxMessages: 10,
                waitTimeSeconds: 0,
                visibilityTimeout: 600,
                logger: recording.logger
            )
            #expect(again.map(\.body) == ["one"])
            #expect(again.first?.approximateReceiveCount == 2)
        }
    }

    @Test func aBatchDeleteReportsTheEntriesThatFailed() async throws {
        let moto = try await MotoServer.open()
        let recording = RecordingLogger()
        try await withAWS(moto) { aws in
            let (_, _, queueURL) = try await aws.bucketAndQueue(notify: false)
            try await moto.fixture(["command": "send", "queue_url": queueURL, "bodies": (0..<12).map { "m\($0)" }])
            let sqs = aws.sqs()
            var messages: [SQSMessage] = []
            for _ in 0..<5 where messages.count < 12 {
                messages += try await sqs.receiveMessages(
                    queueURL: queueURL,
                    maxMessages: 10,
                    waitTimeSeconds: 0,
                    visibilityTimeout: 600,
                    logger: recording.logger
                )
            }
            #expect(messages.count == 12)
            let handles = messages.map(\.receiptHandle) + ["not-a-receipt-handle"]
            let outcome = try await sqs.deleteMessages(
                queueURL: queueURL,
                receiptHandles: handles,
                logger: recording.logger
            )
            #expect(outcome.deleted.count == 12)
            #expect(outcome.failed.map(\.receiptHandle) == ["not-a-receipt-handle"])
            #expect(outcome.failed.first?.senderFault == true)
            #expect(outcome.failed.first?.code.isEmpty == false)
        }
    }

    @Test func aMissingQueueIsError421AndAMissingBucketIsError430() async throws {
        let moto = try await MotoServer.open()
        let recording = RecordingLogger()
        try await withAWS(moto) { aws in
            let sqs = aws.sqs()
            let queueError = await #expect(throws: TrawlError.self) {
                _ = try await sqs.queueURL(name: "no-such-queue", logger: recording.logger)
            }
            #expect(queueError?.code.id == 421)
            #expect(queueError?.message == "AWS SQS queue does not exist")
            #expect(queueError?.location == "queue no-such-queue")
            let receiveError = await #expect(throws: TrawlError.self) {
                _ = try await sqs.receiveMessages(
                    queueURL: "\(moto.endpoint)/\(MotoServer.accountID)/no-such-queue",
                    maxMessages: 1,
                    waitTimeSeconds: 0,
                    visibilityTimeout: nil,
                    logger: recording.logger
                )
            }
            #expect(receiveError?.code.id == 421)

            let s3 = aws.s3()
            let bucketError = await #expect(throws: TrawlError.self) {
                _ = try await s3.getObject(bucket: "no-such-bucket-trawl", key: "x", logger: recording.logger)
            }
            #expect(bucketError?.code.id == 430)
            #expect(bucketError?.message == "AWS S3 bucket does not exist")
            #expect(bucketError?.location == "s3://no-such-bucket-trawl/x")
            let listError = await #expect(throws: TrawlError.self) {
                _ = try await s3.listObjects(bucket: "no-such-bucket-trawl", logger: recording.logger)
            }
            #expect(listError?.code.id == 430)
            // Client errors are not retried.
            #expect(recording.messages(containing: "Retrying").isEmpty)
        }
    }

    @Test func aMissingKeyIsError499WithAwsCodeInTheMessage() async throws {
        let moto = try await MotoServer.open()
        let recording = RecordingLogger()
        try await withAWS(moto) { aws in
            let (bucket, _, _) = try await aws.bucketAndQueue()
            let error = await #expect(throws: TrawlError.self) {
                _ = try await aws.s3().getObject(bucket: bucket, key: "missing/key.gz", logger: recording.logger)
            }
            #expect(error?.code.id == 499)
            #expect(error?.message == "AWS request client encountered an exception: NoSuchKey")
            #expect((error?.underlying as? AWSServiceError)?.status == 404)
        }
    }
}
