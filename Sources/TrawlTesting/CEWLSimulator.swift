import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

/// The CTCI CEWL API for tests (Tests/Support/peers/cewl_simulator.py): it serves the list the test sets,
/// refuses other tokens than ``token`` with 401, and answers injected faults.
public final class CEWLSimulator: Sendable {
    public let peer: PeerProcess
    public static let token = "cewl-token"

    public var url: String { "http://127.0.0.1:\(self.peer.port)" }

    public init() async throws {
        self.peer = try await PeerProcess(
            [PeerProcess.python, "\(RepositoryFiles.root)/Tests/Support/peers/cewl_simulator.py"],
            port: 0
        )
    }

    public func stop() {
        self.peer.stop()
    }

    /// Replaces the list the API serves.
    public func serve(_ records: [[String: Any]]) async throws {
        _ = try await self.post("/_sim/list", ["data": records])
    }

    /// Makes the next `count` requests answer `status` with `body` (and `Location: location` when given),
    /// each `delay` seconds after it arrived.
    public func fail(
        status: Int,
        count: Int = 1,
        body: String = "{\"message\": \"injected\"}",
        delay: Int = 0,
        location: String? = nil
    ) async throws {
        var fault: [String: Any] = ["status": status, "count": count, "body": body, "delay": delay]
        if let location { fault["location"] = location }
        _ = try await self.post("/_sim/fault", fault)
    }

    /// How many API requests (not control ones) arrived so far.
    public func requests() async throws -> Int {
        let response = try await HTTPClient.shared.execute(
            HTTPClientRequest(url: self.url + "/_sim/requests"),
            timeout: .seconds(30)
        )
        let body = try await response.body.collect(upTo: 1 << 20)
        let object = try JSONSerialization.jsonObject(with: Data(body.readableBytesView)) as? [String: Any]
        return object?["requests"] as? Int ?? -1
    }

    private func post(_ path: String, _ body: [String: Any]) async throws -> HTTPClientResponse {
        var request = HTTPClientRequest(url: self.url + path)
        request.method = .POST
        request.body = .bytes(ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: body)))
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
        _ = try await response.body.collect(upTo: 1 << 20)
        return response
    }
}
