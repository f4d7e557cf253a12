import Foundation
import Logging
import TrawlCore

/// `inputs.<name>.credentials` of an AWS input: where the keys come from and which roles to assume.
///
/// Without keys Trawl uses the standard sources (``DefaultCredentialProvider``): `AWS_ACCESS_KEY_ID`/
/// `AWS_SECRET_ACCESS_KEY` (and `AWS_SESSION_TOKEN`), a web identity (`AWS_WEB_IDENTITY_TOKEN_FILE` with
/// `AWS_ROLE_ARN`), the profile `aws_profile` (or `AWS_PROFILE`, or `default`) of the shared credentials file
/// (`AWS_SHARED_CREDENTIALS_FILE`, or `~/.aws/credentials`), the container credentials endpoint, then the EC2
/// instance metadata service. Roles are assumed from those keys: `aws_base_account_role` first, then
/// `aws_cross_account_role` with `aws_external_id`.
public struct AWSCredentialSettings: Decodable, Sendable {
    public var accessKeyID: String?
    public var secretAccessKey: String?
    public var sessionToken: String?
    public var profile: String?
    public var baseAccountRole: String?
    public var crossAccountRole: String?
    public var externalID: String?
    public var roleSessionName: String
    public var roleDurationSeconds: Int

    enum CodingKeys: String, CodingKey, CaseIterable {
        case accessKeyID = "aws_access_key_id"
        case secretAccessKey = "aws_secret_access_key"
        case sessionToken = "aws_session_token"
        case profile = "aws_profile"
        case baseAccountRole = "aws_base_account_role"
        case crossAccountRole = "aws_cross_account_role"
        case externalID = "aws_external_id"
        case roleSessionName = "aws_role_session_name"
        case roleDurationSeconds = "aws_role_duration_in_seconds"
    }

    public init(
        accessKeyID: String? = nil,
        secretAccessKey: String? = nil,
        sessionToken: String? = nil,
        profile: String? = nil,
        baseAccountRole: String? = nil,
        crossAccountRole: String? = nil,
        externalID: String? = nil,
        roleSessionName: String = "trawl",
        roleDurationSeconds: Int = 3600
    ) {
        self.accessKeyID = accessKeyID
        self.secretAccessKey = secretAccessKey
        self.sessionToken = sessionToken
        self.profile = profile
        self.baseAccountRole = baseAccountRole
        self.crossAccountRole = crossAccountRole
        self.externalID = externalID
        self.roleSessionName = roleSessionName
        self.roleDurationSeconds = roleDurationSeconds
    }

    public init(from decoder: any Decoder) throws {
        let settings = SettingsReader(decoder, keys: CodingKeys.self)
        self.accessKeyID = settings.string(
            .accessKeyID,
            format: "an access key id of 16-128 letters and digits, e.g. AKIAIOSFODNN7EXAMPLE",
            isValid: { $0.count >= 16 && $0.count <= 128 && $0.utf8.allSatisfy(AWSPercentEncoding.isAlphanumeric) }
        )
        self.secretAccessKey = settings.value(.secretAccessKey, as: String.self)
        self.sessionToken = settings.value(.sessionToken, as: String.self)
        self.profile = settings.value(.profile, as: String.self)
        let roleFormat = "an IAM role ARN, e.g. arn:aws:iam::123456789012:role/trawl-reader"
        self.baseAccountRole = settings.string(.baseAccountRole, format: roleFormat, isValid: isRoleARN)
        self.crossAccountRole = settings.string(.crossAccountRole, format: roleFormat, isValid: isRoleARN)
        self.externalID = settings.string(
            .externalID,
            format: "2-1224 characters of letters, digits and +=,.@:/-",
            isValid: { $0.count >= 2 && $0.count <= 1224 }
        )
        self.roleSessionName =
            settings.string(
                .roleSessionName,
                default: "trawl",
                format: "2-64 characters of letters, digits and +=,.@-",
                isValid: isRoleSessionName
            ) ?? "trawl"
        self.roleDurationSeconds =
            settings.int(.roleDurationSeconds, default: 3600, range: 900...43_200) ?? 3600
        if settings.contains(.accessKeyID) != settings.contains(.secretAccessKey) {
            let missing: CodingKeys = settings.contains(.accessKeyID) ? .secretAccessKey : .accessKeyID
            let given: CodingKeys = missing == .accessKeyID ? .secretAccessKey : .accessKeyID
            settings.record(
                .settingMissing,
                "required setting \(missing.rawValue) not found: \(given.rawValue) is given without it",
                at: missing,
                fix: "Give both aws_access_key_id and aws_secret_access_key, or neither."
            )
        }
        if settings.contains(.externalID), !settings.contains(.crossAccountRole), !settings.contains(.baseAccountRole) {
            settings.record(
                .settingMissing,
                "required setting aws_cross_account_role not found: aws_external_id only applies when a role is assumed",
                at: CodingKeys.crossAccountRole,
                fix:
                    "Add aws_cross_account_role (the role whose trust policy requires this external id), or remove aws_external_id."
            )
        }
    }

