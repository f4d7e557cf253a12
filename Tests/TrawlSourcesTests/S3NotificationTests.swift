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
}
