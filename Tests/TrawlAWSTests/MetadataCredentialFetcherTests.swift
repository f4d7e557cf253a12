import Foundation
import Logging
import NIOCore
import NIOPosix
import Testing
import TrawlAWS
import TrawlCore
import TrawlTesting

/// The credential chain's last sources, against simulators of the EC2 instance metadata service and of the
/// ECS/EKS container credentials agent (no real one runs off AWS).
@Suite struct MetadataCredentialFetcherTests {
    /// What the instance metadata service and the container agent answer with (an hour of validity).
    static func credentialsDocument(keyID: String) -> String {
        let expiration = UTCTimestamp(microsecondsSinceEpoch: UTCTimestamp.now().microsecondsSinceEpoch + 3_600_000_000)
        return """
            {"Code": "Success", "LastUpdated": "2026-11-24T20:00:00Z", "Type": "AWS-HMAC", "AccessKeyId": "\(keyID)",
             "SecretAccessKey": "instance-secret", "Token": "instance-session-token", "Expiration": "\(expiration.logPrefix)Z"}
            """
    }

    /// An IMDSv2 instance with role `trawl-instance-role`: every metadata read needs the session token.
    static func instanceMetadataService(role: String? = "trawl-instance-role") async throws -> RecordingHTTPServer {
        try await RecordingHTTPServer { request in
            if request.method == "PUT", request.uri == "/latest/api/token" {
                return request.header("X-aws-ec2-metadata-token-ttl-seconds") == nil ? (400, "") : (200, "imds-token-1")
            }
            guard request.header("X-aws-ec2-metadata-token") == "imds-token-1" else { return (401, "") }
            switch request.uri {
            case "/latest/meta-data/iam/security-credentials/":
                return role.map { (200, "\($0)\n") } ?? (404, "")
            case "/latest/meta-data/iam/security-credentials/\(role ?? "-")":
                return (200, Self.credentialsDocument(keyID: "ASIAINSTANCE00000001"))
            default:
                return (404, "")
            }
        }
    }

    func resolve(_ environment: [String: String]) async throws -> (any AWSCredentialProvider, AWSClient) {
        let client = AWSClient()
        do {
            let provider = try DefaultCredentialProvider.resolve(
                profile: nil,
                environment: ["HOME": "/nonexistent"].merging(environment) { $1 },
                roles: DefaultCredentialProvider.RoleSettings(client: client, region: "us-east-1"),
                clock: ContinuousClock()
            )
            return (provider, client)
        } catch {
            try await client.shutdown()
            throw error
        }
    }

