import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

/// Reads a running Trawl's monitoring endpoint as Prometheus and an orchestrator would.
public struct MonitoringScraper: Sendable {
    public let baseURL: String

    public init(port: Int, host: String = "127.0.0.1") {
        self.baseURL = "http://\(host):\(port)"
    }

    /// GET `path`: (status, body); nil when nothing answered within `timeout`.
    public func get(_ path: String, timeout: Duration = .seconds(10)) async -> (status: Int, body: String)? {
        do {
            let response = try await HTTPClient.shared.execute(
                HTTPClientRequest(url: self.baseURL + path),
                timeout: TimeAmount(timeout)
            )
            let body = try await response.body.collect(upTo: 16 << 20)
            return (Int(response.status.code), String(buffer: body))
        } catch {
            return nil
        }
    }

    /// Waits until `path` answers `status`, polling; false at the deadline.
    public func waitFor(_ path: String, status: Int, timeout: Duration = .seconds(60)) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if await self.get(path, timeout: .seconds(2))?.status == status { return true }
            try? await Task.sleep(for: .milliseconds(200))
        }
        return false
    }

    /// The samples of `/metrics`, keyed by name and labels as written (`name{a="x",b="y"}`).
    public func metrics() async throws -> PrometheusSamples {
        guard let (status, body) = await self.get("/metrics"), status == 200 else {
            throw PeerFailed(description: "\(self.baseURL)/metrics did not answer 200")
        }
        return PrometheusSamples(parsing: body)
    }
}

/// The samples of a Prometheus text exposition.
public struct PrometheusSamples: Sendable {
    public private(set) var values: [String: Double] = [:]

    public init(parsing text: String) {
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else {
                continue
            }
            self.values[String(line[..<space])] = value
        }
    }

    /// The value of `name` with exactly these labels (in any order), or nil.
    public func value(_ name: String, _ labels: [String: String] = [:]) -> Double? {
        self.values.first { key, _ in Self.split(key) == (name, labels) }?.value
    }

    /// Every sample of `name`, with its labels.
    public func samples(_ name: String) -> [(labels: [String: String], value: Double)] {
        self.values.compactMap { key, value in
            let (sampleName, labels) = Self.split(key)
            return sampleName == name ? (labels, value) : nil
        }
    }

    private static func split(_ key: String) -> (String, [String: String]) {
        guard let brace = key.firstIndex(of: "{"), key.hasSuffix("}") else { return (key, [:]) }
        var labels: [String: String] = [:]
        let body = key[key.index(after: brace)..<key.index(before: key.endIndex)]
        var rest = Substring(body)
        while let equals = rest.firstIndex(of: "=") {
            let name = rest[..<equals].trimmingCharacters(in: CharacterSet(charactersIn: ", "))
            var index = rest.index(equals, offsetBy: 2)
            var value = ""
            while index < rest.endIndex, rest[index] != "\"" {
                if rest[index] == "\\" { index = rest.index(after: index) }
                value.append(rest[index])
                index = rest.index(after: index)
            }
            labels[name] = value
            rest = index < rest.endIndex ? rest[rest.index(after: index)...] : ""
        }
        return (String(key[..<brace]), labels)
    }
}
