import Foundation
import TrawlAWS

/// One S3 object a notification names.
public struct S3ObjectReference: Sendable, Hashable, CustomStringConvertible {
    public var bucket: String
    /// The key to read: form-decoded from an S3 event notification (which encodes it: `+` is a space), as
    /// given in an EventBridge event (see ``alternateKey``).
    public var key: String
    /// Another reading of the key, tried when no object has ``key``: an EventBridge event does not say
    /// whether its key is form-encoded as S3 event notifications' are, so its key is read as given and,
    /// if that does not exist, decoded. Nil when decoding changes nothing.
    public var alternateKey: String?
    /// The bucket's region, as the notification gives it (S3 events' `awsRegion`, EventBridge's `region`);
    /// nil when it gives none, or something that is no region name (never used to build a host then).
    public var region: String?
    public var size: Int64?
    public var eTag: String?
    public var versionID: String?

    public init(
        bucket: String,
        key: String,
        alternateKey: String? = nil,
        region: String? = nil,
        size: Int64? = nil,
        eTag: String? = nil,
        versionID: String? = nil
    ) {
        self.bucket = bucket
        self.key = key
        self.alternateKey = alternateKey
        self.region = region
        self.size = size
        self.eTag = eTag
        self.versionID = versionID
    }

    /// `s3://bucket/key`
    public var description: String { "s3://\(self.bucket)/\(self.key)" }
}

/// What an SQS message body announces. Every shape AWS delivers is recognised without configuration: S3
/// event notifications (several records per message), the same wrapped by SNS (or SNS raw delivery),
/// EventBridge "Object Created" events, and the s3:TestEvent S3 sends when notifications are configured;
/// and CrowdStrike Falcon Data Replicator's own message (a batch of files in CrowdStrike's bucket), which
/// the seed's `aws_sqs_fdr_large` service reads.
public enum S3Notification: Sendable, Equatable {
    /// Objects were created: read them.
    case objectsCreated([S3ObjectReference])
    /// S3's test message, or events about something other than created objects: nothing to read.
    case nothingToRead(reason: String)

    /// Reads a message body.
    ///
    /// - Throws: ``NotificationUnrecognised`` when the body is none of the known shapes (a poison message).
    public static func parse(_ body: String) throws(NotificationUnrecognised) -> S3Notification {
        try Self.parse(body, depth: 0)
    }

