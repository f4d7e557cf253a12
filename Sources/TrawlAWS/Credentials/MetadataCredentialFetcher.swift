import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import TrawlCore

/// Fetches the temporary credentials an AWS compute environment hands a workload over plain HTTP, so Trawl
/// runs on ECS, EKS or EC2 with the role given there and no keys in its configuration:
///
/// - the container endpoint (``container(environment:http:)``): an ECS task role
///   (`AWS_CONTAINER_CREDENTIALS_RELATIVE_URI`) or an EKS Pod Identity association
///   (`AWS_CONTAINER_CREDENTIALS_FULL_URI` with `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE`);
/// - the EC2 instance metadata service (``instance(environment:http:placesLooked:)``), IMDSv2 with its session token (IMDSv1
///   when the instance answers without token support), for the instance profile's role.
///
/// Both answer the same JSON document (`AccessKeyId`, `SecretAccessKey`, `Token`, `Expiration`); the caller
/// caches it and asks again before it expires (``RefreshingCredentialProvider``).
public struct MetadataCredentialFetcher: Sendable {
    enum Endpoint: Sendable {
        case container(url: String, tokenFile: String?, token: String?)
        /// `placesLooked` lists the sources tried before it, for the error when it does not answer either.
        case instance(base: String, placesLooked: String)
    }

    let endpoint: Endpoint
    let http: HTTPClient
    /// Per request: the instance metadata service answers in milliseconds where it exists; waiting longer
    /// only delays the error where it does not.
    let timeout: Duration

    /// What this fetcher asks, for logs and errors (`the EC2 instance metadata service at http://169.254.169.254`).
    public var name: String {
        switch self.endpoint {
        case .container(let url, _, _): "the container credentials endpoint \(url)"
        case .instance(let base, _): "the EC2 instance metadata service at \(base)"
        }
    }

    /// The container endpoint the environment names, nil when it names none.
    ///
    /// - Throws: SetupError 6 when `AWS_CONTAINER_CREDENTIALS_FULL_URI` is plain HTTP to a host other than
    ///   loopback or the ECS and EKS agents' link-local addresses (the credentials would cross a network in
    ///   clear, as AWS's SDKs also refuse).
    public static func container(environment: [String: String], http: HTTPClient) throws(TrawlError) -> Self? {
        let url: String
        if let relative = environment["AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"], !relative.isEmpty {
            url = "http://169.254.170.2" + (relative.hasPrefix("/") ? relative : "/" + relative)
        } else if let full = environment["AWS_CONTAINER_CREDENTIALS_FULL_URI"], !full.isEmpty {
            guard let parsed = AWSEndpoint(url: full),
                parsed.scheme == "https" || (parsed.scheme == "http" && Self.isAllowedPlainHost(parsed.host))
            else {
                throw TrawlError(
                    .settingWrongFormat,
                    "AWS_CONTAINER_CREDENTIALS_FULL_URI is \(full): credentials are fetched over https, or over http only from loopback or the ECS/EKS agent (169.254.170.2, 169.254.170.23, fd00:ec2::23)",
                    location: "environment AWS_CONTAINER_CREDENTIALS_FULL_URI",
                    fix:
                        "Point AWS_CONTAINER_CREDENTIALS_FULL_URI at the credentials agent the platform runs, or unset it."
                )
            }
            url = full
        } else {
            return nil
        }
        let tokenFile = environment["AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"].flatMap { $0.isEmpty ? nil : $0 }
        let token = environment["AWS_CONTAINER_AUTHORIZATION_TOKEN"].flatMap { $0.isEmpty ? nil : $0 }
        return Self(
            endpoint: .container(url: url, tokenFile: tokenFile, token: token),
            http: http,
            timeout: .seconds(5)
        )
    }

    /// The instance metadata service, nil when `AWS_EC2_METADATA_DISABLED` is `true`;
    /// `AWS_EC2_METADATA_SERVICE_ENDPOINT` moves it. It is the last source of a chain: when it does not answer,
    /// the error says there are no credentials and names `placesLooked` (the sources tried before).
    public static func instance(environment: [String: String], http: HTTPClient, placesLooked: String) -> Self? {
        if environment["AWS_EC2_METADATA_DISABLED"]?.lowercased() == "true" { return nil }
        var base =
            environment["AWS_EC2_METADATA_SERVICE_ENDPOINT"].flatMap { $0.isEmpty ? nil : $0 }
            ?? "http://169.254.169.254"
        while base.hasSuffix("/") { base.removeLast() }
        return Self(endpoint: .instance(base: base, placesLooked: placesLooked), http: http, timeout: .seconds(2))
    }

    static func isAllowedPlainHost(_ host: String) -> Bool {
        let bare = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        return ["localhost", "::1", "169.254.170.2", "169.254.170.23", "fd00:ec2::23"].contains(bare.lowercased())
            || bare.hasPrefix("127.")
    }

