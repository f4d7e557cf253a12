import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import TrawlCore

/// What HeadObject (or a GetObject's head) tells about an object.
public struct S3ObjectInfo: Sendable {
    public var size: Int64
    public var eTag: String?
    /// The version read, in a versioned bucket (nil otherwise, and for the `null` version of objects written
    /// before versioning was enabled).
    public var versionID: String?
    public var lastModified: String?
    public var contentType: String?
    public var contentEncoding: String?
}

/// One entry of a listing.
public struct S3ObjectSummary: Sendable {
    public var key: String
    public var size: Int64
    public var eTag: String?
    public var lastModified: UTCTimestamp?
    /// STANDARD, GLACIER, DEEP_ARCHIVE...: an object in an archive class is readable only once restored.
    public var storageClass: String?

    /// Whether the object's class is one S3 reads only from a restored copy (Glacier Flexible Retrieval,
    /// Deep Archive). Intelligent-Tiering's archive tiers do not show in a listing.
    public var isArchived: Bool { self.storageClass == "GLACIER" || self.storageClass == "DEEP_ARCHIVE" }

    /// Whether this is a folder the S3 console made, not data (``isFolderMarker(key:size:)``).
    public var isFolderMarker: Bool { Self.isFolderMarker(key: self.key, size: self.size) }

    /// Whether an object of `size` bytes at `key` is a folder the S3 console made: a zero-byte key ending in
    /// `/`, announced and listed like any object but holding no data. An unknown size is not one.
    public static func isFolderMarker(key: String, size: Int64?) -> Bool {
        key.hasSuffix("/") && size == 0
    }
}

/// One page of ListObjectsV2.
public struct S3ObjectListing: Sendable {
    public var objects: [S3ObjectSummary]
    /// Pass to the next call to get the next page; nil on the last page.
    public var nextContinuationToken: String?
}

/// Amazon S3's REST API, read side: GetObject as a resumable stream, HeadObject, ListObjectsV2.
public struct S3Client: Sendable {
    public enum Addressing: String, Sendable, CaseIterable {
        /// `https://endpoint/bucket/key`: emulators, MinIO, and buckets whose names hold dots.
        case path
        /// `https://bucket.endpoint/key`: what AWS recommends.
        case virtualHosted = "virtual_hosted"
    }

    public let client: AWSClient
    /// The region requests are signed for (and, without an endpoint given, sent to).
    public let region: String
    public let endpoint: AWSEndpoint
    /// Whether `endpoint` was given (an emulator, a proxy, a VPC endpoint) rather than AWS's for `region`.
    public let endpointGiven: Bool
    public let addressing: Addressing
    public let credentials: any AWSCredentialProvider
    let signer: SigV4Signer

    /// `endpoint` defaults to `https://s3.<region>.amazonaws.com` with virtual-hosted addressing.
    public init(
        client: AWSClient,
        region: String,
        endpoint: AWSEndpoint? = nil,
        addressing: Addressing? = nil,
        credentials: any AWSCredentialProvider
    ) {
        self.client = client
        self.region = region
        self.endpoint = endpoint ?? .standard(service: "s3", region: region)
        self.endpointGiven = endpoint != nil
        self.addressing = addressing ?? (endpoint == nil ? .virtualHosted : .path)
        self.credentials = credentials
        self.signer = SigV4Signer(region: region, service: "s3")
    }

    /// The same client for a bucket in `region`: S3 refuses requests signed for another region than the
    /// bucket's, and a notification can come from another region's bucket (through SNS or EventBridge). An
    /// endpoint that was given is kept (it serves what it serves), as is this client when `region` is nil
    /// or its own.
    public func inRegion(_ region: String?) -> S3Client {
        guard let region, region != self.region, !self.endpointGiven else { return self }
        return S3Client(
            client: self.client,
            region: region,
            addressing: self.addressing,
            credentials: self.credentials
        )
    }

