import Crypto
import TrawlCore

/// AWS Signature Version 4, in both forms: an `Authorization` header and a presigned query string.
///
/// Pure and synchronous: given a request, credentials and a time it yields the headers (or query) to add.
/// It follows the AWS signing test suite (../shared/vectors/sigv4) and the S3 rules: S3 neither normalises
/// nor double-encodes paths and always sends `x-amz-content-sha256`.
public struct SigV4Signer: Sendable {
    /// What is signed: the request as it goes on the wire.
    public struct Request: Sendable {
        public var method: String
        /// The path exactly as in the request line (already percent-encoded for S3 keys), without the query.
        public var path: String
        /// Query parameters, not encoded; the signer encodes them.
        public var query: [(name: String, value: String)]
        /// Headers to sign and send; names in any case.
        public var headers: [(name: String, value: String)]
        /// Hex SHA-256 of the body, or `UNSIGNED-PAYLOAD`.
        public var payloadHash: String

        public init(
            method: String,
            path: String,
            query: [(name: String, value: String)] = [],
            headers: [(name: String, value: String)] = [],
            payloadHash: String
        ) {
            self.method = method
            self.path = path
            self.query = query
            self.headers = headers
            self.payloadHash = payloadHash
        }

        /// The query string as sent, encoded the way it is signed.
        public var encodedQuery: String {
            self.query.map { "\(AWSPercentEncoding.encode($0.name))=\(AWSPercentEncoding.encode($0.value))" }
                .joined(separator: "&")
        }
    }

    /// The intermediate products, exposed so tests can compare each step with the suite.
    public struct Signature: Sendable {
        public var canonicalRequest: String
        public var stringToSign: String
        public var signature: String
        public var signedHeaders: String
    }

    public static let unsignedPayload = "UNSIGNED-PAYLOAD"
    public static let emptyPayloadHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

    public var region: String
    public var service: String
    /// Remove `.`/`..` segments and repeated slashes (every service but S3).
    public var normalizesPath: Bool
    /// Percent-encode the already-encoded path once more (every service but S3).
    public var doubleEncodesPath: Bool

    public init(region: String, service: String) {
        self.region = region
        self.service = service
        self.normalizesPath = service != "s3"
        self.doubleEncodesPath = service != "s3"
    }

    public init(region: String, service: String, normalizesPath: Bool, doubleEncodesPath: Bool) {
        self.region = region
        self.service = service
        self.normalizesPath = normalizesPath
        self.doubleEncodesPath = doubleEncodesPath
    }

    /// Hex SHA-256 of a payload, the `payloadHash` of a signed body.
    public static func sha256Hex(_ bytes: [UInt8]) -> String {
        hexString(SHA256.hash(data: bytes))
    }

    // MARK: Header signing

    /// Adds `x-amz-date`, `x-amz-security-token` (signed unless `signsSessionToken` is false, then added
    /// after signing as STS once required), `x-amz-content-sha256` when `addsContentHash`, and
    /// `Authorization` to `request.headers`; returns the intermediate products.
    @discardableResult
    public func signHeaders(
        _ request: inout Request,
        credentials: AWSCredentials,
        date: UTCTimestamp,
        addsContentHash: Bool,
        signsSessionToken: Bool = true
    ) -> Signature {
        let amzDate = date.amzDate
        request.headers.append(("X-Amz-Date", amzDate))
        if let token = credentials.sessionToken, signsSessionToken {
            request.headers.append(("X-Amz-Security-Token", token))
        }
        if addsContentHash {
            request.headers.append(("X-Amz-Content-Sha256", request.payloadHash))
        }
        let canonical = self.canonicalHeaders(request.headers)
        let signature = self.sign(request, canonicalHeaders: canonical, date: date, credentials: credentials)
        if let token = credentials.sessionToken, !signsSessionToken {
            request.headers.append(("X-Amz-Security-Token", token))
        }
        request.headers.append(
            (
                "Authorization",
                "AWS4-HMAC-SHA256 Credential=\(credentials.accessKeyID)/\(self.scope(date)), "
                    + "SignedHeaders=\(canonical.names), Signature=\(signature.signature)"
            )
        )
        return signature
    }

    // MARK: Query (presigned) signing

    /// Appends the `X-Amz-*` query parameters and the signature to `request.query`, valid for `expires`
    /// seconds from `date`; headers given are signed too.
    @discardableResult
    public func presign(
        _ request: inout Request,
        credentials: AWSCredentials,
        date: UTCTimestamp,
        expires: Int,
        signsSessionToken: Bool = true
    ) -> Signature {
        let canonical = self.canonicalHeaders(request.headers)
        request.query.append(("X-Amz-Algorithm", "AWS4-HMAC-SHA256"))
        request.query.append(("X-Amz-Credential", "\(credentials.accessKeyID)/\(self.scope(date))"))
        request.query.append(("X-Amz-Date", date.amzDate))
        request.query.append(("X-Amz-Expires", String(expires)))
        if let token = credentials.sessionToken, signsSessionToken {
            request.query.append(("X-Amz-Security-Token", token))
        }
        request.query.append(("X-Amz-SignedHeaders", canonical.names))
        let signature = self.sign(request, canonicalHeaders: canonical, date: date, credentials: credentials)
        request.query.append(("X-Amz-Signature", signature.signature))
        return signature
    }

