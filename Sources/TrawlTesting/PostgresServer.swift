import Foundation
import NIOPosix

#if canImport(Glibc)
import Glibc
#endif

/// A PostgreSQL server from Debian's packages, started for a test on a loopback port with a fresh cluster
/// (superuser `trawl`, trust authentication, fsync off), and removed when stopped. As root it runs as the
/// `postgres` user the package created, since PostgreSQL refuses to run as root.
public final class PostgresServer: Sendable {
    public let port: Int
    private let peer: PeerProcess
    private let directory: TemporaryDirectory

    /// The directory holding `initdb` and `postgres` (`/usr/lib/postgresql/<version>/bin`).
    static func binaries() throws -> String {
        let root = "/usr/lib/postgresql"
        let versions = (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []
        guard let version = versions.compactMap(Int.init).max() else {
            throw PeerFailed(
                description: "PostgreSQL is not installed under \(root) (scripts/setup --test installs it)"
            )
        }
        return "\(root)/\(version)/bin"
    }

    /// The command prefix that runs a program as `postgres` when this process is root.
    static var asPostgres: [String] {
        getuid() == 0 ? ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", "--"] : []
    }

    public static func start() async throws -> PostgresServer {
        let bin = try Self.binaries()
        let directory = try TemporaryDirectory(prefix: "trawl-postgres")
        let data = "\(directory.path)/data"
        if getuid() == 0 {
            try FileManager.default.setAttributes(
                [.ownerAccountName: "postgres", .groupOwnerAccountName: "postgres"],
                ofItemAtPath: directory.path
            )
        }
        let status = try await Self.runQuietly(
            Self.asPostgres + ["\(bin)/initdb", "-D", data, "-A", "trust", "-U", "trawl", "-E", "UTF8", "--no-sync"]
        )
        guard status == 0 else {
            directory.remove()
            throw PeerFailed(description: "initdb failed with status \(status)")
        }
        let peer: PeerProcess
        do {
            // PostgreSQL exits when another process took its port first; it is then started on another.
            peer = try await PeerProcess.onFreePort { port in
                try await PeerProcess(
                    Self.asPostgres + [
                        "\(bin)/postgres", "-D", data, "-p", "\(port)", "-k", directory.path,
                        "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "max_connections=50",
                    ],
                    port: port
                )
            }
        } catch {
            directory.remove()
            throw error
        }
        let port = peer.port
        let server = PostgresServer(port: port, peer: peer, directory: directory)
        // The port accepts connections before the server has started up; until then it refuses every session
        // ("the database system is starting up"), which a test's first direct connection would meet on a
        // loaded machine.
        let deadline = ContinuousClock.now + .seconds(60)
        let ready = ["\(bin)/pg_isready", "-q", "-h", "127.0.0.1", "-p", "\(port)", "-U", "trawl", "-d", "postgres"]
        while try await Self.runQuietly(ready) != 0 {
            guard ContinuousClock.now < deadline else {
                server.stop()
                throw PeerFailed(description: "PostgreSQL on port \(port) did not finish starting up")
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        return server
    }

    /// Runs `arguments` (looked up in PATH) to its end, on the fixtures' threads; its exit status.
    private static func runQuietly(_ arguments: [String]) async throws -> Int32 {
        try await FixtureThreadPool.shared.runIfActive {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = arguments
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.runAlone()
            process.waitUntilExit()
            return process.terminationStatus
        }
    }

    private init(port: Int, peer: PeerProcess, directory: TemporaryDirectory) {
        self.port = port
        self.peer = peer
        self.directory = directory
    }

    /// `globals.persistence` (a YAML flow mapping) keeping state in this server, spools in `directory`.
    public func persistenceSettings(directory: String = "./state") -> String {
        "{type: postgres, host: 127.0.0.1, port: \(self.port), database: postgres, username: trawl, directory: \(directory)}"
    }

    /// Shuts the server down fast (SIGINT), so it removes its shared memory and its backends exit with it.
    public func stop() {
        self.peer.stop(asking: SIGINT)
        self.directory.remove()
    }
}