    /// The credentials the endpoint hands out now.
    ///
    /// - Throws: SetupError 4 when the instance has no role (no instance profile), the instance metadata
    ///   service does not answer (no credentials anywhere) or a token file cannot be read; ApiError 499 when
    ///   the container endpoint does not answer or an endpoint answers something else than credentials.
    public func fetch(logger: Logger) async throws -> AWSCredentials {
        switch self.endpoint {
        case .container(let url, let tokenFile, let token):
            var headers: [(String, String)] = []
            if let tokenFile {
                headers.append(
                    ("Authorization", try Self.readToken(tokenFile, variable: "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"))
                )
            } else if let token {
                headers.append(("Authorization", token))
            }
            let (status, body) = try await self.send(url, method: .GET, headers: headers, logger: logger)
            guard status == 200 else { throw self.answered(status, body, asking: "credentials") }
            return try self.credentials(in: body)
        case .instance(let base, _):
            var headers: [(String, String)] = []
            let (tokenStatus, token) = try await self.send(
                "\(base)/latest/api/token",
                method: .PUT,
                headers: [("X-aws-ec2-metadata-token-ttl-seconds", "21600")],
                logger: logger
            )
            switch tokenStatus {
            case 200: headers.append(("X-aws-ec2-metadata-token", String(buffer: token)))
            // An instance or proxy without IMDSv2 sessions; IMDSv1 (no token) is what it offers.
            case 403, 404, 405: break
            default: throw self.answered(tokenStatus, token, asking: "a session token")
            }
            let rolesURL = "\(base)/latest/meta-data/iam/security-credentials/"
            let (rolesStatus, roles) = try await self.send(rolesURL, method: .GET, headers: headers, logger: logger)
            let role = String(buffer: roles).split(whereSeparator: \.isNewline).first.map(String.init)
            guard rolesStatus == 200 || rolesStatus == 404 else {
                throw self.answered(rolesStatus, roles, asking: "its role")
            }
            guard rolesStatus == 200, let role, !role.isEmpty else {
                throw TrawlError(
                    .settingMissing,
                    "no AWS credentials found: \(self.name) reports no IAM role for this instance",
                    location: rolesURL,
                    fix:
                        "Attach an instance profile with the role Trawl should use to this instance, or set aws_access_key_id and aws_secret_access_key."
                )
            }
            let (status, body) = try await self.send(
                rolesURL + AWSPercentEncoding.encode(role),
                method: .GET,
                headers: headers,
                logger: logger
            )
            guard status == 200 else { throw self.answered(status, body, asking: "the credentials of role \(role)") }
            return try self.credentials(in: body)
        }
    }

    /// The token a platform mounts in a file (and rotates), without its final newline.
    ///
    /// - Throws: SetupError 4 naming the file and the variable that names it.
    static func readToken(_ path: String, variable: String) throws(TrawlError) -> String {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw TrawlError(
                .settingMissing,
                "the token file \(path) (\(variable)) cannot be read",
                location: "environment \(variable)",
                fix: "Check that the platform mounted the token file there and that Trawl's user may read it."
            )
        }
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// One request to the endpoint (the session token is a PUT), its status and body; a request that gets
    /// no answer in time is the error `unanswered` describes.
    private func send(
        _ url: String,
        method: HTTPMethod,
        headers: [(String, String)],
        logger: Logger
    ) async throws -> (status: UInt, body: ByteBuffer) {
        var request = HTTPClientRequest(url: url)
        request.method = method
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        do {
            let response = try await self.http.execute(request, timeout: .init(self.timeout), logger: logger)
            return (response.status.code, try await response.body.collect(upTo: 64 << 10))
        } catch {
            if error is CancellationError || Task.isCancelled { throw CancellationError() }
            throw self.unanswered(url, error)
        }
    }

    private func unanswered(_ url: String, _ error: any Error) -> TrawlError {
        switch self.endpoint {
        case .container:
            return TrawlError(
                .awsClientException,
                "AWS request client encountered an exception: \(self.name) did not answer within \(self.timeout)",
                location: url,
                underlying: error
            )
        case .instance(_, let placesLooked):
            return TrawlError(
                .settingMissing,
                "no AWS credentials found: \(placesLooked), and \(self.name) did not answer within \(self.timeout)",
                location: url,
                fix:
                    "Set aws_access_key_id and aws_secret_access_key in the input's credentials, export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or run Trawl where the platform gives it a role (an EC2 instance profile, an ECS task role, an EKS service account).",
                underlying: error
            )
        }
    }

    private func answered(_ status: UInt, _ body: ByteBuffer, asking what: String) -> TrawlError {
        TrawlError(
            .awsClientException,
            "AWS request client encountered an exception: \(self.name) answered HTTP \(status) when asked for \(what): \(String(buffer: body).prefix(200))",
            location: self.name
        )
    }

    private struct Document: Decodable {
        var Code: String?
        var Message: String?
        var AccessKeyId: String?
        var SecretAccessKey: String?
        var Token: String?
        var Expiration: String?
    }

    private func credentials(in body: ByteBuffer) throws(TrawlError) -> AWSCredentials {
        let document = try? JSONDecoder().decode(Document.self, from: Data(body.readableBytesView))
        guard let document, document.Code.map({ $0 == "Success" }) ?? true, let keyID = document.AccessKeyId,
            let secret = document.SecretAccessKey
        else {
            let reason = document.flatMap { $0.Code.map { "\($0) \(document?.Message ?? "")" } } ?? "no credentials"
            throw TrawlError(
                .awsClientException,
                "AWS request client encountered an exception: \(self.name) answered \(reason)",
                location: self.name
            )
        }
        let expiration = try document.Expiration.map { text throws(TrawlError) in
            guard let parsed = parseUTCDatetime(text) else {
                throw TrawlError(
                    .awsClientException,
                    "AWS request client encountered an exception: \(self.name) answered credentials whose Expiration \(text) is no UTC date",
                    location: self.name
                )
            }
            return parsed
        }
        return AWSCredentials(
            accessKeyID: keyID,
            secretAccessKey: secret,
            sessionToken: document.Token,
            expiration: expiration
        )
    }
}
