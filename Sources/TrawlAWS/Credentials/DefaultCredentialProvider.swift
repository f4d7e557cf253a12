import Foundation
import Logging
import TrawlCore

/// The standard places AWS tools look for keys when none are configured, in the order AWS's SDKs use: the
/// environment's keys, a web identity (an EKS service account), a profile of the shared credentials file,
/// the container credentials endpoint (an ECS task role, EKS Pod Identity), then the EC2 instance metadata
/// service (the instance profile).
public enum DefaultCredentialProvider {
    /// Where the chain's temporary credentials come from: the STS endpoint for a web identity, the session
    /// name and duration it asks for.
    public struct RoleSettings: Sendable {
        public var client: AWSClient
        public var region: String
        public var stsEndpoint: AWSEndpoint?
        public var sessionName: String
        public var durationSeconds: Int

        public init(
            client: AWSClient,
            region: String,
            stsEndpoint: AWSEndpoint? = nil,
            sessionName: String = "trawl",
            durationSeconds: Int = 3600
        ) {
            self.client = client
            self.region = region
            self.stsEndpoint = stsEndpoint
            self.sessionName = sessionName
            self.durationSeconds = durationSeconds
        }
    }

    /// The first source of the chain that offers credentials. A profile named in `profile` or `AWS_PROFILE`
    /// is the only source then: it must exist.
    ///
    /// - Throws: SetupError 4 when a named profile is missing or the chain has no source left (the instance
    ///   metadata service disabled); SetupError 6 for an unusable container endpoint. When the instance
    ///   metadata service is the source left, an instance without one reports SetupError 4 at the first
    ///   request, naming every place looked.
    public static func resolve<C: Clock>(
        profile: String?,
        environment: [String: String],
        roles: RoleSettings,
        clock: C
    ) throws -> any AWSCredentialProvider where C.Duration == Duration {
        if profile == nil, let keys = Self.environmentKeys(environment) { return keys }
        let namedProfile = profile ?? environment["AWS_PROFILE"].flatMap { $0.isEmpty ? nil : $0 }
        if namedProfile == nil, let webIdentity = Self.webIdentity(environment: environment, roles: roles, clock: clock)
        {
            return webIdentity
        }
        if let keys = try Self.profileKeys(profile: namedProfile, environment: environment) { return keys }
        if let container = try MetadataCredentialFetcher.container(
            environment: environment,
            http: roles.client.httpClient
        ) {
            return RefreshingCredentialProvider(name: container.name, clock: clock) { logger in
                try await container.fetch(logger: logger)
            }
        }
        let placesLooked =
            "aws_access_key_id is not set, AWS_ACCESS_KEY_ID is not in the environment, \(Self.credentialsFile(environment)) has no [default] profile with keys"
            + ", no web identity (AWS_WEB_IDENTITY_TOKEN_FILE with AWS_ROLE_ARN) or container credentials (AWS_CONTAINER_CREDENTIALS_RELATIVE_URI or _FULL_URI) is offered"
        guard
            let instance = MetadataCredentialFetcher.instance(
                environment: environment,
                http: roles.client.httpClient,
                placesLooked: placesLooked
            )
        else {
            throw TrawlError(
                .settingMissing,
                "no AWS credentials found: \(placesLooked) (the EC2 instance metadata service is disabled by AWS_EC2_METADATA_DISABLED)",
                fix:
                    "Set aws_access_key_id and aws_secret_access_key in the input's credentials, export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or create \(Self.credentialsFile(environment))."
            )
        }
        return RefreshingCredentialProvider(name: instance.name, clock: clock) { logger in
            try await instance.fetch(logger: logger)
        }
    }

    /// `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`/`AWS_SESSION_TOKEN`, when both keys are set.
    public static func environmentKeys(_ environment: [String: String]) -> StaticCredentialProvider? {
        guard let keyID = environment["AWS_ACCESS_KEY_ID"], !keyID.isEmpty,
            let secret = environment["AWS_SECRET_ACCESS_KEY"], !secret.isEmpty
        else { return nil }
        let token = environment["AWS_SESSION_TOKEN"].flatMap { $0.isEmpty ? nil : $0 }
        return StaticCredentialProvider(
            AWSCredentials(accessKeyID: keyID, secretAccessKey: secret, sessionToken: token)
        )
    }