    /// Where a request about `bucket`/`key` goes: the endpoint and the percent-encoded path.
    public func target(bucket: String, key: String?) -> (endpoint: AWSEndpoint, path: String) {
        let encodedKey = key.map { AWSPercentEncoding.encode($0, keepSlash: true) }
        // Dotted names break TLS wildcard certificates as host names; those buckets stay path-style.
        if self.addressing == .virtualHosted, !(bucket.contains(".") && self.endpoint.scheme == "https") {
            return (self.endpoint.withHost("\(bucket).\(self.endpoint.host)"), "/" + (encodedKey ?? ""))
        }
        return (self.endpoint, "/\(AWSPercentEncoding.encode(bucket))" + (encodedKey.map { "/" + $0 } ?? ""))
    }

    static func resource(bucket: String, key: String?) -> String {
        key.map { "s3://\(bucket)/\($0)" } ?? "s3://\(bucket)"
    }

    public func headObject(bucket: String, key: String, logger: Logger) async throws -> S3ObjectInfo {
        let (endpoint, path) = self.target(bucket: bucket, key: key)
        let response = try await self.client.execute(
            AWSClient.Request(method: .HEAD, endpoint: endpoint, path: path),
            signer: self.signer,
            credentials: self.credentials,
            operation: "HeadObject",
            resource: Self.resource(bucket: bucket, key: key),
            logger: logger
        )
        return Self.info(response.headers, status: response.status)
    }

    static func info(_ headers: HTTPHeaders, status: HTTPResponseStatus) -> S3ObjectInfo {
        var size = headers.first(name: "content-length").flatMap { Int64($0) } ?? 0
        if status == .partialContent, let range = headers.first(name: "content-range"),
            let total = range.split(separator: "/").last.flatMap({ Int64($0) })
        {
            size = total
        }
        return S3ObjectInfo(
            size: size,
            eTag: headers.first(name: "etag"),
            versionID: headers.first(name: "x-amz-version-id").flatMap { $0 == "null" ? nil : $0 },
            lastModified: headers.first(name: "last-modified"),
            contentType: headers.first(name: "content-type"),
            contentEncoding: headers.first(name: "content-encoding")
        )
    }

    /// One page of the keys under `prefix`.
    public func listObjects(
        bucket: String,
        prefix: String = "",
        continuationToken: String? = nil,
        startAfter: String? = nil,
        maxKeys: Int = 1000,
        logger: Logger
    ) async throws -> S3ObjectListing {
        let (endpoint, path) = self.target(bucket: bucket, key: nil)
        var query: [(name: String, value: String)] = [
            ("list-type", "2"), ("encoding-type", "url"), ("max-keys", String(maxKeys)), ("prefix", prefix),
        ]
        if let continuationToken { query.append(("continuation-token", continuationToken)) }
        if let startAfter { query.append(("start-after", startAfter)) }
        let resource = Self.resource(bucket: bucket, key: prefix.isEmpty ? nil : prefix)
        let (_, body) = try await self.client.executeCollecting(
            AWSClient.Request(method: .GET, endpoint: endpoint, path: path.isEmpty ? "/" : path, query: query),
            signer: self.signer,
            credentials: self.credentials,
            operation: "ListObjectsV2",
            resource: resource,
            logger: logger
        )
        guard let document = AWSXMLElement.parse(body.readableBytesView), document.name == "ListBucketResult" else {
            throw TrawlError(
                .awsClientException,
                "AWS request client encountered an exception: S3 ListObjectsV2 answered a document that is not a listing",
                location: resource
            )
        }
        let urlEncoded = document["EncodingType"]?.text == "url"
        var objects: [S3ObjectSummary] = []
        for entry in document.all("Contents") {
            guard let rawKey = entry["Key"]?.text else { continue }
            let key = urlEncoded ? (AWSPercentEncoding.decode(rawKey, plusIsSpace: true) ?? rawKey) : rawKey
            objects.append(
                S3ObjectSummary(
                    key: key,
                    size: entry["Size"].flatMap { Int64($0.text) } ?? 0,
                    eTag: entry["ETag"]?.text,
                    lastModified: entry["LastModified"].flatMap { parseUTCDatetime($0.text) },
                    storageClass: entry["StorageClass"]?.text
                )
            )
        }
        let truncated = document["IsTruncated"]?.text == "true"
        let next = document["NextContinuationToken"]?.text
        if truncated, next?.isEmpty ?? true {
            throw TrawlError(
                .awsClientException,
                "AWS request client encountered an exception: S3 ListObjectsV2 said the listing goes on (IsTruncated) but gave no NextContinuationToken, so the rest cannot be listed",
                location: resource
            )
        }
        return S3ObjectListing(objects: objects, nextContinuationToken: truncated ? next : nil)
    }

