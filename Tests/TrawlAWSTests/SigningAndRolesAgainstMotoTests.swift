import Foundation
import Logging
import NIOCore
import Testing
import TrawlAWS
import TrawlCore
import TrawlTesting

/// Against a moto that checks every signature and IAM permission: the right secret works for S3, SQS and
/// STS, every wrong key gets its documented ApiError, role chains are assumed, and no secret is ever logged.
@Suite struct SigningAndRolesAgainstMotoTests {
    @Test func requestsSignedWithTheRightSecretSucceedForS3SqsAndSts() async throws {
        let moto = try await MotoServer.enforcingSignatures()
        let recording = RecordingLogger(level: .trace)
        try await withAWS(moto) { aws in
            let (bucket, queue, queueURL) = try await aws.bucketAndQueue()
            try await aws.put(bucket, [["key": "logs/one.json", "text": "{\"signed\":true}"]])
            let listing = try await aws.s3().listObjects(bucket: bucket, logger: recording.logger)
            #expect(listing.objects.map(\.key) == ["logs/one.json"])
            var body = ""
            for try await chunk in try await aws.s3().getObject(
                bucket: bucket,
                key: "logs/one.json",
                logger: recording.logger
            ) {
                body += String(buffer: chunk)
            }
            #expect(body == "{\"signed\":true}")
            #expect(try await aws.sqs().queueURL(name: queue, logger: recording.logger) == queueURL)
            let messages = try await aws.sqs().receiveMessages(
                queueURL: queueURL,
                maxMessages: 10,
                waitTimeSeconds: 1,
                visibilityTimeout: 30,
                logger: recording.logger
            )
            #expect(!messages.isEmpty)
            let role = try await moto.fixtureJSON([
                "command": "create-role", "name": "trawl-signed-\(UUID().uuidString.prefix(6))",
            ])
            let assumed = try await aws.sts().assumeRole(
                roleARN: role["arn"] as! String,
                sessionName: "trawl-test",
                externalID: nil,
                durationSeconds: 900,
                logger: recording.logger
            )
            #expect(assumed.sessionToken != nil && assumed.expiration != nil)
        }
        let secret = moto.adminKey.secret
        #expect(recording.lines.count > 3)
        #expect(recording.lines.allSatisfy { !$0.contains(secret) })
    }

