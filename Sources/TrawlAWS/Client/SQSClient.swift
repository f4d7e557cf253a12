import Crypto
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import TrawlCore

/// One message taken from a queue.
public struct SQSMessage: Sendable {
    public var messageID: String
    /// What deletes or hides the message again; valid for this receipt only.
    public var receiptHandle: String
    public var body: String
    public var md5OfBody: String?
    public var attributes: [String: String]

    public init(
        messageID: String,
        receiptHandle: String,
        body: String,
        md5OfBody: String?,
        attributes: [String: String]
    ) {
        self.messageID = messageID
        self.receiptHandle = receiptHandle
        self.body = body
        self.md5OfBody = md5OfBody
        self.attributes = attributes
    }

    /// How many times the queue has handed this message out, this receipt included.
    public var approximateReceiveCount: Int? { self.attributes["ApproximateReceiveCount"].flatMap { Int($0) } }

    /// Whether the body arrived as SQS sent it (its MD5 matches `MD5OfBody`).
    public var bodyIsIntact: Bool {
        guard let md5OfBody else { return true }
        return hexString(Insecure.MD5.hash(data: Array(self.body.utf8))) == md5OfBody.lowercased()
    }
}

/// What a DeleteMessageBatch achieved, entry by entry.
public struct SQSDeleteOutcome: Sendable {
    public struct Failure: Sendable {
        public var receiptHandle: String
        public var code: String
        public var message: String
        /// True when the request was wrong (an expired receipt handle); false for AWS-side failures.
        public var senderFault: Bool
    }
    public var deleted: [String] = []
    public var failed: [Failure] = []
}

/// Amazon SQS over its JSON protocol (`application/x-amz-json-1.0`, `X-Amz-Target: AmazonSQS.<Op>`).
public struct SQSClient: Sendable {
    public let client: AWSClient
    public let endpoint: AWSEndpoint
    public let credentials: any AWSCredentialProvider
    let signer: SigV4Signer

    public static let maximumVisibilityTimeout = 43_200

    public init(client: AWSClient, region: String, endpoint: AWSEndpoint? = nil, credentials: any AWSCredentialProvider)
    {
        self.client = client
        self.endpoint = endpoint ?? .standard(service: "sqs", region: region)
        self.credentials = credentials
        self.signer = SigV4Signer(region: region, service: "sqs")
    }

    /// The URL of queue `name`, owned by `ownerAccountID` when it is another account's.
    public func queueURL(name: String, ownerAccountID: String? = nil, logger: Logger) async throws -> String {
        struct Input: Encodable {
            var QueueName: String
            var QueueOwnerAWSAccountId: String?
        }
        struct Output: Decodable { var QueueUrl: String }
        let output: Output = try await self.call(
            "GetQueueUrl",
            Input(QueueName: name, QueueOwnerAWSAccountId: ownerAccountID),
            resource: ownerAccountID.map { "queue \(name) of account \($0)" } ?? "queue \(name)",
            logger: logger
        )
        return output.QueueUrl
    }

    /// Queue attributes (`QueueArn`, `ApproximateNumberOfMessages`, `VisibilityTimeout`, ...).
    public func queueAttributes(
        queueURL: String,
        names: [String] = ["All"],
        logger: Logger
    ) async throws -> [String: String] {
        struct Input: Encodable {
            var QueueUrl: String
            var AttributeNames: [String]
        }
        struct Output: Decodable { var Attributes: [String: String]? }
        let output: Output = try await self.call(
            "GetQueueAttributes",
            Input(QueueUrl: queueURL, AttributeNames: names),
            resource: queueURL,
            logger: logger
        )
        return output.Attributes ?? [:]
    }

    /// Long-polls for up to `maxMessages` (1-10) messages, hiding them for `visibilityTimeout` seconds.
    /// Messages whose body fails its MD5 check are left out (with a warning) and reappear once hidden no more.
    public func receiveMessages(
        queueURL: String,
        maxMessages: Int,
        waitTimeSeconds: Int,
        visibilityTimeout: Int?,
        logger: Logger
    ) async throws -> [SQSMessage] {
        struct Input: Encodable {
            var QueueUrl: String
            var MaxNumberOfMessages: Int
            var WaitTimeSeconds: Int
            var VisibilityTimeout: Int?
            var MessageSystemAttributeNames: [String]
            var AttributeNames: [String]
        }
        struct Message: Decodable {
            var MessageId: String
            var ReceiptHandle: String
            var Body: String
            var MD5OfBody: String?
            var Attributes: [String: String]?
        }
        struct Output: Decodable { var Messages: [Message]? }
        let attributes = ["ApproximateReceiveCount", "SentTimestamp", "ApproximateFirstReceiveTimestamp"]
        let output: Output = try await self.call(
            "ReceiveMessage",
            Input(
                QueueUrl: queueURL,
                MaxNumberOfMessages: min(max(maxMessages, 1), 10),
                WaitTimeSeconds: min(max(waitTimeSeconds, 0), 20),
                VisibilityTimeout: visibilityTimeout,
                MessageSystemAttributeNames: attributes,
                AttributeNames: attributes
            ),
            resource: queueURL,
            extraTimeout: .seconds(min(max(waitTimeSeconds, 0), 20)),
            logger: logger
        )
        var messages: [SQSMessage] = []
        for raw in output.Messages ?? [] {
            let message = SQSMessage(
                messageID: raw.MessageId,
                receiptHandle: raw.ReceiptHandle,
                body: raw.Body,
                md5OfBody: raw.MD5OfBody,
                attributes: raw.Attributes ?? [:]
            )
            guard message.bodyIsIntact else {
                logger.warning(
                    "Message body does not match its MD5OfBody; leaving the message in the queue to be received again",
                    metadata: ["sqs.message.id": "\(message.messageID)"]
                )
                continue
            }
            messages.append(message)
        }
        return messages
    }

