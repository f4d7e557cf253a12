import Foundation

/// A bucket whose object-created notifications go to a queue, on the shared moto server: what an S3+SQS
/// collector follows. Tests put objects and send messages through it as an operator's pipeline would.
public struct MotoBucketQueue: Sendable {
    public let moto: MotoServer
    public let bucket: String
    public let queueURL: String

    /// A new bucket and queue with unique names; with `notify`, S3 announces each object created (and,
    /// like AWS, first sends an s3:TestEvent); with `versioned`, the bucket keeps versions.
    public static func make(notify: Bool = true, versioned: Bool = false) async throws -> MotoBucketQueue {
        let moto = try await MotoServer.open()
        let name = "trawl-\(UUID().uuidString.prefix(8).lowercased())"
        let answer = try await moto.fixtureJSON([
            "command": "bucket-queue", "bucket": name, "queue": name, "notify": notify, "versioned": versioned,
        ])
        guard let queueURL = answer["queue_url"] as? String else {
            throw PeerFailed(description: "bucket-queue answered no queue_url: \(answer)")
        }
        return MotoBucketQueue(moto: moto, bucket: name, queueURL: queueURL)
    }

    /// Puts objects: `["key": ..., "text": ..., "compression": "gzip"]` (gzip, gzip-multi, zstd, snappy,
    /// bzip2 or none), the text written in `"encoding"` if given (a Python codec: latin-1, cp1252, utf-16...).
    @discardableResult
    public func put(_ objects: [[String: String]]) async throws -> [String: PutObject] {
        let answer = try await self.moto.fixtureJSON(["command": "put", "bucket": self.bucket, "objects": objects])
        var put: [String: PutObject] = [:]
        for (key, value) in answer {
            guard let object = value as? [String: Any] else { continue }
            put[key] = PutObject(
                size: object["size"] as? Int ?? 0,
                eTag: object["etag"] as? String ?? "",
                versionID: object["version"] as? String
            )
        }
        return put
    }

    /// What S3 answered for one object put.
    public struct PutObject: Sendable {
        public var size: Int
        public var eTag: String
        public var versionID: String?
    }

    /// The S3 event notification AWS sends for `key` when it was put (with its version in a versioned bucket,
    /// which moto's own notifications leave out).
    public func notification(_ key: String, _ put: PutObject) -> String {
        self.notification([(key, put)])
    }

    /// One S3 event notification naming several objects put, in this order, as one message can.
    public func notification(_ objects: [(key: String, put: PutObject)]) -> String {
        let records = objects.map { key, put in
            let version = put.versionID.map { #","versionId":"\#($0)""# } ?? ""
            return
                #"{"eventVersion":"2.1","eventSource":"aws:s3","awsRegion":"us-east-1","eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"\#(self.bucket)"},"object":{"key":"\#(key)","size":\#(put.size),"eTag":"\#(put.eTag)"\#(version)}}}"#
        }
        return #"{"Records":["# + records.joined(separator: ",") + "]}"
    }

    /// Deletes `key` (in a versioned bucket a delete marker hides it; its versions stay).
    public func delete(_ key: String) async throws {
        try await self.moto.fixture(["command": "delete-object", "bucket": self.bucket, "key": key])
    }

    /// Deletes the queue: every SQS request naming it fails from then on, as when it is taken away under a
    /// running collector.
    public func deleteQueue() async throws {
        try await self.moto.fixture(["command": "delete-queue", "queue_url": self.queueURL])
    }

    /// Sends message bodies to the queue.
    public func send(_ bodies: [String]) async throws {
        try await self.moto.fixture(["command": "send", "queue_url": self.queueURL, "bodies": bodies])
    }

    /// Messages still in the queue, visible or not.
    public func messagesLeft() async throws -> Int {
        let counts = try await self.moto.fixtureJSON(["command": "queue-count", "queue_url": self.queueURL])
        return (counts["ApproximateNumberOfMessages"] as? Int ?? 0)
            + (counts["ApproximateNumberOfMessagesNotVisible"] as? Int ?? 0)
    }

    /// The service settings (YAML flow mapping entries) that point an S3+SQS input at this queue.
    public var serviceSettings: String {
        "base_url: \"\(self.queueURL)\", region: us-east-1, endpoint_url: \"\(self.moto.endpoint)\""
    }
}