    /// Every key under `prefix`, page after page.
    ///
    /// - Throws: an `awsClientException` when a page gives a continuation token an earlier page gave (a
    ///   misbehaving S3-compatible store), which followed would list the same pages without end.
    public func listAllObjects(bucket: String, prefix: String = "", logger: Logger) async throws -> [S3ObjectSummary] {
        var objects: [S3ObjectSummary] = []
        var token: String?
        var tokens: Set<String> = []
        repeat {
            let page = try await self.listObjects(
                bucket: bucket,
                prefix: prefix,
                continuationToken: token,
                logger: logger
            )
            objects += page.objects
            token = page.nextContinuationToken
            if let token, !tokens.insert(token).inserted {
                throw TrawlError(
                    .awsClientException,
                    "AWS request client encountered an exception: S3 ListObjectsV2 page \(tokens.count + 1) gave the continuation token \(String(token.prefix(80)).debugDescription) that an earlier page gave: the listing loops, so it stops here",
                    location: Self.resource(bucket: bucket, key: prefix.isEmpty ? nil : prefix)
                )
            }
        } while token != nil
        return objects
    }

    /// Starts reading an object from byte `offset`; the body streams with backpressure (bounded memory
    /// whatever the size) and resumes with a Range request if the connection drops mid-way.
    ///
    /// `versionID` reads that version of the object rather than the current one (AWS then asks for
    /// `s3:GetObjectVersion` besides `s3:GetObject`).
    public func getObject(
        bucket: String,
        key: String,
        versionID: String? = nil,
        offset: Int64 = 0,
        maxResumes: Int = 5,
        logger: Logger
    ) async throws -> S3ObjectStream {
        let response = try await self.get(
            bucket: bucket,
            key: key,
            versionID: versionID,
            offset: offset,
            eTag: nil,
            logger: logger
        )
        let info = Self.info(response.headers, status: response.status)
        return S3ObjectStream(
            client: self,
            bucket: bucket,
            key: key,
            versionID: versionID,
            info: info,
            offset: offset,
            first: response.body,
            maxResumes: maxResumes,
            logger: logger
        )
    }

    func get(
        bucket: String,
        key: String,
        versionID: String?,
        offset: Int64,
        eTag: String?,
        logger: Logger
    ) async throws -> HTTPClientResponse {
        let (endpoint, path) = self.target(bucket: bucket, key: key)
        var headers: [(name: String, value: String)] = []
        if offset > 0 { headers.append(("Range", "bytes=\(offset)-")) }
        if let eTag { headers.append(("If-Match", eTag)) }
        let query = versionID.map { [(name: "versionId", value: $0)] } ?? []
        return try await self.client.execute(
            AWSClient.Request(method: .GET, endpoint: endpoint, path: path, query: query, headers: headers),
            signer: self.signer,
            credentials: self.credentials,
            operation: "GetObject",
            resource: Self.resource(bucket: bucket, key: key),
            logger: logger
        )
    }
}

/// The bytes of one S3 object as they arrive. A dropped connection is resumed where it broke with a Range
/// request pinned to the object's ETag (`If-Match`), so a replaced object is never spliced into the old one.
public struct S3ObjectStream: AsyncSequence, Sendable {
    public typealias Element = ByteBuffer

    let client: S3Client
    public let bucket: String
    public let key: String
    /// The version read, when one was asked for (nil: the current one).
    public let versionID: String?
    /// Size and ETag of the whole object.
    public let info: S3ObjectInfo
    let offset: Int64
    let first: HTTPClientResponse.Body
    let maxResumes: Int
    let logger: Logger

