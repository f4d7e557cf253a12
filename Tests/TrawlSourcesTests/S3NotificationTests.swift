import Testing
import TrawlSources

@Suite struct S3NotificationTests {
    @Test func theBucketsRegionIsTakenFromS3EventsAndEventBridgeButOnlyWhenItIsARegionName() throws {
        func s3Event(region: String) -> String {
            #"{"Records":[{"eventVersion":"2.1","eventSource":"aws:s3","awsRegion":"\#(region)","eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"logs"},"object":{"key":"a.gz","size":1}}}]}"#
        }
        let bridge =
            #"{"version":"0","detail-type":"Object Created","source":"aws.s3","region":"ap-southeast-2","detail":{"bucket":{"name":"logs"},"object":{"key":"b.gz"}}}"#
        func regions(_ body: String) throws -> [String?] {
            guard case .objectsCreated(let objects) = try S3Notification.parse(body) else { return [] }
            return objects.map(\.region)
        }
        #expect(try regions(s3Event(region: "us-west-2")) == ["us-west-2"])
        #expect(try regions(bridge) == ["ap-southeast-2"])
        #expect(try regions(s3Event(region: "evil.example.com/x")) == [nil])
        #expect(try regions(s3Event(region: "")) == [nil])
    }

    /// S3 names "null" the version written while versioning is off or suspended, and every such write of the
    /// key replaces it: as a ledger name it would make the next write of the key look delivered.
    @Test func theNullVersionNamesNoVersionSoTheETagNamesTheObject() throws {
        let s3Event =
            #"{"Records":[{"eventVersion":"2.1","eventSource":"aws:s3","eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"logs"},"object":{"key":"a.gz","eTag":"e1","versionId":"null"}}}]}"#
        let bridge =
            #"{"detail-type":"Object Created","source":"aws.s3","detail":{"bucket":{"name":"logs"},"object":{"key":"b.gz","etag":"e2","version-id":"null"}}}"#
        let versioned =
            #"{"detail-type":"Object Created","source":"aws.s3","detail":{"bucket":{"name":"logs"},"object":{"key":"c.gz","etag":"e3","version-id":"3HL4kqtJlcpXroDTDmJ"}}}"#
        func objects(_ body: String) throws -> [S3ObjectReference] {
            guard case .objectsCreated(let objects) = try S3Notification.parse(body) else { return [] }
            return objects
        }
        #expect(try objects(s3Event).map(\.versionID) == [nil])
        #expect(try objects(bridge).map(\.versionID) == [nil])
        #expect(try objects(versioned).map(\.versionID) == ["3HL4kqtJlcpXroDTDmJ"])
        #expect(try objects(s3Event).map { S3ObjectLedger.identity(of: $0, eTag: nil) } == ["logs/a.gz#e1"])
    }