    /// The provider these settings describe: keys (static, environment or profile), then each role in turn.
    public func makeProvider<C: Clock>(
        client: AWSClient,
        region: String,
        stsEndpoint: AWSEndpoint? = nil,
        environment: [String: String] = ProcessInfo.processInfo.environment,
        clock: C
    ) throws -> any AWSCredentialProvider where C.Duration == Duration {
        var provider: any AWSCredentialProvider
        if let accessKeyID, let secretAccessKey {
            provider = StaticCredentialProvider(
                AWSCredentials(accessKeyID: accessKeyID, secretAccessKey: secretAccessKey, sessionToken: sessionToken)
            )
        } else {
            provider = try DefaultCredentialProvider.resolve(
                profile: self.profile,
                environment: environment,
                roles: DefaultCredentialProvider.RoleSettings(
                    client: client,
                    region: region,
                    stsEndpoint: stsEndpoint,
                    sessionName: self.roleSessionName,
                    durationSeconds: self.roleDurationSeconds
                ),
                clock: clock
            )
        }
        let roles = [self.baseAccountRole, self.crossAccountRole].compactMap { $0 }
        for (index, role) in roles.enumerated() {
            let sts = STSClient(client: client, region: region, endpoint: stsEndpoint, credentials: provider)
            let externalID = index == roles.count - 1 ? self.externalID : nil
            let sessionName = self.roleSessionName
            let duration = self.roleDurationSeconds
            provider = RefreshingCredentialProvider(name: "role \(role)", clock: clock) { logger in
                try await sts.assumeRole(
                    roleARN: role,
                    sessionName: sessionName,
                    externalID: externalID,
                    durationSeconds: duration,
                    logger: logger
                )
            }
        }
        return provider
    }
}

/// `arn:<partition>:iam::<12 digits>:role/<path and name>`
func isRoleARN(_ text: String) -> Bool {
    let parts = text.split(separator: ":", maxSplits: 5, omittingEmptySubsequences: false)
    return parts.count == 6 && parts[0] == "arn" && parts[1].hasPrefix("aws") && parts[2] == "iam"
        && parts[3].isEmpty && parts[4].count == 12 && parts[4].allSatisfy(\.isNumber)
        && parts[5].hasPrefix("role/") && parts[5].count > 5
}

func isRoleSessionName(_ text: String) -> Bool {
    (2...64).contains(text.count)
        && text.utf8.allSatisfy { AWSPercentEncoding.isAlphanumeric($0) || "+=,.@-_".utf8.contains($0) }
}

extension AWSPercentEncoding {
    static func isAlphanumeric(_ byte: UInt8) -> Bool {
        (byte >= 48 && byte <= 57) || (byte >= 65 && byte <= 90) || (byte >= 97 && byte <= 122)
    }
}
