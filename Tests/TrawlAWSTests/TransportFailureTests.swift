import Crypto
import Foundation
import Logging
import NIOCore
import Testing
import TrawlAWS
import TrawlCore
import TrawlTesting

/// What happens when the network misbehaves: refused connections and silent peers are retried and end in
/// 499 and 404; an object read whose connection is cut resumes with Range requests; expired credentials
/// are refused before anything is sent.
@Suite struct TransportFailureTests {
    static let quickRetries = AWSClient.Configuration(
        requestTimeout: .milliseconds(500),
        retry: AWSRetryPolicy(maxAttempts: 3, baseDelay: .milliseconds(10), maxDelay: .milliseconds(50))
    )

    static func credentials() -> StaticCredentialProvider {
        StaticCredentialProvider(AWSCredentials(accessKeyID: "AKIDEXAMPLE", secretAccessKey: "secret"))
    }

    @Test func aRefusedConnectionIsRetriedThenError499() async throws {
        let port = try PeerProcess.refusingPort()
        let recording = RecordingLogger()
        let client = AWSClient(configuration: Self.quickRetries)
        let sqs = SQSClient(
            client: client,
            region: "us-east-1",
            endpoint: AWSEndpoint(url: "http://127.0.0.1:\(port)"),
            credentials: Self.credentials()
        )
        let error = await #expect(throws: TrawlError.self) {
            _ = try await sqs.queueURL(name: "q", logger: recording.logger)
        }
        try await client.shutdown()
        #expect(error?.code.id == 499)
        #expect(error?.message.contains("failed after 3 attempt(s)") == true)
        #expect(
            error?.message.hasSuffix("connection refused: nothing accepts connections at that address and port")
                == true,
            "\(String(describing: error))"
        )
        #expect(error?.fix.hasPrefix("Check that this host reaches the endpoint named") == true)
        let retries = recording.messages(containing: "Retrying in")
        #expect(retries.count == 2)
        #expect(retries.first?.contains("after attempt 1 of 3 failed: ") == true, "\(retries)")
        #expect(retries.allSatisfy { !$0.contains("attempt(s)") }, "each retry counts its attempt once: \(retries)")
    }

    /// The time limit fails a request that hangs; the lower bound proves each of the three attempts waited
    /// its whole timeout. No upper bound on the wall clock: while the whole suite starts at once a Python
    /// peer here has taken 11 s to start, and the three attempts 11.7 s.
    @Test(.timeLimit(.minutes(1))) func aPeerThatNeverAnswersIsError404AfterTheTimeout() async throws {
        let silent = try await PeerProcess.silentListener()
        defer { silent.stop() }
        let recording = RecordingLogger()
        let client = AWSClient(configuration: Self.quickRetries)
        let s3 = S3Client(
            client: client,
            region: "us-east-1",
            endpoint: AWSEndpoint(url: "http://127.0.0.1:\(silent.port)"),
            credentials: Self.credentials()
        )
        let started = ContinuousClock.now
        let error = await #expect(throws: TrawlError.self) {
            _ = try await s3.headObject(bucket: "bucket", key: "key", logger: recording.logger)
        }
        try await client.shutdown()
        #expect(error?.code.id == 404)
        #expect(error?.message == "AWS request timed out: s3 HeadObject failed after 3 attempt(s)")
        #expect(ContinuousClock.now - started >= Self.quickRetries.requestTimeout * 3)
        let retries = recording.messages(containing: "Retrying in")
        #expect(retries.count == 2)
        #expect(retries.allSatisfy { $0.contains("AWS request timed out: s3 HeadObject failed.") }, "\(retries)")
    }

    @Test func expiredCredentialsAreRefusedBeforeAnythingIsSent() async throws {
        let port = try PeerProcess.refusingPort()
        let client = AWSClient(configuration: Self.quickRetries)
        let expired = StaticCredentialProvider(
            AWSCredentials(
                accessKeyID: "ASIAEXPIRED000000001",
                secretAccessKey: "secret",
                sessionToken: "token",
                expiration: UTCTimestamp(microsecondsSinceEpoch: UTCTimestamp.now().microsecondsSinceEpoch - 1_000_000)
            )
        )
        let sqs = SQSClient(
            client: client,
            region: "us-east-1",
            endpoint: AWSEndpoint(url: "http://127.0.0.1:\(port)"),
            credentials: expired
        )
        let recording = RecordingLogger()
        let error = await #expect(throws: TrawlError.self) {
            _ = try await sqs.queueURL(name: "q", logger: recording.logger)
        }
        try await client.shutdown()
        #expect(error?.code.id == 403)
        #expect(error?.message.contains("the request was not sent") == true)
        #expect(recording.messages(containing: "Retrying").isEmpty)
    }

    @Test func aCutConnectionIsResumedWithRangeRequestsAndTheBytesMatch() async throws {
        let moto = try await MotoServer.open()
        let recording = RecordingLogger()
        try await withAWS(moto) { aws in
            let (bucket, _, _) = try await aws.bucketAndQueue(notify: false)
            let key = "resume/cut-me/object.bin"
            let size = 6 * 1024 * 1024 + 123
            let expected = try await aws.put(bucket, [["key": key, "size": size, "seed": "resume"]])
            let motoPort = String(moto.endpoint.split(separator: ":").last!)
            // Cuts the first two GETs of this key after 1 MiB of answer.
            let proxy = try await PeerProcess(
                [
                    PeerProcess.python, "\(RepositoryFiles.root)/Tests/Support/peers/cutting_proxy.py", motoPort,
                    "cut-me", String(1 << 20), "2",
                ],
                port: 0
            )
            defer { proxy.stop() }
            let s3 = aws.s3(endpoint: AWSEndpoint(url: "http://127.0.0.1:\(proxy.port)"))
            let stream = try await s3.getObject(bucket: bucket, key: key, logger: recording.logger)
            var hasher = SHA256()
            var count = 0
            var iterator = stream.makeAsyncIterator()
            while let chunk = try await iterator.next() {
                chunk.withUnsafeReadableBytes { hasher.update(bufferPointer: $0) }
                count += chunk.readableBytes
            }
            #expect(count == size)
            #expect(hasher.finalize().map { String(format: "%02x", $0) }.joined() == expected[key]?.sha256)
            #expect(iterator.resumes == 2)
            #expect(recording.messages(containing: "resuming at byte").count == 2)
        }
    }

    /// An object served in two halves, the first GET answering bytes 0-99 of 200: the second half is asked
    /// for with `Range: bytes=100-`, and the endpoint answers it with `secondRange`.
    static func readInHalves(secondRange: String) async throws -> (bytes: [UInt8], requests: Int, error: TrawlError?) {
        let first = String(repeating: "a", count: 100)
        let second = String(repeating: "b", count: 100)
        let server = try await RecordingHTTPServer(answeringWithHeaders: { request in
            let resuming = request.header("range") != nil
            return (
                206,
                [("Content-Range", resuming ? secondRange : "bytes 0-99/200"), ("ETag", "\"e\"")],
                secondRange.hasPrefix("bytes 100-") && resuming ? second : first
            )
        })
        let client = AWSClient(configuration: Self.quickRetries)
        let s3 = S3Client(
            client: client,
            region: "us-east-1",
            endpoint: AWSEndpoint(url: server.url),
            credentials: Self.credentials()
        )
        var bytes: [UInt8] = []
        var failure: TrawlError?
        do {
            let stream = try await s3.getObject(bucket: "bucket", key: "halves.log", logger: RecordingLogger().logger)
            for try await chunk in stream { bytes += chunk.readableBytesView }
        } catch let error as TrawlError {
            failure = error
        }
        try await client.shutdown()
        let requests = server.requests.count
        try await server.stop()
        return (bytes, requests, failure)
    }

    @Test func aResumeAnsweredWithAnotherRangeFailsInsteadOfSplicingItIn() async throws {
        let right = try await Self.readInHalves(secondRange: "bytes 100-199/200")
        #expect(right.error == nil)
        #expect(
            right.bytes == Array(repeating: UInt8(ascii: "a"), count: 100)
                + Array(repeating: UInt8(ascii: "b"), count: 100)
        )
        #expect(right.requests == 2)

        for wrong in ["bytes 0-99/200", "bytes 100-199/300", "items 100-199/200"] {
            let read = try await Self.readInHalves(secondRange: wrong)
            #expect(read.bytes.count == 100, "\(wrong): only the first answer's bytes were read")
            #expect(read.error?.code == .awsClientException, "\(wrong)")
            #expect(
                read.error?.message.contains(
                    "answered the Range request with the range \"\(wrong)\" instead of bytes 100-199/200"
                ) == true,
                "\(String(describing: read.error))"
            )
        }
    }

    @Test func anAnswerThatBreaksOffMidBodyIsAskedForAgain() async throws {
        let moto = try await MotoServer.open()
        let recording = RecordingLogger()
        try await withAWS(moto) { aws in
            let (_, _, queueURL) = try await aws.bucketAndQueue(notify: false)
            let body = String(repeating: "0123456789abcdef", count: 8 * 1024)
            try await moto.fixture(["command": "send", "queue_url": queueURL, "bodies": [body]])
            let motoPort = String(moto.endpoint.split(separator: ":").last!)
            // Cuts the first ReceiveMessage answer after its head, inside the 128 KiB body.
            let proxy = try await PeerProcess(
                [
                    PeerProcess.python, "\(RepositoryFiles.root)/Tests/Support/peers/cutting_proxy.py", motoPort,
                    "AmazonSQS.ReceiveMessage", "4096", "1",
                ],
                port: 0
            )
            defer { proxy.stop() }
            let sqs = SQSClient(
                client: aws.client,
                region: "us-east-1",
                endpoint: AWSEndpoint(url: "http://127.0.0.1:\(proxy.port)"),
                credentials: aws.credentials
            )
            let messages = try await sqs.receiveMessages(
                queueURL: queueURL,
                maxMessages: 1,
                waitTimeSeconds: 0,
                visibilityTimeout: 0,
                logger: recording.logger
            )
            #expect(messages.map(\.body) == [body])
            #expect(messages.first?.bodyIsIntact == true)
            #expect(recording.messages(containing: "Sending again after the answer broke off").count == 1)
        }
    }
}