    @Test func aCrowdStrikeFDRMessageNamesEveryFileOfItsBatchInItsBucket() throws {
        let message =
            #"{"cid":"1a2b3c","timestamp":1492726639137,"fileCount":2,"totalSize":349986220,"bucket":"cs-prod-cannon-0a1b","pathPrefix":"data/f0714ca5","files":[{"path":"data/f0714ca5/part-00000.gz","size":90506436,"checksum":"69fe068d"},{"path":"fdrv2/aidmaster/data/f0714ca5/part-00000.gz","size":1024,"checksum":"0cc175b9"}]}"#
        #expect(
            try S3Notification.parse(message)
                == .objectsCreated([
                    S3ObjectReference(
                        bucket: "cs-prod-cannon-0a1b",
                        key: "data/f0714ca5/part-00000.gz",
                        size: 90_506_436
                    ),
                    S3ObjectReference(
                        bucket: "cs-prod-cannon-0a1b",
                        key: "fdrv2/aidmaster/data/f0714ca5/part-00000.gz",
                        size: 1_024
                    ),
                ])
        )
        #expect(
            try S3Notification.parse(#"{"cid":"1a2b3c","bucket":"cs-prod-cannon-0a1b","files":[]}"#)
                == .nothingToRead(reason: "a CrowdStrike FDR message with no files")
        )
        for broken in [
            #"{"cid":"1a2b3c","bucket":"cs-prod-cannon-0a1b","files":[{"size":1}]}"#,
            #"{"cid":"1a2b3c","bucket":"cs-prod-cannon-0a1b","files":"data/x.gz"}"#,
        ] {
            #expect(throws: NotificationUnrecognised.self) { try S3Notification.parse(broken) }
        }
    }

    /// A cross-account SNS subscription sends the queue a confirmation request: Trawl does not confirm it (a
    /// sender could subscribe the queue to its own topic) but says what it is and how to confirm it, instead
    /// of calling it a message of unknown shape.
    @Test func anSNSSubscriptionConfirmationIsLeftWithHowToConfirmItAndAnUnsubscribeIsNothingToRead() throws {
        let confirmation =
            #"{"Type":"SubscriptionConfirmation","MessageId":"165545c9","Token":"2336412f37fb687f5d51e6e2425c464d","TopicArn":"arn:aws:sns:us-west-2:123456789012:MyTopic","Message":"You have chosen to subscribe to the topic arn:aws:sns:us-west-2:123456789012:MyTopic.","SubscribeURL":"https://sns.us-west-2.amazonaws.com/?Action=ConfirmSubscription&TopicArn=arn:aws:sns:us-west-2:123456789012:MyTopic&Token=2336412f37","SignatureVersion":"1"}"#
        let error = #expect(throws: NotificationUnrecognised.self) { try S3Notification.parse(confirmation) }
        let reason = try #require(error?.reason)
        let topic = #""arn:aws:sns:us-west-2:123456789012:MyTopic""#
        #expect(reason.contains("SNS asking to confirm this queue's subscription to topic \(topic)"))
        #expect(reason.contains("aws sns confirm-subscription"))
        let unsubscribed =
            #"{"Type":"UnsubscribeConfirmation","TopicArn":"arn:aws:sns:us-west-2:123456789012:MyTopic","Token":"t"}"#
        #expect(
            try S3Notification.parse(unsubscribed)
                == .nothingToRead(
                    reason: #"SNS "UnsubscribeConfirmation" for topic "arn:aws:sns:us-west-2:123456789012:MyTopic""#
                )
        )
    }

    @Test func aBucketNameThatCouldReshapeTheRequestMakesAPoisonMessage() throws {
        func s3Event(bucket: String) -> String {
            #"{"Records":[{"eventVersion":"2.1","eventSource":"aws:s3","eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"\#(bucket)"},"object":{"key":"a.gz"}}}]}"#
        }
        func bridge(bucket: String) -> String {
            #"{"detail-type":"Object Created","source":"aws.s3","detail":{"bucket":{"name":"\#(bucket)"},"object":{"key":"b.gz"}}}"#
        }
        func falcon(bucket: String) -> String {
            #"{"cid":"c","bucket":"\#(bucket)","files":[{"path":"data/x.gz"}]}"#
        }
        for hostile in ["evil.example.com/x", "user@evil", "evil:8443", "a#b", "ab", ""] {
            for body in [s3Event(bucket: hostile), bridge(bucket: hostile), falcon(bucket: hostile)] {
                let error = #expect(throws: NotificationUnrecognised.self) { try S3Notification.parse(body) }
                #expect(error?.reason.hasSuffix("is not an S3 bucket name") == true, "\(body)")
            }
        }
        for legacy in ["My_Legacy.Bucket-1", "cs-prod-cannon-0a1b"] {
            guard case .objectsCreated(let objects) = try S3Notification.parse(s3Event(bucket: legacy)) else {
                Issue.record("\(legacy) was refused")
                continue
            }
            #expect(objects.map(\.bucket) == [legacy])
        }
    }
}
