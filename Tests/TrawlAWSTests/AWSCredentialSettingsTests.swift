import Logging
import Testing
import TrawlAWS
import TrawlCore
import TrawlTesting

@Suite struct AWSCredentialSettingsTests {
    func decode(_ yaml: String) -> (AWSCredentialSettings?, [TrawlError]) {
        SettingsFixture.decode(AWSCredentialSettings.self, yaml: yaml, path: "inputs.s3.credentials")
    }

    @Test func theCrossAccountChainOfTheSeedIsRead() throws {
        let (settings, errors) = self.decode(
            """
            aws_access_key_id: AKIAIOSFODNN7EXAMPLE
            aws_secret_access_key: wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY
            aws_base_account_role: arn:aws:iam::111111111111:role/devo-base
            aws_cross_account_role: arn:aws:iam::222222222222:role/customer-logs
            aws_external_id: trawl-external-1
            """
        )
        #expect(errors.isEmpty, "\(errors)")
        #expect(settings?.baseAccountRole == "arn:aws:iam::111111111111:role/devo-base")
        #expect(settings?.crossAccountRole == "arn:aws:iam::222222222222:role/customer-logs")
        #expect(settings?.externalID == "trawl-external-1")
        #expect(settings?.roleDurationSeconds == 3600)
    }

    @Test func aMalformedAccessKeyIDIsReportedOnceForItsFormatNotAsMissing() {
        let (_, errors) = self.decode(
            """
            aws_access_key_id: AKIDEXAMPLE
            aws_secret_access_key: wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY
            """
        )
        #expect(errors.map(\.code.id) == [6], "\(errors)")
        #expect(errors.first?.location?.hasPrefix("inputs.s3.credentials.aws_access_key_id") == true)
    }

    @Test func halfAKeyPairABadRoleAndATypoAreEachReported() {
        let (_, errors) = self.decode(
            """
            aws_access_key_id: AKIAIOSFODNN7EXAMPLE
            aws_cross_account_role: arn:aws:iam::2222:role/short-account
            aws_externl_id: x
            """
        )
        let ids = errors.map(\.code.id).sorted()
        #expect(ids == [4, 6, 8], "\(errors)")
        #expect(
            errors.contains {
                $0.code.id == 4 && $0.location?.hasPrefix("inputs.s3.credentials.aws_secret_access_key") == true
            }
        )
        #expect(errors.contains { $0.fix.contains("aws_external_id") })
        #expect(errors.allSatisfy { !"\($0)".contains("wJalrXUtnFEMI") })
    }

    @Test func environmentKeysComeBeforeAWebIdentityAndTheCredentialsFile() async throws {
        let client = AWSClient()
        let provider = try DefaultCredentialProvider.resolve(
            profile: nil,
            environment: [
                "AWS_ACCESS_KEY_ID": "AKIAENVIRONMENT00001",
                "AWS_SECRET_ACCESS_KEY": "environment-secret",
                "AWS_SESSION_TOKEN": "environment-token",
                "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
                "AWS_WEB_IDENTITY_TOKEN_FILE": "/nonexistent/token",
                "AWS_ROLE_ARN": "arn:aws:iam::123456789012:role/not-used",
            ],
            roles: DefaultCredentialProvider.RoleSettings(client: client, region: "us-east-1"),
            clock: ContinuousClock()
        )
        try await client.shutdown()
        let keys = try #require(provider as? StaticCredentialProvider)
        #expect(keys.fixed.accessKeyID == "AKIAENVIRONMENT00001")
        #expect(keys.fixed.sessionToken == "environment-token")
    }

    @Test func aNamedProfileIsReadFromTheSharedCredentialsFile() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let file = try directory.write(
            "credentials",
            """
            [default]
            aws_access_key_id = AKIADEFAULT000000001
            aws_secret_access_key = default-secret

            # the collector's own profile
            [trawl]
            aws_access_key_id=AKIATRAWL00000000001
            aws_secret_access_key = trawl-secret
            aws_session_token = trawl-token
            """
        )
        let environment = ["AWS_SHARED_CREDENTIALS_FILE": file, "AWS_PROFILE": "trawl"]
        let named = try #require(try DefaultCredentialProvider.profileKeys(profile: "trawl", environment: environment))
        #expect(named.fixed.accessKeyID == "AKIATRAWL00000000001")
        #expect(named.fixed.secretAccessKey == "trawl-secret")
        #expect(named.fixed.sessionToken == "trawl-token")
        let byDefault = try DefaultCredentialProvider.profileKeys(
            profile: nil,
            environment: ["AWS_SHARED_CREDENTIALS_FILE": file]
        )
        #expect(byDefault?.fixed.accessKeyID == "AKIADEFAULT000000001")
        let error = #expect(throws: TrawlError.self) {
            try DefaultCredentialProvider.profileKeys(profile: "missing", environment: environment)
        }
        #expect(error?.code.id == 4)
        // Without a named profile, a file without [default] only means the chain goes on.
        #expect(try DefaultCredentialProvider.profileKeys(profile: nil, environment: ["HOME": "/nonexistent"]) == nil)
        // AWS_PROFILE names the profile as aws_profile does: it must exist.
        let client = AWSClient()
        let profiled = try DefaultCredentialProvider.resolve(
            profile: nil,
            environment: environment,
            roles: DefaultCredentialProvider.RoleSettings(client: client, region: "us-east-1"),
            clock: ContinuousClock()
        )
        let missing = #expect(throws: TrawlError.self) {
            try DefaultCredentialProvider.resolve(
                profile: nil,
                environment: ["AWS_SHARED_CREDENTIALS_FILE": file, "AWS_PROFILE": "missing"],
                roles: DefaultCredentialProvider.RoleSettings(client: client, region: "us-east-1"),
                clock: ContinuousClock()
            )
        }
        try await client.shutdown()
        #expect((profiled as? StaticCredentialProvider)?.fixed.accessKeyID == "AKIATRAWL00000000001")
        #expect(missing?.message.contains("no profile missing") == true)
    }
}
