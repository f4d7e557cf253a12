import Foundation
import Testing
import TrawlAWS
import TrawlCore
import TrawlTesting

/// Runs every case of the AWS signing test suite (../shared/vectors/sigv4): canonical request, string to
/// sign and signature, for header and query signing.
@Suite struct SigV4SignerTests {
    struct Vector: Sendable, CustomTestStringConvertible {
        var name: String
        var directory: String
        var testDescription: String { self.name }

        func file(_ name: String) throws -> String {
            try String(contentsOfFile: "\(self.directory)/\(name)", encoding: .utf8)
        }
    }

    struct Context: Decodable {
        struct Credentials: Decodable {
            var access_key_id: String
            var secret_access_key: String
            var token: String?
        }
        var credentials: Credentials
        var expiration_in_seconds: Int
        var normalize: Bool
        var region: String
        var service: String
        var sign_body: Bool
        var timestamp: String
        var omit_session_token: Bool?
    }

    static let vectors: [Vector] = {
        guard let directory = try? RepositoryFiles.vectors("sigv4"),
            let names = try? FileManager.default.contentsOfDirectory(atPath: directory)
        else { return [] }
        return names.sorted().filter { !$0.hasPrefix(".") && $0 != "LICENSE" && $0 != "NOTICE" }.map {
            Vector(name: $0, directory: "\(directory)/\($0)")
        }
    }()

    /// Parses `request.txt`: request line, headers (continuation lines folded in), blank line, body.
    static func request(_ text: String) -> (request: SigV4Signer.Request, body: [UInt8]) {
        let parts = text.components(separatedBy: "\n\n")
        let head = parts[0]
        let body = Array(parts.dropFirst().joined(separator: "\n\n").utf8)
        var lines = head.components(separatedBy: "\n")
        let requestLine = lines.removeFirst()
        let method = String(requestLine.prefix { $0 != " " })
        var target = String(requestLine.dropFirst(method.count + 1))
        if target.hasSuffix(" HTTP/1.1") { target.removeLast(" HTTP/1.1".count) }
        let pathAndQuery = target.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        var query: [(name: String, value: String)] = []
        if pathAndQuery.count == 2 {
            for item in pathAndQuery[1].split(separator: "&") {
                let pair = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                query.append(
                    (
                        AWSPercentEncoding.decode(pair[0]) ?? String(pair[0]),
                        pair.count == 2 ? AWSPercentEncoding.decode(pair[1]) ?? String(pair[1]) : ""
                    )
                )
            }
        }
        var headers: [(name: String, value: String)] = []
        for line in lines where !line.isEmpty {
            if line.first == " " || line.first == "\t", !headers.isEmpty {
                headers[headers.count - 1].value += "\n" + line
                continue
            }
            let colon = line.firstIndex(of: ":")!
            headers.append((String(line[..<colon]), String(line[line.index(after: colon)...])))
        }
        let request = SigV4Signer.Request(
            method: method,
            path: String(pathAndQuery[0]),
            query: query,
            headers: headers,
            payloadHash: SigV4Signer.sha256Hex(body)
        )
        return (request, body)
    }

    static func setUp(_ vector: Vector) throws -> (SigV4Signer, AWSCredentials, UTCTimestamp, Context) {
        let context = try JSONDecoder().decode(Context.self, from: Data(try vector.file("context.json").utf8))
        let signer = SigV4Signer(
            region: context.region,
            service: context.service,
            normalizesPath: context.normalize,
            doubleEncodesPath: true
        )
        let credentials = AWSCredentials(
            accessKeyID: context.credentials.access_key_id,
            secretAccessKey: context.credentials.secret_access_key,
            sessionToken: context.credentials.token
        )
        let date = try #require(parseUTCDatetime(context.timestamp))
        return (signer, credentials, date, context)
    }

    @Test func theSuiteIsPresentAndComplete() {
        #expect(Self.vectors.count == 38, "\(String(describing: try? RepositoryFiles.vectors("sigv4")))")
    }

    @Test(arguments: Self.vectors)
    func headerSigningMatchesTheSuite(_ vector: Vector) throws {
        let (signer, credentials, date, context) = try Self.setUp(vector)
        var (request, _) = Self.request(try vector.file("request.txt"))
        let signature = signer.signHeaders(
            &request,
            credentials: credentials,
            date: date,
            addsContentHash: context.sign_body,
            signsSessionToken: !(context.omit_session_token ?? false)
        )
        #expect(signature.canonicalRequest == (try vector.file("header-canonical-request.txt")))
        #expect(signature.stringToSign == (try vector.file("header-string-to-sign.txt")))
        #expect(signature.signature == (try vector.file("header-signature.txt")))
        let signed = try vector.file("header-signed-request.txt")
        let authorization = try #require(request.headers.first { $0.name == "Authorization" }?.value)
        #expect(signed.contains("Authorization:\(authorization)\n"))
    }

    @Test(arguments: Self.vectors)
    func querySigningMatchesTheSuite(_ vector: Vector) throws {
        let (signer, credentials, date, context) = try Self.setUp(vector)
        var (request, _) = Self.request(try vector.file("request.txt"))
        let signature = signer.presign(
            &request,
            credentials: credentials,
            date: date,
            expires: context.expiration_in_seconds,
            signsSessionToken: !(context.omit_session_token ?? false)
        )
        #expect(signature.canonicalRequest == (try vector.file("query-canonical-request.txt")))
        #expect(signature.stringToSign == (try vector.file("query-string-to-sign.txt")))
        #expect(signature.signature == (try vector.file("query-signature.txt")))
        #expect(request.query.last?.name == "X-Amz-Signature")
    }

    @Test func s3KeepsThePathAsSentAndSendsTheContentHash() throws {
        let signer = SigV4Signer(region: "us-east-1", service: "s3")
        var request = SigV4Signer.Request(
            method: "GET",
            path: "/bucket/" + AWSPercentEncoding.encode("logs/a b/../ሴ.gz", keepSlash: true),
            headers: [("Host", "s3.amazonaws.com")],
            payloadHash: SigV4Signer.unsignedPayload
        )
        let signature = signer.signHeaders(
            &request,
            credentials: AWSCredentials(accessKeyID: "AKIDEXAMPLE", secretAccessKey: "secret"),
            date: UTCTimestamp(microsecondsSinceEpoch: 0),
            addsContentHash: true
        )
        let lines = signature.canonicalRequest.components(separatedBy: "\n")
        #expect(lines[1] == "/bucket/logs/a%20b/../%E1%88%B4.gz")
        #expect(lines.contains("x-amz-content-sha256:UNSIGNED-PAYLOAD"))
        #expect(lines.last == "UNSIGNED-PAYLOAD")
    }

    @Test func credentialsNeverPrintTheirSecrets() {
        let credentials = AWSCredentials(
            accessKeyID: "AKIAIOSFODNN7EXAMPLE",
            secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            sessionToken: "FwoGZXIvYXdzEJr//////////wEaDEXAMPLETOKEN"
        )
        for text in ["\(credentials)", String(reflecting: credentials), "\([credentials])"] {
            #expect(!text.contains("wJalrXUtnFEMI"))
            #expect(!text.contains("FwoGZXIvYXdz"))
            #expect(!text.contains("AKIAIOSFODNN7"))
            #expect(text.contains("…MPLE"))
        }
    }
}
