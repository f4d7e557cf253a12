import Foundation

/// A real forward proxy (Debian's `tinyproxy`) on loopback, asking for basic authentication, standing for the
/// egress proxy of a network that lets security tooling out only through it. Its log names every tunnel
/// a client asked for (`CONNECT host:port`).
public final class ForwardProxy: Sendable {
    public let peer: PeerProcess
    public let port: Int
    public let username: String
    public let password: String
    private let logFile: String

    /// Starts tinyproxy in `directory` (its configuration and log live there).
    public init(directory: String, username: String = "trawl", password: String = "proxy-s3cret") async throws {
        let logFile = "\(directory)/tinyproxy.log"
        // tinyproxy exits when another process took its port first; it is then started on another.
        self.peer = try await PeerProcess.onFreePort { port in
            let configuration = """
                Port \(port)
                Listen 127.0.0.1
                Timeout 60
                LogFile "\(logFile)"
                LogLevel Connect
                MaxClients 100
                Allow 127.0.0.1
                BasicAuth \(username) \(password)
                DisableViaHeader Yes

                """
            let configurationFile = "\(directory)/tinyproxy.conf"
            try configuration.write(toFile: configurationFile, atomically: true, encoding: .utf8)
            return try await PeerProcess(["tinyproxy", "-d", "-c", configurationFile], port: port)
        }
        self.logFile = logFile
        self.port = self.peer.port
        self.username = username
        self.password = password
    }

    /// `http://user:password@127.0.0.1:<port>`, as `HTTPS_PROXY` holds it.
    public var url: String { "http://\(self.username):\(self.password)@127.0.0.1:\(self.port)" }

    /// The `host:port` of every tunnel asked for so far, in order (whether or not the proxy allowed it).
    public var tunnels: [String] {
        let log = FileManager.default.contents(atPath: self.logFile).map { String(decoding: $0, as: UTF8.self) } ?? ""
        return log.split(separator: "\n").compactMap { line in
            guard let range = line.range(of: "): CONNECT ") else { return nil }
            return line[range.upperBound...].split(separator: " ").first.map(String.init)
        }
    }

    public func stop() { self.peer.stop() }
}
