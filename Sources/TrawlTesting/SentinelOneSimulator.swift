import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import TrawlCore

/// A SentinelOne management console for tests (Tests/Support/peers/sentinelone_simulator.py): it keeps its
/// own data set, serves it as API v2.1 does (cursor paging, filters, sorting, Deep Visibility queries,
/// response actions, 401/403/404, injected 429/503), and lets the test add and update records and read
/// the whole data set back to compare with what Trawl delivered.
public final class SentinelOneSimulator: Sendable {
    public let peer: PeerProcess
    /// A token with the Admin role, and one with the Viewer role; any other is refused with 401.
    public static let adminToken = "admin-token"
    public static let viewerToken = "viewer-token"

    /// Where the console's clock starts: midnight UTC 35 days before the tests started, so that records are
    /// stamped in the past as a real console's are, and ``historicalStart`` stays within the year Trawl
    /// accepts (and the Deep Visibility windows up to now stay as many) whenever the tests run.
    public static let clockStart: UTCTimestamp = {
        let day: Int64 = 86_400_000_000
        let now = UTCTimestamp.now().microsecondsSinceEpoch
        return UTCTimestamp(microsecondsSinceEpoch: now - now % day - 35 * day)
    }()

    /// A day before the console's first record, as `YYYY-MM-DDT00:00:00Z`: the `historical_poll_datetime`
    /// tests configure.
    public static let historicalStart = SentinelOneSimulator.text(
        UTCTimestamp(microsecondsSinceEpoch: SentinelOneSimulator.clockStart.microsecondsSinceEpoch - 86_400_000_000)
    )

    /// `instant` as `YYYY-MM-DDTHH:MM:SSZ`.
    static func text(_ instant: UTCTimestamp) -> String {
        var text = Array(instant.description.utf8.prefix(19))
        text[10] = UInt8(ascii: "T")
        return String(decoding: text, as: UTF8.self) + "Z"
    }

    public var url: String { "http://127.0.0.1:\(self.peer.port)" }

    /// - Parameter clockStart: where the console's clock starts (``clockStart`` unless a test needs records
    ///   stamped about now).
    public init(clockStart: UTCTimestamp = SentinelOneSimulator.clockStart) async throws {
        self.peer = try await PeerProcess(
            [
                PeerProcess.python, "\(RepositoryFiles.root)/Tests/Support/peers/sentinelone_simulator.py",
                Self.text(clockStart),
            ],
            port: 0
        )
    }

    public func stop() {
        self.peer.stop()
    }

    /// Adds `count` generated records of `type` (agents, threats, alerts, rogues, applications, risks);
    /// returns them as the API shows them.
    @discardableResult
    public func add(_ type: String, count: Int) async throws -> [[String: Any]] {
        try await self.control("/_sim/add", ["type": type, "count": count])
    }

    /// Adds `records` of `type` as given (each with at least an `id`), for a test that needs particular ids;
    /// returns them.
    @discardableResult
    public func add(_ type: String, records: [[String: Any]]) async throws -> [[String: Any]] {
        try await self.control("/_sim/add", ["type": type, "records": records])
    }

    /// Adds `count` Deep Visibility events, stamped with the console's clock (all at one instant when
    /// `atOneInstant`); returns them.
    @discardableResult
    public func addDeepVisibilityEvents(_ count: Int, atOneInstant: Bool = false) async throws -> [[String: Any]] {
        try await self.control("/_sim/add-dv", ["count": count, "same_instant": atOneInstant])
    }

    /// Bumps `updatedAt` (and a field) of the records with `ids`; for threats, `addChildren` also gives
    /// each one more event and note. Returns the records.
    @discardableResult
    public func update(_ type: String, ids: [String], addChildren: Bool = false) async throws -> [[String: Any]] {
        try await self.control("/_sim/update", ["type": type, "ids": ids, "add_children": addChildren])
    }