    @Test func aWrongSecretIsError420OnEveryServiceAndNeverPrinted() async throws {
        let moto = try await MotoServer.enforcingSignatures()
        let recording = RecordingLogger(level: .trace)
        let wrong = MotoServer.AccessKey(id: moto.adminKey.id, secret: "wrong-secret-wJalrXUtnFEMI-do-not-print")
        try await withAWS(moto, key: wrong) { aws in
            let s3Error = await #expect(throws: TrawlError.self) {
                _ = try await aws.s3().listObjects(bucket: "any-bucket-name", logger: recording.logger)
            }
            let sqsError = await #expect(throws: TrawlError.self) {
                _ = try await aws.sqs().queueURL(name: "any-queue", logger: recording.logger)
            }
            let stsError = await #expect(throws: TrawlError.self) {
                _ = try await aws.sts().assumeRole(
                    roleARN: "arn:aws:iam::\(MotoServer.accountID):role/any",
                    sessionName: "trawl",
                    externalID: nil,
                    durationSeconds: 900,
                    logger: recording.logger
                )
            }
            for error in [s3Error, sqsError, stsError] {
                #expect(error?.code.id == 420, "\(String(describing: error))")
                #expect(error?.message == "AWS access key provided is invalid or incorrect")
                #expect(!"\(String(describing: error))".contains("wrong-secret"))
            }
        }
        #expect(recording.lines.allSatisfy { !$0.contains("wrong-secret") })
    }

    @Test func anUnknownKeyIsError402AndAKeyWithoutPermissionIsError401() async throws {
        let moto = try await MotoServer.enforcingSignatures()
        let recording = RecordingLogger()
        let unknown = MotoServer.AccessKey(id: "AKIAUNKNOWNKEY000000", secret: "whatever")
        try await withAWS(moto, key: unknown) { aws in
            let error = await #expect(throws: TrawlError.self) {
                _ = try await aws.sqs().queueURL(name: "any-queue", logger: recording.logger)
            }
            #expect(error?.code.id == 402)
        }
        try await withAWS(moto, key: moto.keys["trawl-limited"]!) { aws in
            let error = await #expect(throws: TrawlError.self) {
                _ = try await aws.sqs().queueURL(name: "any-queue", logger: recording.logger)
            }
            #expect(error?.code.id == 401)
            #expect(error?.message == "AWS access key or secret key provided do not have the necessary permissions")
        }
    }

    @Test func theTwoHopCrossAccountChainAssumesBothRolesAndItsKeysWork() async throws {
        let moto = try await MotoServer.enforcingSignatures()
        let recording = RecordingLogger()
        let suffix = UUID().uuidString.prefix(6)
        let base =
            try await moto.fixtureJSON(["command": "create-role", "name": "devo-base-\(suffix)"])["arn"] as! String
        let cross =
            try await moto.fixtureJSON(["command": "create-role", "name": "customer-\(suffix)"])["arn"] as! String
        let settings = try SettingsFixture.valid(
            AWSCredentialSettings.self,
            yaml: """
                aws_access_key_id: \(moto.adminKey.id)
                aws_secret_access_key: \(moto.adminKey.secret)
                aws_base_account_role: \(base)
                aws_cross_account_role: \(cross)
                aws_external_id: trawl-external-id
                aws_role_duration_in_seconds: 900
                """
        )
        try await withAWS(moto) { aws in
            let provider = try settings.makeProvider(
                client: aws.client,
                region: "us-east-1",
                stsEndpoint: aws.endpoint,
                clock: ContinuousClock()
            )
            let credentials = try await provider.credentials(logger: recording.logger)
            #expect(credentials.accessKeyID != moto.adminKey.id)
            #expect(credentials.sessionToken != nil)
            let (bucket, queue, _) = try await aws.bucketAndQueue()
            _ = try await aws.s3(provider).listObjects(bucket: bucket, logger: recording.logger)
            _ = try await aws.sqs(provider).queueURL(name: queue, logger: recording.logger)
            // Cached: a second call does not assume the roles again.
            _ = try await provider.credentials(logger: recording.logger)
        }
        let obtained = recording.messages(containing: "Obtained AWS credentials")
        #expect(obtained.count == 2)
        #expect(obtained.first?.contains(base) == true)
        #expect(obtained.last?.contains(cross) == true)
        #expect(recording.messages.allSatisfy { !$0.contains(moto.adminKey.secret) })
    }

    /// Against the moto that takes any signature: AssumeRoleWithWebIdentity is sent unsigned, as AWS takes
    /// it, and moto's checking mode fails on any request without an Authorization header.
    @Test func aWebIdentityTokenFileGetsTheRoleOfAKubernetesServiceAccount() async throws {
        let moto = try await MotoServer.open()
        let recording = RecordingLogger()
        let suffix = UUID().uuidString.prefix(6)
        let role =
            try await moto.fixtureJSON(["command": "create-role", "name": "eks-trawl-\(suffix)"])["arn"] as! String
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let tokenFile = try directory.write("token", "eyJhbGciOiJSUzI1NiJ9.service-account-token.signature\n")
        try await withAWS(moto) { aws in
            // No keys anywhere: the token file and role the EKS pod identity webhook sets are the source.
            let provider = try AWSCredentialSettings().makeProvider(
                client: aws.client,
                region: "us-east-1",
                stsEndpoint: aws.endpoint,
                environment: [
                    "HOME": "/nonexistent", "AWS_WEB_IDENTITY_TOKEN_FILE": tokenFile, "AWS_ROLE_ARN": role,
                    "AWS_ROLE_SESSION_NAME": "trawl-pod",
                ],
                clock: ContinuousClock()
            )
            let credentials = try await provider.credentials(logger: recording.logger)
            // Keys STS issued for the role (temporary ones start ASIA), with their session token.
            #expect(credentials.accessKeyID.hasPrefix("ASIA"))
            #expect(credentials.sessionToken != nil)
            #expect(credentials.expiration != nil)
            let (bucket, _, _) = try await aws.bucketAndQueue()
            _ = try await aws.s3(provider).listObjects(bucket: bucket, logger: recording.logger)
        }
        #expect(recording.messages(containing: "Obtained AWS credentials for web identity role \(role)").count == 1)
        #expect(recording.messages.allSatisfy { !$0.contains("service-account-token") })
    }
}