    // MARK: The steps

    func scope(_ date: UTCTimestamp) -> String {
        "\(date.amzDay)/\(self.region)/\(self.service)/aws4_request"
    }

    func canonicalRequest(
        _ request: Request,
        canonicalQuery: String,
        canonicalHeaders: (lines: String, names: String)
    ) -> String {
        [
            request.method,
            self.canonicalPath(request.path),
            canonicalQuery,
            canonicalHeaders.lines,
            canonicalHeaders.names,
            request.payloadHash,
        ].joined(separator: "\n")
    }

    /// Builds the canonical request of `request` as it stands and signs it.
    func sign(
        _ request: Request,
        canonicalHeaders: (lines: String, names: String),
        date: UTCTimestamp,
        credentials: AWSCredentials
    ) -> Signature {
        let canonicalRequest = self.canonicalRequest(
            request,
            canonicalQuery: self.canonicalQuery(request.query),
            canonicalHeaders: canonicalHeaders
        )
        let stringToSign = [
            "AWS4-HMAC-SHA256",
            date.amzDate,
            self.scope(date),
            Self.sha256Hex(Array(canonicalRequest.utf8)),
        ].joined(separator: "\n")
        let key = self.signingKey(secret: credentials.secretAccessKey, day: date.amzDay)
        let mac = HMAC<SHA256>.authenticationCode(for: Array(stringToSign.utf8), using: key)
        return Signature(
            canonicalRequest: canonicalRequest,
            stringToSign: stringToSign,
            signature: hexString(mac),
            signedHeaders: canonicalHeaders.names
        )
    }

    func signingKey(secret: String, day: String) -> SymmetricKey {
        var key = SymmetricKey(data: Array(("AWS4" + secret).utf8))
        for part in [day, self.region, self.service, "aws4_request"] {
            key = SymmetricKey(data: HMAC<SHA256>.authenticationCode(for: Array(part.utf8), using: key))
        }
        return key
    }

    func canonicalPath(_ path: String) -> String {
        var path = path.isEmpty ? "/" : path
        if self.normalizesPath {
            path = Self.removingDotSegments(path)
        }
        return self.doubleEncodesPath ? AWSPercentEncoding.encode(path, keepSlash: true) : path
    }

    /// RFC 3986 dot-segment removal plus collapsing of empty segments, keeping a trailing slash.
    static func removingDotSegments(_ path: String) -> String {
        var segments: [Substring] = []
        for segment in path.split(separator: "/", omittingEmptySubsequences: true) {
            switch segment {
            case ".": continue
            case "..": _ = segments.popLast()
            default: segments.append(segment)
            }
        }
        var result = "/" + segments.joined(separator: "/")
        let last = path.split(separator: "/", omittingEmptySubsequences: false).last
        if path.hasSuffix("/") || last == "." || last == "..", !segments.isEmpty {
            result += "/"
        }
        return result
    }

    func canonicalQuery(_ query: [(name: String, value: String)]) -> String {
        query.map { (AWSPercentEncoding.encode($0.name), AWSPercentEncoding.encode($0.value)) }
            .sorted { $0.0 == $1.0 ? $0.1 < $1.1 : $0.0 < $1.0 }
            .map { "\($0.0)=\($0.1)" }
            .joined(separator: "&")
    }

    /// Lower-cased names, sorted, values trimmed with inner runs of whitespace collapsed, repeated names
    /// joined with commas in the order given.
    func canonicalHeaders(_ headers: [(name: String, value: String)]) -> (lines: String, names: String) {
        var merged: [String: [String]] = [:]
        for (name, value) in headers {
            merged[name.lowercased(), default: []].append(Self.collapsingWhitespace(value))
        }
        let names = merged.keys.sorted()
        let lines = names.map { "\($0):\(merged[$0]!.joined(separator: ","))\n" }.joined()
        return (lines, names.joined(separator: ";"))
    }

    static func collapsingWhitespace(_ value: String) -> String {
        value.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" })
            .joined(separator: " ")
    }
}

extension UTCTimestamp {
    /// `20150830T123600Z`, the form of `x-amz-date`.
    public var amzDate: String {
        let c = self.components
        return "\(self.amzDay)T\(twoDigits(c.hour))\(twoDigits(c.minute))\(twoDigits(c.second))Z"
    }

    /// `20150830`, the day of the credential scope.
    public var amzDay: String {
        let c = self.components
        return "\(c.year)\(twoDigits(c.month))\(twoDigits(c.day))"
    }
}

private func twoDigits(_ value: Int) -> String {
    value < 10 ? "0\(value)" : String(value)
}