    /// The events (`threat-events`) or notes (`threat-notes`) of every threat, by threat id.
    public func threatChildren(_ kind: String) async throws -> [String: [[String: Any]]] {
        let answer = try await self.request("GET", "/_sim/data?type=\(kind)", body: nil)
        return (answer["data"] as? [String: [[String: Any]]]) ?? [:]
    }

    /// Deletes the child at `index` of `threat` (`kind`: `threat-events` or `threat-notes`), as an analyst
    /// deletes a note.
    public func deleteChild(_ kind: String, of threat: String, at index: Int = 0) async throws {
        _ = try await self.request(
            "POST",
            "/_sim/delete-child",
            body: ["kind": kind, "threat": threat, "index": index]
        )
    }

    /// Adds a child to `threat` (`kind`: `threat-events` or `threat-notes`) stamped `createdAt`, as a console
    /// lists a child after others created later than it; returns its id.
    public func addChild(_ kind: String, to threat: String, createdAt: String) async throws -> String {
        let added = try await self.control(
            "/_sim/add-child",
            ["kind": kind, "threat": threat, "createdAt": createdAt]
        )
        return added.first?["id"] as? String ?? ""
    }

    /// Makes the next `count` API requests (whose path starts with `path`), after the first `after` of them,
    /// answer `status`, with `Retry-After: retryAfter` and `Location: location` when given; `detail` goes in
    /// the error envelope, or `body` replaces it.
    public func fail(
        status: Int,
        count: Int,
        after: Int = 0,
        retryAfter: Int? = nil,
        location: String? = nil,
        path: String = "/",
        detail: String? = nil,
        body: String? = nil
    ) async throws {
        var fault: [String: Any] = ["status": status, "count": count, "path": path, "after": after]
        if let retryAfter { fault["retry_after"] = retryAfter }
        if let location { fault["location"] = location }
        if let detail { fault["detail"] = detail }
        if let body { fault["body"] = body }
        _ = try await self.request("POST", "/_sim/fault", body: fault)
    }

    /// Makes the console say its API tokens expire at `expiresAt` (as the console writes times).
    public func setTokenExpiry(_ expiresAt: String) async throws {
        _ = try await self.request("POST", "/_sim/token", body: ["expiresAt": expiresAt])
    }

    /// Makes the `Date` of the console's answers `seconds` off the real clock (negative: behind), as a
    /// console whose clock drifted; its records keep their stamps.
    public func setDateSkew(seconds: Int) async throws {
        _ = try await self.request("POST", "/_sim/date-skew", body: ["seconds": seconds])
    }

    /// Every record of `type` (or `dv` for the Deep Visibility events), as the API shows them.
    public func records(_ type: String) async throws -> [[String: Any]] {
        let answer = try await self.request("GET", "/_sim/data?type=\(type)", body: nil)
        return (answer["data"] as? [[String: Any]]) ?? []
    }

    /// Every API request received so far: method, path, query, token, body.
    public func requests() async throws -> [[String: Any]] {
        let answer = try await self.request("GET", "/_sim/requests", body: nil)
        return (answer["data"] as? [[String: Any]]) ?? []
    }

    private func control(_ path: String, _ body: [String: Any]) async throws -> [[String: Any]] {
        (try await self.request("POST", path, body: body)["data"] as? [[String: Any]]) ?? []
    }

    private func request(_ method: String, _ path: String, body: [String: Any]?) async throws -> [String: Any] {
        var request = HTTPClientRequest(url: self.url + path)
        request.method = .init(rawValue: method)
        if let body {
            let data = try JSONSerialization.data(withJSONObject: body)
            request.body = .bytes(ByteBuffer(bytes: data))
            request.headers.add(name: "Content-Type", value: "application/json")
        }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
        let bytes = try await response.body.collect(upTo: 256 << 20)
        guard response.status == .ok else {
            throw PeerFailed(description: "simulator \(method) \(path) answered \(response.status)")
        }
        return (try JSONSerialization.jsonObject(with: Data(bytes.readableBytesView)) as? [String: Any]) ?? [:]
    }
}