    @Test func theInstanceMetadataServiceGivesTheInstanceProfilesRoleUnderAnIMDSv2Session() async throws {
        let imds = try await Self.instanceMetadataService()
        let log = RecordingLogger()
        let (provider, client) = try await self.resolve(["AWS_EC2_METADATA_SERVICE_ENDPOINT": imds.url + "/"])
        let credentials = try await provider.credentials(logger: log.logger)
        _ = try await provider.credentials(logger: log.logger)
        try await client.shutdown()
        try await imds.stop()
        #expect(credentials.accessKeyID == "ASIAINSTANCE00000001")
        #expect(credentials.secretAccessKey == "instance-secret")
        #expect(credentials.sessionToken == "instance-session-token")
        #expect(credentials.expiration.map { $0 > UTCTimestamp.now() } == true)
        // One token, then the role's name, then its keys; cached after that.
        #expect(
            imds.requests.map { "\($0.method) \($0.uri)" } == [
                "PUT /latest/api/token",
                "GET /latest/meta-data/iam/security-credentials/",
                "GET /latest/meta-data/iam/security-credentials/trawl-instance-role",
            ]
        )
        #expect(log.messages(containing: "Obtained AWS credentials for the EC2 instance metadata service").count == 1)
    }

    @Test func anInstanceWithoutIMDSv2SessionsIsReadWithoutAToken() async throws {
        let imds = try await RecordingHTTPServer { request in
            if request.method == "PUT" { return (405, "") }
            switch request.uri {
            case "/latest/meta-data/iam/security-credentials/": return (200, "legacy-role")
            case "/latest/meta-data/iam/security-credentials/legacy-role":
                return (200, Self.credentialsDocument(keyID: "ASIALEGACY0000000001"))
            default: return (404, "")
            }
        }
        let (provider, client) = try await self.resolve(["AWS_EC2_METADATA_SERVICE_ENDPOINT": imds.url])
        let credentials = try await provider.credentials(logger: RecordingLogger().logger)
        try await client.shutdown()
        try await imds.stop()
        #expect(credentials.accessKeyID == "ASIALEGACY0000000001")
        #expect(imds.requests.dropFirst().allSatisfy { $0.header("X-aws-ec2-metadata-token") == nil })
    }

    @Test func anInstanceWithoutARoleIsASetupErrorNamingTheInstanceProfile() async throws {
        let imds = try await Self.instanceMetadataService(role: nil)
        let (provider, client) = try await self.resolve(["AWS_EC2_METADATA_SERVICE_ENDPOINT": imds.url])
        let error = await #expect(throws: TrawlError.self) {
            try await provider.credentials(logger: RecordingLogger().logger)
        }
        try await client.shutdown()
        try await imds.stop()
        #expect(error?.code.id == 4)
        #expect(error?.message.contains("no IAM role") == true)
        #expect(error?.fix.contains("instance profile") == true)
    }

    @Test func noCredentialsAnywhereNamesEveryPlaceLookedOnceTheMetadataServiceIsSilent() async throws {
        // A loopback port nothing listens on stands for a machine off EC2.
        let closed = try await RecordingHTTPServer()
        let url = closed.url
        try await closed.stop()
        let (provider, client) = try await self.resolve(["AWS_EC2_METADATA_SERVICE_ENDPOINT": url])
        let error = await #expect(throws: TrawlError.self) {
            try await provider.credentials(logger: RecordingLogger().logger)
        }
        try await client.shutdown()
        #expect(error?.code.id == 4)
        for place in [
            "AWS_ACCESS_KEY_ID", "/nonexistent/.aws/credentials", "AWS_WEB_IDENTITY_TOKEN_FILE",
            "AWS_CONTAINER_CREDENTIALS", "instance metadata service at \(url) did not answer",
        ] {
            #expect(error?.message.contains(place) == true, "\(place) not named in \(error?.message ?? "")")
        }
    }

    @Test func withTheMetadataServiceDisabledNoCredentialsIsASetupErrorAtOnce() async throws {
        let client = AWSClient()
        let error = #expect(throws: TrawlError.self) {
            try DefaultCredentialProvider.resolve(
                profile: nil,
                environment: ["HOME": "/nonexistent", "AWS_EC2_METADATA_DISABLED": "true"],
                roles: DefaultCredentialProvider.RoleSettings(client: client, region: "us-east-1"),
                clock: ContinuousClock()
            )
        }
        try await client.shutdown()
        #expect(error?.code.id == 4)
        #expect(error?.message.contains("AWS_ACCESS_KEY_ID") == true)
        #expect(error?.message.contains("/nonexistent/.aws/credentials") == true)
        #expect(error?.message.contains("AWS_EC2_METADATA_DISABLED") == true)
    }

    @Test func theContainerEndpointIsAskedWithTheAuthorizationTokenFromItsFile() async throws {
        let agent = try await RecordingHTTPServer { request in
            guard request.uri == "/v1/credentials", request.header("Authorization") == "pod-identity-token" else {
                return (401, "")
            }
            return (200, Self.credentialsDocument(keyID: "ASIACONTAINER0000001"))
        }
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let tokenFile = try directory.write("token", "pod-identity-token\n")
        let (provider, client) = try await self.resolve([
            "AWS_CONTAINER_CREDENTIALS_FULL_URI": agent.url + "/v1/credentials",
            "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE": tokenFile,
            "AWS_CONTAINER_AUTHORIZATION_TOKEN": "ignored-when-the-file-is-set",
            // The container endpoint comes first: the instance metadata service is not asked.
            "AWS_EC2_METADATA_SERVICE_ENDPOINT": "http://127.0.0.1:9",
        ])
        let credentials = try await provider.credentials(logger: RecordingLogger().logger)
        try await client.shutdown()
        try await agent.stop()
        #expect(credentials.accessKeyID == "ASIACONTAINER0000001")
        #expect(credentials.sessionToken == "instance-session-token")
        #expect(agent.requests.count == 1)
    }

    @Test func aContainerEndpointInClearTextOffLoopbackIsRefused() async throws {
        let client = AWSClient()
        let error = #expect(throws: TrawlError.self) {
            try DefaultCredentialProvider.resolve(
                profile: nil,
                environment: ["AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://10.1.2.3/credentials"],
                roles: DefaultCredentialProvider.RoleSettings(client: client, region: "us-east-1"),
                clock: ContinuousClock()
            )
        }
        try await client.shutdown()
        #expect(error?.code.id == 6)
        #expect(error?.location == "environment AWS_CONTAINER_CREDENTIALS_FULL_URI")
    }

    @Test func anAnswerThatHoldsNoCredentialsIsAnErrorNamingTheEndpoint() async throws {
        let agent = try await RecordingHTTPServer { _ in
            (200, #"{"Code": "AssumeRoleUnauthorizedAccess", "Message": "denied"}"#)
        }
        let (provider, client) = try await self.resolve([
            "AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://localhost:\(agent.port)/credentials"
        ])
        let error = await #expect(throws: TrawlError.self) {
            try await provider.credentials(logger: RecordingLogger().logger)
        }
        try await client.shutdown()
        try await agent.stop()
        #expect(error?.code.id == 499)
        #expect(error?.message.contains("AssumeRoleUnauthorizedAccess denied") == true)
        #expect(error?.message.contains("container credentials endpoint") == true)
    }

    @Test func anECSTaskRoleIsAskedOfTheAgentsAddressWithTheRelativeURI() async throws {
        let client = AWSClient()
        let fetcher = try MetadataCredentialFetcher.container(
            environment: ["AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "v2/credentials/task-1"],
            http: client.httpClient
        )
        try await client.shutdown()
        #expect(fetcher?.name == "the container credentials endpoint http://169.254.170.2/v2/credentials/task-1")
    }

    @Test func anUnreadableWebIdentityTokenFileIsASetupErrorNamingIt() async throws {
        let (provider, client) = try await self.resolve([
            "AWS_WEB_IDENTITY_TOKEN_FILE": "/nonexistent/eks.amazonaws.com/serviceaccount/token",
            "AWS_ROLE_ARN": "arn:aws:iam::123456789012:role/eks-trawl",
        ])
        let error = await #expect(throws: TrawlError.self) {
            try await provider.credentials(logger: RecordingLogger().logger)
        }
        try await client.shutdown()
        #expect(error?.code.id == 4)
        #expect(error?.location == "environment AWS_WEB_IDENTITY_TOKEN_FILE")
        #expect(error?.message.contains("/nonexistent/eks.amazonaws.com/serviceaccount/token") == true)
    }
}
