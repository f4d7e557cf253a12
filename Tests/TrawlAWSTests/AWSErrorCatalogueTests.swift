import Foundation
import Logging
import Testing
import TrawlAWS
import TrawlCore
import TrawlTesting

/// docs/errors.md lists exactly the ApiErrors defined in code, with the same words, and a real peer
/// (moto, or a canned HTTP answer where moto has no such error) makes the clients raise each one.
@Suite struct AWSErrorCatalogueTests {
    typealias Scenario = @Sendable () async throws -> Int?

    @Test func docsListExactlyTheApiErrorsDefinedWithTheSameWords() throws {
        let rows = try ErrorCatalogueDocument.rows(kinds: ["ApiError"])
        #expect(Set(rows.keys) == Set(TrawlError.Code.awsCatalogue.map(\.id)))
        for code in TrawlError.Code.awsCatalogue {
            #expect(rows[code.id] == [code.title, code.cause, code.fix], "docs/errors.md row \(code.id)")
        }
    }

    @Test func everyApiErrorHasAScenario() {
        #expect(Set(Self.scenarios.keys) == Set(TrawlError.Code.awsCatalogue.map(\.id)))
    }

    @Test(arguments: Self.scenarios.keys.sorted())
    func scenarioProducesItsError(id: Int) async throws {
        let produced = try await Self.scenarios[id]!()
        #expect(produced == id)
    }

    static let logger = Logger(label: "trawl.test") { _ in SwiftLogNoOpLogHandler() }

    /// The id of the TrawlError `body` throws.
    static func caught(_ body: () async throws -> Void) async -> Int? {
        do {
            try await body()
            return nil
        } catch let error as TrawlError {
            return error.code.id
        } catch {
            return nil
        }
    }

    /// The id a queue lookup raises with `key` on the signature-checking moto.
    static func queueLookup(key: MotoServer.AccessKey) async throws -> Int? {
        let moto = try await MotoServer.enforcingSignatures()
        return try await withAWS(moto, key: key) { aws in
            await Self.caught { _ = try await aws.sqs().queueURL(name: "catalogue-queue", logger: Self.logger) }
        }
    }

    static func client(_ endpoint: String, credentials: AWSCredentials) -> (AWSClient, SQSClient, S3Client) {
        let client = AWSClient(
            configuration: AWSClient.Configuration(
                requestTimeout: .milliseconds(300),
                retry: AWSRetryPolicy(maxAttempts: 2, baseDelay: .milliseconds(10))
            )
        )
        let provider = StaticCredentialProvider(credentials)
        let url = AWSEndpoint(url: endpoint)
        return (
            client, SQSClient(client: client, region: "us-east-1", endpoint: url, credentials: provider),
            S3Client(client: client, region: "us-east-1", endpoint: url, credentials: provider)
        )
    }

    static let key = AWSCredentials(accessKeyID: "AKIDEXAMPLE", secretAccessKey: "secret")

    static let scenarios: [Int: Scenario] = [
        401: {
            let moto = try await MotoServer.enforcingSignatures()
            return try await Self.queueLookup(key: moto.keys["trawl-limited"]!)
        },
        402: { try await Self.queueLookup(key: .init(id: "AKIAUNKNOWNKEY000001", secret: "x")) },
        403: {
            var expired = Self.key
            expired.expiration = UTCTimestamp(microsecondsSinceEpoch: 0)
            let (client, sqs, _) = Self.client("http://127.0.0.1:9", credentials: expired)
            let id = await Self.caught { _ = try await sqs.queueURL(name: "q", logger: Self.logger) }
            try await client.shutdown()
            return id
        },
        404: {
            let silent = try await PeerProcess.silentListener()
            defer { silent.stop() }
            let (client, sqs, _) = Self.client("http://127.0.0.1:\(silent.port)", credentials: Self.key)
            let id = await Self.caught { _ = try await sqs.queueURL(name: "q", logger: Self.logger) }
            try await client.shutdown()
            return id
        },
        420: {
            let moto = try await MotoServer.enforcingSignatures()
            return try await Self.queueLookup(key: .init(id: moto.adminKey.id, secret: "not-the-secret"))
        },
        421: {
            let moto = try await MotoServer.open()
            return try await withAWS(moto) { aws in
                await Self.caught { _ = try await aws.sqs().queueURL(name: "no-such-queue", logger: Self.logger) }
            }
        },
        423: {
            let canned = try await PeerProcess(
                [
                    PeerProcess.python, "\(RepositoryFiles.root)/Tests/Support/peers/canned_http.py", "400",
                    "{\"Content-Type\": \"application/x-amz-json-1.0\", "
                        + "\"x-amzn-query-error\": \"AWS.SimpleQueueService.QueueDeletedRecently;Sender\"}",
                    "{\"__type\":\"com.amazonaws.sqs#QueueDeletedRecently\",\"message\":\"You must wait 60 seconds "
                        + "after deleting a queue before you can create another with the same name.\"}",
                ],
                port: 0
            )
            defer { canned.stop() }
            let (client, sqs, _) = Self.client("http://127.0.0.1:\(canned.port)", credentials: Self.key)
            let id = await Self.caught { _ = try await sqs.queueURL(name: "q", logger: Self.logger) }
            try await client.shutdown()
            return id
        },
        430: {
            let moto = try await MotoServer.open()
            return try await withAWS(moto) { aws in
                await Self.caught {
                    _ = try await aws.s3().listObjects(bucket: "no-such-bucket-catalogue", logger: Self.logger)
                }
            }
        },
        431: {
            let moto = try await MotoServer.open()
            return try await withAWS(moto) { aws in
                let (bucket, _, _) = try await aws.bucketAndQueue(notify: false)
                try await moto.fixture([
                    "command": "put", "bucket": bucket,
                    "objects": [["key": "2019/trail.json.gz", "text": "{}", "storage_class": "GLACIER"]],
                ])
                return await Self.caught {
                    _ = try await aws.s3().getObject(bucket: bucket, key: "2019/trail.json.gz", logger: Self.logger)
                }
            }
        },
        499: {
            let moto = try await MotoServer.open()
            return try await withAWS(moto) { aws in
                let (bucket, _, _) = try await aws.bucketAndQueue(notify: false)
                return await Self.caught {
                    _ = try await aws.s3().getObject(bucket: bucket, key: "missing", logger: Self.logger)
                }
            }
        },
    ]
}
