import Testing
import TrawlSources

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
}
