import Logging
import NIOCore
import NIOHTTP1
import TrawlCore

/// AWS Security Token Service: AssumeRole, which cross-account access needs, and AssumeRoleWithWebIdentity,
/// how a Kubernetes service account (EKS IRSA) gets a role.
public struct STSClient: Sendable {
    public let client: AWSClient
    public let endpoint: AWSEndpoint
    public let credentials: any AWSCredentialProvider
    let signer: SigV4Signer

    /// `endpoint` defaults to the regional STS endpoint of `region`.
    public init(client: AWSClient, region: String, endpoint: AWSEndpoint? = nil, credentials: any AWSCredentialProvider)
    {
        self.client = client
        self.endpoint = endpoint ?? .standard(service: "sts", region: region)
        self.credentials = credentials
        self.signer = SigV4Signer(region: region, service: "sts")
    }

    /// Assumes `roleARN`, returning its temporary credentials (valid `durationSeconds`, 900-43200).
    public func assumeRole(
        roleARN: String,
        sessionName: String,
        externalID: String?,
        durationSeconds: Int,
        logger: Logger
    ) async throws -> AWSCredentials {
        var form: [(String, String)] = [
            ("Action", "AssumeRole"), ("Version", "2011-06-15"), ("RoleArn", roleARN),
            ("RoleSessionName", sessionName), ("DurationSeconds", String(durationSeconds)),
        ]
        if let externalID { form.append(("ExternalId", externalID)) }
        return try await self.credentials(
            self.formRequest(form, isSigned: true),
            operation: "AssumeRole",
            roleARN: roleARN,
            logger: logger
        )
    }

    /// Assumes `roleARN` with an OpenID Connect token (an EKS service account's, `AWS_WEB_IDENTITY_TOKEN_FILE`):
    /// the request is not signed, the token is the proof.
    public func assumeRoleWithWebIdentity(
        roleARN: String,
        sessionName: String,
        webIdentityToken: String,
        durationSeconds: Int,
        logger: Logger
    ) async throws -> AWSCredentials {
        let form: [(String, String)] = [
            ("Action", "AssumeRoleWithWebIdentity"), ("Version", "2011-06-15"), ("RoleArn", roleARN),
            ("RoleSessionName", sessionName), ("WebIdentityToken", webIdentityToken),
            ("DurationSeconds", String(durationSeconds)),
        ]
        return try await self.credentials(
            self.formRequest(form, isSigned: false),
            operation: "AssumeRoleWithWebIdentity",
            roleARN: roleARN,
            logger: logger
        )
    }

    /// A query-protocol POST of `form`.
    private func formRequest(_ form: [(String, String)], isSigned: Bool) -> AWSClient.Request {
        let body = form.map { "\(AWSPercentEncoding.encode($0.0))=\(AWSPercentEncoding.encode($0.1))" }
            .joined(separator: "&")
        return AWSClient.Request(
            method: .POST,
            endpoint: self.endpoint,
            headers: [("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")],
            body: Array(body.utf8),
            isSigned: isSigned
        )
    }

    /// Sends an AssumeRole-like `request` and reads the `<Operation>Result/Credentials` of its answer.
    private func credentials(
        _ request: AWSClient.Request,
        operation: String,
        roleARN: String,
        logger: Logger
    ) async throws -> AWSCredentials {
        let (_, answer) = try await self.client.executeCollecting(
            request,
            signer: self.signer,
            credentials: self.credentials,
            operation: operation,
            resource: roleARN,
            logger: logger
        )
        guard let document = AWSXMLElement.parse(answer.readableBytesView),
            let result = document.at("\(operation)Result/Credentials"),
            let keyID = result["AccessKeyId"]?.text, let secret = result["SecretAccessKey"]?.text,
            let token = result["SessionToken"]?.text,
            let expiration = result["Expiration"].flatMap({ parseUTCDatetime($0.text) })
        else {
            throw TrawlError(
                .awsClientException,
                "AWS request client encountered an exception: STS \(operation) answered without credentials",
                location: roleARN
            )
        }
        return AWSCredentials(accessKeyID: keyID, secretAccessKey: secret, sessionToken: token, expiration: expiration)
    }
}