    /// A role assumed with the OpenID Connect token in `AWS_WEB_IDENTITY_TOKEN_FILE` (read afresh at each
    /// refresh: the platform rotates it), when that and `AWS_ROLE_ARN` are set.
    static func webIdentity<C: Clock>(
        environment: [String: String],
        roles: RoleSettings,
        clock: C
    ) -> (any AWSCredentialProvider)? where C.Duration == Duration {
        guard let tokenFile = environment["AWS_WEB_IDENTITY_TOKEN_FILE"], !tokenFile.isEmpty,
            let role = environment["AWS_ROLE_ARN"], !role.isEmpty
        else { return nil }
        let sessionName = environment["AWS_ROLE_SESSION_NAME"].flatMap { $0.isEmpty ? nil : $0 } ?? roles.sessionName
        let sts = STSClient(
            client: roles.client,
            region: roles.region,
            endpoint: roles.stsEndpoint,
            credentials: NoCredentialProvider()
        )
        let duration = roles.durationSeconds
        return RefreshingCredentialProvider(name: "web identity role \(role)", clock: clock) { logger in
            try await sts.assumeRoleWithWebIdentity(
                roleARN: role,
                sessionName: sessionName,
                webIdentityToken: try MetadataCredentialFetcher.readToken(
                    tokenFile,
                    variable: "AWS_WEB_IDENTITY_TOKEN_FILE"
                ),
                durationSeconds: duration,
                logger: logger
            )
        }
    }

    /// `AWS_SHARED_CREDENTIALS_FILE`, or `~/.aws/credentials`.
    static func credentialsFile(_ environment: [String: String]) -> String {
        environment["AWS_SHARED_CREDENTIALS_FILE"] ?? "\(environment["HOME"] ?? "~")/.aws/credentials"
    }

    /// The keys of profile `profile` (nil: `default`) of the shared credentials file. Without a named
    /// profile, a missing file or `[default]` section is no error (nil: the chain goes on).
    ///
    /// - Throws: SetupError 4 when the named profile is missing or lacks its keys.
    public static func profileKeys(profile: String?, environment: [String: String]) throws -> StaticCredentialProvider?
    {
        let name = profile ?? "default"
        let path = Self.credentialsFile(environment)
        let location = "credentials file \(path), profile \(name)"
        let section = FileManager.default.contents(atPath: path).flatMap {
            Self.profileSection(String(decoding: $0, as: UTF8.self), name: name)
        }
        guard let section, let keyID = section["aws_access_key_id"], let secret = section["aws_secret_access_key"]
        else {
            guard profile != nil else { return nil }
            throw TrawlError(
                .settingMissing,
                section == nil
                    ? "no profile \(name) in \(path) (or the file cannot be read)"
                    : "profile \(name) in \(path) lacks aws_access_key_id or aws_secret_access_key",
                location: location,
                fix:
                    "Add [\(name)] with aws_access_key_id and aws_secret_access_key to \(path), or name another profile in aws_profile."
            )
        }
        return StaticCredentialProvider(
            AWSCredentials(accessKeyID: keyID, secretAccessKey: secret, sessionToken: section["aws_session_token"])
        )
    }

    /// The `key = value` pairs of `[name]` in an INI file; nil when there is no such section.
    static func profileSection(_ text: String, name: String) -> [String: String]? {
        var current: String?
        var found: [String: String]?
        for rawLine in text.split(whereSeparator: \.isNewline) {
            let line = rawLine.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") || line.hasPrefix(";") { continue }
            if line.hasPrefix("["), line.hasSuffix("]") {
                current = String(line.dropFirst().dropLast()).trimmingCharacters(in: .whitespaces)
                if current == name, found == nil { found = [:] }
                continue
            }
            guard current == name, let equals = line.firstIndex(of: "=") else { continue }
            let key = line[..<equals].trimmingCharacters(in: .whitespaces).lowercased()
            let value = line[line.index(after: equals)...].trimmingCharacters(in: .whitespaces)
            found?[key] = value
        }
        return found
    }
}

/// The provider of a client that sends only unsigned requests (STS AssumeRoleWithWebIdentity): it has no
/// keys, and says so if asked.
struct NoCredentialProvider: AWSCredentialProvider {
    func credentials(logger: Logger) async throws -> AWSCredentials {
        throw TrawlError(
            .awsClientException,
            "AWS request client encountered an exception: a request that must be sent unsigned asked for keys"
        )
    }
}