    private static func parse(_ body: String, depth: Int) throws(NotificationUnrecognised) -> S3Notification {
        guard let data = body.data(using: .utf8),
            let document = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any]
        else {
            throw NotificationUnrecognised(reason: "the body is not a JSON object")
        }
        if document["Type"] as? String == "Notification", let message = document["Message"] as? String, depth == 0 {
            return try Self.parse(message, depth: 1)
        }
        if let type = document["Type"] as? String, type.hasSuffix("Confirmation"), depth == 0 {
            let topic = String(((document["TopicArn"] as? String) ?? "?").prefix(256)).debugDescription
            guard type == "SubscriptionConfirmation" else {
                return .nothingToRead(reason: "SNS \(String(type.prefix(40)).debugDescription) for topic \(topic)")
            }
            // Never confirmed by Trawl: whoever can send to the queue could subscribe it to their own topic.
            throw NotificationUnrecognised(
                reason:
                    "it is SNS asking to confirm this queue's subscription to topic \(topic), and until it is confirmed no notification from that topic arrives. If that topic is yours, confirm it (aws sns confirm-subscription --topic-arn <topic> --token <the message's Token>, or open its SubscribeURL), then delete this message"
            )
        }
        if document["Event"] as? String == "s3:TestEvent" {
            return .nothingToRead(reason: "s3:TestEvent")
        }
        if let records = document["Records"] as? [[String: Any]] {
            return try Self.s3Event(records)
        }
        if document["detail-type"] as? String != nil, document["source"] as? String == "aws.s3" {
            return try Self.eventBridge(document)
        }
        if document["cid"] is String, let bucket = document["bucket"] as? String, let files = document["files"] {
            return try Self.falconDataReplicator(bucket: bucket, files: files)
        }
        throw NotificationUnrecognised(
            reason:
                "the JSON has none of Records, an SNS Message, an EventBridge aws.s3 detail, s3:TestEvent or a CrowdStrike FDR file list"
        )
    }

    /// `{"cid", "timestamp", "fileCount", "totalSize", "bucket", "pathPrefix", "files": [{"path", "size",
    /// "checksum"}]}`: the files of one FDR batch, keys as they are (not form-encoded).
    private static func falconDataReplicator(
        bucket: String,
        files: Any
    ) throws(NotificationUnrecognised) -> S3Notification {
        guard let files = files as? [[String: Any]] else {
            throw NotificationUnrecognised(reason: "a CrowdStrike FDR message's files is not a list of objects")
        }
        try Self.checkBucketName(bucket)
        var objects: [S3ObjectReference] = []
        for file in files {
            guard let path = file["path"] as? String, !path.isEmpty else {
                throw NotificationUnrecognised(reason: "a file of a CrowdStrike FDR message has no path")
            }
            objects.append(S3ObjectReference(bucket: bucket, key: path, size: (file["size"] as? NSNumber)?.int64Value))
        }
        if objects.isEmpty { return .nothingToRead(reason: "a CrowdStrike FDR message with no files") }
        return .objectsCreated(objects)
    }

    private static func s3Event(_ records: [[String: Any]]) throws(NotificationUnrecognised) -> S3Notification {
        var objects: [S3ObjectReference] = []
        var ignored: [String] = []
        for record in records {
            guard record["eventSource"] as? String == "aws:s3" else {
                throw NotificationUnrecognised(
                    reason: "a record's eventSource is \(record["eventSource"] ?? "missing"), not aws:s3"
                )
            }
            let version = (record["eventVersion"] as? String) ?? ""
            guard version.split(separator: ".").first == "2" else {
                throw NotificationUnrecognised(reason: "S3 event version \(version) is not 2.x")
            }
            let name = (record["eventName"] as? String) ?? ""
            guard name.hasPrefix("ObjectCreated:") else {
                ignored.append(name)
                continue
            }
            guard let s3 = record["s3"] as? [String: Any],
                let bucket = (s3["bucket"] as? [String: Any])?["name"] as? String,
                let object = s3["object"] as? [String: Any],
                let rawKey = object["key"] as? String
            else {
                throw NotificationUnrecognised(reason: "an ObjectCreated record lacks s3.bucket.name or s3.object.key")
            }
            try Self.checkBucketName(bucket)
            objects.append(
                S3ObjectReference(
                    bucket: bucket,
                    key: AWSPercentEncoding.decode(rawKey, plusIsSpace: true) ?? rawKey,
                    region: (record["awsRegion"] as? String).flatMap { isRegion($0) ? $0 : nil },
                    size: (object["size"] as? NSNumber)?.int64Value,
                    eTag: object["eTag"] as? String,
                    versionID: Self.version(object["versionId"])
                )
            )
        }
        if objects.isEmpty {
            return .nothingToRead(reason: "events other than ObjectCreated: \(ignored.joined(separator: ", "))")
        }
        return .objectsCreated(objects)
    }

    /// A notification's version id, if it names a version: S3 calls the version of an object written while
    /// versioning was off or suspended "null", which every later such write replaces, so that name says
    /// nothing about the content (the ETag does).
    private static func version(_ value: Any?) -> String? {
        guard let version = value as? String, !version.isEmpty, version != "null" else { return nil }
        return version
    }

    private static func eventBridge(_ document: [String: Any]) throws(NotificationUnrecognised) -> S3Notification {
        let type = document["detail-type"] as? String ?? ""
        guard type == "Object Created" else { return .nothingToRead(reason: "EventBridge \(type)") }
        guard let detail = document["detail"] as? [String: Any],
            let bucket = (detail["bucket"] as? [String: Any])?["name"] as? String,
            let object = detail["object"] as? [String: Any],
            let key = object["key"] as? String
        else {
            throw NotificationUnrecognised(
                reason: "an EventBridge Object Created event lacks detail.bucket.name or detail.object.key"
            )
        }
        try Self.checkBucketName(bucket)
        let decoded = AWSPercentEncoding.decode(key, plusIsSpace: true)
        return .objectsCreated([
            S3ObjectReference(
                bucket: bucket,
                key: key,
                alternateKey: decoded == key ? nil : decoded,
                region: (document["region"] as? String).flatMap { isRegion($0) ? $0 : nil },
                size: (object["size"] as? NSNumber)?.int64Value,
                eTag: object["etag"] as? String,
                versionID: Self.version(object["version-id"])
            )
        ])
    }
}

extension S3Notification {
    /// Refuses a bucket name S3 would not have given: the name becomes part of the host or path a signed
    /// request goes to, so a message must not be able to put `/`, `@`, `:` or `#` there. Letters of both
    /// cases, digits, `.`, `-` and `_`, 3 to 255 of them: today's rules and the legacy names of us-east-1.
    static func checkBucketName(_ bucket: String) throws(NotificationUnrecognised) {
        let valid =
            (3...255).contains(bucket.utf8.count)
            && bucket.utf8.allSatisfy { AWSPercentEncoding.isUnreserved($0) && $0 != UInt8(ascii: "~") }
        guard valid else {
            throw NotificationUnrecognised(
                reason: "\(String(bucket.prefix(80)).debugDescription) is not an S3 bucket name"
            )
        }
    }
}

/// A message body that is not an S3 notification.
public struct NotificationUnrecognised: Error, Sendable, CustomStringConvertible {
    public var reason: String
    public var description: String { self.reason }
}