    /// Deletes messages in batches of ten; failures are reported per entry, and those AWS blamed on itself
    /// are tried once more.
    public func deleteMessages(
        queueURL: String,
        receiptHandles: [String],
        logger: Logger
    ) async throws -> SQSDeleteOutcome {
        var outcome = SQSDeleteOutcome()
        var pending = receiptHandles
        for pass in 0..<2 where !pending.isEmpty {
            var retry: [String] = []
            for start in stride(from: 0, to: pending.count, by: 10) {
                let batch = Array(pending[start..<min(start + 10, pending.count)])
                let result = try await self.deleteBatch(queueURL: queueURL, receiptHandles: batch, logger: logger)
                outcome.deleted += result.deleted
                for failure in result.failed {
                    if !failure.senderFault, pass == 0 {
                        retry.append(failure.receiptHandle)
                    } else {
                        outcome.failed.append(failure)
                    }
                }
            }
            pending = retry
        }
        return outcome
    }

    func deleteBatch(queueURL: String, receiptHandles: [String], logger: Logger) async throws -> SQSDeleteOutcome {
        struct Entry: Codable {
            var Id: String
            var ReceiptHandle: String
        }
        struct Input: Encodable {
            var QueueUrl: String
            var Entries: [Entry]
        }
        struct Success: Decodable { var Id: String }
        struct Failure: Decodable {
            var Id: String
            var Code: String?
            var Message: String?
            var SenderFault: Bool?
        }
        struct Output: Decodable {
            var Successful: [Success]?
            var Failed: [Failure]?
        }
        let output: Output = try await self.call(
            "DeleteMessageBatch",
            Input(
                QueueUrl: queueURL,
                Entries: receiptHandles.enumerated().map { Entry(Id: String($0.offset), ReceiptHandle: $0.element) }
            ),
            resource: queueURL,
            logger: logger
        )
        var outcome = SQSDeleteOutcome()
        var answered = Set<Int>()
        for success in output.Successful ?? [] {
            guard let index = Int(success.Id), receiptHandles.indices.contains(index) else { continue }
            answered.insert(index)
            outcome.deleted.append(receiptHandles[index])
        }
        for failure in output.Failed ?? [] {
            guard let index = Int(failure.Id), receiptHandles.indices.contains(index) else { continue }
            answered.insert(index)
            outcome.failed.append(
                .init(
                    receiptHandle: receiptHandles[index],
                    code: failure.Code ?? "Unknown",
                    message: failure.Message ?? "",
                    senderFault: failure.SenderFault ?? true
                )
            )
        }
        for index in receiptHandles.indices where !answered.contains(index) {
            outcome.failed.append(
                .init(
                    receiptHandle: receiptHandles[index],
                    code: "MissingFromAnswer",
                    message: "DeleteMessageBatch answered neither success nor failure for this entry",
                    senderFault: false
                )
            )
        }
        return outcome
    }

    /// Hides a received message for `timeout` seconds from now (0 makes it visible at once).
    public func changeVisibility(
        queueURL: String,
        receiptHandle: String,
        timeout: Int,
        logger: Logger
    ) async throws {
        struct Input: Encodable {
            var QueueUrl: String
            var ReceiptHandle: String
            var VisibilityTimeout: Int
        }
        struct Output: Decodable {}
        let _: Output = try await self.call(
            "ChangeMessageVisibility",
            Input(
                QueueUrl: queueURL,
                ReceiptHandle: receiptHandle,
                VisibilityTimeout: min(max(timeout, 0), Self.maximumVisibilityTimeout)
            ),
            resource: queueURL,
            logger: logger
        )
    }

    func call<Input: Encodable, Output: Decodable>(
        _ operation: String,
        _ input: Input,
        resource: String,
        extraTimeout: Duration = .zero,
        logger: Logger
    ) async throws -> Output {
        let request = AWSClient.Request(
            method: .POST,
            endpoint: self.endpoint,
            headers: [
                ("Content-Type", "application/x-amz-json-1.0"),
                ("X-Amz-Target", "AmazonSQS.\(operation)"),
            ],
            body: Array(try JSONEncoder().encode(input))
        )
        let (_, body) = try await self.client.executeCollecting(
            request,
            signer: self.signer,
            credentials: self.credentials,
            operation: operation,
            resource: resource,
            extraTimeout: extraTimeout,
            logger: logger
        )
        let bytes = body.readableBytes == 0 ? Array("{}".utf8) : Array(body.readableBytesView)
        do {
            return try JSONDecoder().decode(Output.self, from: Data(bytes))
        } catch {
            throw TrawlError(
                .awsClientException,
                "AWS request client encountered an exception: SQS \(operation) answered JSON that cannot be read: \(error)",
                location: resource
            )
        }
    }
}