    public func makeAsyncIterator() -> Iterator {
        Iterator(stream: self, body: self.first.makeAsyncIterator(), position: self.offset)
    }

    public struct Iterator: AsyncIteratorProtocol {
        let stream: S3ObjectStream
        var body: HTTPClientResponse.Body.AsyncIterator
        /// The offset in the object of the next byte to arrive.
        public private(set) var position: Int64
        public private(set) var resumes = 0

        init(stream: S3ObjectStream, body: HTTPClientResponse.Body.AsyncIterator, position: Int64) {
            self.stream = stream
            self.body = body
            self.position = position
        }

        public mutating func next() async throws -> ByteBuffer? {
            while true {
                do {
                    guard let chunk = try await self.body.next() else {
                        if self.position >= self.stream.info.size { return nil }
                        throw ShortBody(received: self.position, expected: self.stream.info.size)
                    }
                    self.position += Int64(chunk.readableBytes)
                    return chunk
                } catch {
                    if error is CancellationError || Task.isCancelled { throw CancellationError() }
                    guard self.resumes < self.stream.maxResumes else {
                        throw TrawlError.awsTransport(
                            error,
                            timedOut: AWSClient.isTimeout(error),
                            service: "s3",
                            operation: "GetObject",
                            resource: S3Client.resource(bucket: self.stream.bucket, key: self.stream.key),
                            attempts: self.resumes + 1
                        )
                    }
                    self.resumes += 1
                    self.stream.logger.warning(
                        "Connection broke while reading the object; resuming at byte \(self.position) of \(self.stream.info.size) (resume \(self.resumes) of \(self.stream.maxResumes)): \(NetworkFailure.describe(error))",
                        metadata: ["s3.bucket": "\(self.stream.bucket)", "s3.key": "\(self.stream.key)"]
                    )
                    let response = try await self.stream.client.get(
                        bucket: self.stream.bucket,
                        key: self.stream.key,
                        versionID: self.stream.versionID,
                        offset: self.position,
                        eTag: self.stream.info.eTag,
                        logger: self.stream.logger
                    )
                    if let problem = S3ObjectStream.mismatch(
                        of: response,
                        resumingAt: self.position,
                        size: self.stream.info.size
                    ) {
                        throw TrawlError(
                            .awsClientException,
                            "AWS request client encountered an exception: S3 \(problem) resuming at byte \(self.position) (HTTP \(response.status.code)); nothing after that byte was read",
                            location: S3Client.resource(bucket: self.stream.bucket, key: self.stream.key)
                        )
                    }
                    self.body = response.body.makeAsyncIterator()
                }
            }
        }
    }

    /// What is wrong with the answer to a Range request resuming at `position` of an object of `size` bytes,
    /// nil when it carries exactly the bytes from `position` on: an endpoint (a proxy, an S3-compatible
    /// store) that answers another range would splice the wrong bytes into the object unnoticed.
    static func mismatch(of response: HTTPClientResponse, resumingAt position: Int64, size: Int64) -> String? {
        if response.status == .ok, position == 0 { return nil }
        guard response.status == .partialContent else { return "ignored the Range request" }
        guard let range = response.headers.first(name: "content-range") else {
            return "answered a Range request without a Content-Range"
        }
        let (unit, rest) = (range.prefix(while: { $0 != " " }), range.drop(while: { $0 != " " }).dropFirst())
        let start = rest.prefix(while: { $0 != "-" })
        let total = rest.split(separator: "/").last
        guard unit == "bytes", Int64(start) == position, total == "*" || total.flatMap({ Int64($0) }) == size else {
            return
                "answered the Range request with the range \"\(range)\" instead of bytes \(position)-\(size - 1)/\(size)"
        }
        return nil
    }

    struct ShortBody: Error, CustomStringConvertible {
        var received: Int64
        var expected: Int64
        var description: String { "the body ended after \(self.received) of \(self.expected) bytes" }
    }
}
