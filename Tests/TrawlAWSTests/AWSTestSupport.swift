import Foundation
import Logging
import TrawlAWS
import TrawlCore
import TrawlTesting

/// Builds AWS clients against a moto server for one test, and shuts them down.
func withAWS<T>(
    _ moto: MotoServer,
    key: MotoServer.AccessKey? = nil,
    configuration: AWSClient.Configuration = AWSClient.Configuration(
        requestTimeout: .seconds(30),
        retry: AWSRetryPolicy(maxAttempts: 3, baseDelay: .milliseconds(20), maxDelay: .milliseconds(200))
    ),
    _ body: (AWSTestbed) async throws -> T
) async throws -> T {
    let client = AWSClient(configuration: configuration)
    let key = key ?? moto.adminKey
    let testbed = AWSTestbed(
        moto: moto,
        client: client,
        credentials: StaticCredentialProvider(AWSCredentials(accessKeyID: key.id, secretAccessKey: key.secret))
    )
    do {
        let result = try await body(testbed)
        try await client.shutdown()
        return result
    } catch {
        try? await client.shutdown()
        throw error
    }
}

struct AWSTestbed {
    let moto: MotoServer
    let client: AWSClient
    let credentials: any AWSCredentialProvider

    var endpoint: AWSEndpoint { AWSEndpoint(url: self.moto.endpoint)! }

    func s3(_ credentials: (any AWSCredentialProvider)? = nil, endpoint: AWSEndpoint? = nil) -> S3Client {
        S3Client(
            client: self.client,
            region: "us-east-1",
            endpoint: endpoint ?? self.endpoint,
            addressing: .path,
            credentials: credentials ?? self.credentials
        )
    }

    func sqs(_ credentials: (any AWSCredentialProvider)? = nil) -> SQSClient {
        SQSClient(
            client: self.client,
            region: "us-east-1",
            endpoint: self.endpoint,
            credentials: credentials ?? self.credentials
        )
    }

    func sts(_ credentials: (any AWSCredentialProvider)? = nil) -> STSClient {
        STSClient(
            client: self.client,
            region: "us-east-1",
            endpoint: self.endpoint,
            credentials: credentials ?? self.credentials
        )
    }

    /// A new bucket and a new queue, both uniquely named, the bucket notifying the queue when `notify`;
    /// returns their names and the queue URL.
    func bucketAndQueue(notify: Bool = true) async throws -> (bucket: String, queue: String, queueURL: String) {
        let suffix = UUID().uuidString.prefix(8).lowercased()
        let bucket = "trawl-test-\(suffix)"
        let queue = "trawl-test-\(suffix)"
        let answer = try await self.moto.fixtureJSON([
            "command": "bucket-queue", "bucket": bucket, "queue": queue, "notify": notify,
        ])
        return (bucket, queue, answer["queue_url"] as! String)
    }

    /// Puts objects and returns each key's SHA-256 and size.
    @discardableResult
    func put(
        _ bucket: String,
        _ objects: [[String: any Sendable]]
    ) async throws -> [String: (sha256: String, size: Int)] {
        let answer = try await self.moto.fixtureJSON(["command": "put", "bucket": bucket, "objects": objects])
        return answer.mapValues { value in
            let entry = value as! [String: Any]
            return (entry["sha256"] as! String, entry["size"] as! Int)
        }
    }
}

extension TrawlError {
    var id: Int { self.code.id }
}
