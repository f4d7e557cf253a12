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

    @Test func environmentKeysComeBeforeTheCredentialsFile() throws {
        let provider = try DefaultCredentialProvider.resolve(
            profile: nil,
            environment: [
                "AWS_ACCESS_KEY_ID": "AKIAENVIRONMENT00001",
                "AWS_SECRET_ACCESS_KEY": "environment-secret",
                "AWS_SESSION_TOKEN": "environment-token",
                "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
            ]
        )
        #expect(provider.fixed.accessKeyID == "AKIAENVIRONMENT00001")
        #expect(provider.fixed.sessionToken == "environment-token")
    }

    @Test func aNamedProfileIsReadFromTheSharedCredentialsFile() throws {
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
        let named = try DefaultCredentialProvider.resolve(profile: nil, environment: environment)
        #expect(named.fixed.accessKeyID == "AKIATRAWL00000000001")
        #expect(named.fixed.secretAccessKey == "trawl-secret")
        #expect(named.fixed.sessionToken == "trawl-token")
        let byDefault = try DefaultCredentialProvider.resolve(
            profile: nil,
            environment: ["AWS_SHARED_CREDENTIALS_FILE": file]
        )
        #expect(byDefault.fixed.accessKeyID == "AKIADEFAULT000000001")
        #expect(throws: TrawlError.self) {
            try DefaultCredentialProvider.resolve(profile: "missing", environment: environment)
        }
    }

    @Test func noKeysAnywhereIsASetupErrorNamingEveryPlaceLooked() {
        do {
            _ = try DefaultCredentialProvider.resolve(profile: nil, environment: ["HOME": "/nonexistent"])
            Issue.record("resolved credentials from nowhere")
        } catch let error as TrawlError {
            #expect(error.code.id == 4)
            #expect(error.message.contains("AWS_ACCESS_KEY_ID"))
            #expect(error.message.contains("/nonexistent/.aws/credentials"))
        } catch {
            Issue.record("unexpected \(error)")
        }
    }
}
