import Foundation
import NIOPosix
import Synchronization

/// A local AWS emulator (`moto[server]` from PyPI) serving S3, SQS, STS and IAM on a loopback port, with
/// the peer-side helper Tests/Support/peers/aws_fixture.py (boto3) to prepare buckets, queues and users.
///
/// Two shared instances live for the whole test run: ``open()`` accepts any signature;
/// ``enforcingSignatures()`` checks SigV4 and IAM policies after its first five calls, which create an
/// admin user and a user with no permissions (their keys are in ``keys``).
public final class MotoServer: Sendable {
    public let peer: PeerProcess
    /// `http://127.0.0.1:<port>`
    public let endpoint: String
    /// Users created while signatures were not yet checked, by name (`trawl-admin`, `trawl-limited`).
    public let keys: [String: AccessKey]

    public struct AccessKey: Sendable, Codable {
        public var id: String
        public var secret: String

        public init(id: String, secret: String) {
            self.id = id
            self.secret = secret
        }
    }

    /// Accepts any credentials: for tests of behaviour, not of signing.
    public static func open() async throws -> MotoServer { try await Self.shared(enforcing: false) }

    /// Checks every signature and IAM permission, as AWS does.
    public static func enforcingSignatures() async throws -> MotoServer { try await Self.shared(enforcing: true) }

    /// The account moto creates everything in.
    public static let accountID = "123456789012"

    private enum Slot {
        case starting([CheckedContinuation<MotoServer, any Error>])
        case ready(MotoServer)
        case failed(String)
    }

    /// One server per kind for the whole test run; tests asking while it starts wait for it.
    private static let slots = Mutex<[Bool: Slot]>([:])

    private static func shared(enforcing: Bool) async throws -> MotoServer {
        enum Decision {
            case ready(MotoServer)
            case start
            case wait
            case failed(String)
        }
        let decision = Self.slots.withLock { slots -> Decision in
            switch slots[enforcing] {
            case .ready(let server): return .ready(server)
            case .starting: return .wait
            case .failed(let reason): return .failed(reason)
            case nil:
                slots[enforcing] = .starting([])
                return .start
            }
        }
        switch decision {
        case .ready(let server):
            return server
        case .failed(let reason):
            throw PeerFailed(description: reason)
        case .wait:
            return try await withCheckedThrowingContinuation { continuation in
                let outcome = Self.slots.withLock { slots -> Result<MotoServer, PeerFailed>? in
                    switch slots[enforcing] {
                    case .starting(let waiters):
                        slots[enforcing] = .starting(waiters + [continuation])
                        return nil
                    case .ready(let server): return .success(server)
                    case .failed(let reason): return .failure(PeerFailed(description: reason))
                    case nil: return .failure(PeerFailed(description: "moto stopped"))
                    }
                }
                if let outcome { continuation.resume(with: outcome) }
            }
        case .start:
            do {
                let server = try await MotoServer(enforcing: enforcing)
                let waiters = Self.slots.withLock { slots in
                    defer { slots[enforcing] = .ready(server) }
                    if case .starting(let waiters) = slots[enforcing] { return waiters }
                    return []
                }
                for waiter in waiters { waiter.resume(returning: server) }
                return server
            } catch {
                let waiters = Self.slots.withLock { slots in
                    defer { slots[enforcing] = .failed("moto did not start: \(error)") }
                    if case .starting(let waiters) = slots[enforcing] { return waiters }
                    return []
                }
                for waiter in waiters { waiter.resume(throwing: error) }
                throw error
            }
        }
    }

    private init(enforcing: Bool) async throws {
        var environment = ["MOTO_ALLOW_NONEXISTENT_REGION": "true"]
        if enforcing { environment["INITIAL_NO_AUTH_ACTION_COUNT"] = "5" }
        // moto binds a port of its own choosing and prints it: a free port handed to it could be taken by
        // another test's peer while moto starts, and the fixtures then talked to that peer.
        self.peer = try await PeerProcess(
            [
                PeerProcess.python, "\(RepositoryFiles.root)/Tests/Support/peers/moto_server.py", "-H", "127.0.0.1",
                "-p", "0",
            ],
            port: 0,
            environment: environment
        )
        self.endpoint = "http://127.0.0.1:\(self.peer.port)"
        if enforcing {
            let answer = try await Self.fixture(["command": "setup-auth", "endpoint": self.endpoint])
            self.keys = try JSONDecoder().decode([String: AccessKey].self, from: answer)
        } else {
            self.keys = ["trawl-admin": AccessKey(id: "testing", secret: "testing")]
        }
    }

    /// The admin user's keys (any keys on the open instance).
    public var adminKey: AccessKey { self.keys["trawl-admin"]! }

    /// Runs one aws_fixture.py command with the admin keys and returns its JSON answer.
    @discardableResult
    public func fixture(_ command: [String: any Sendable]) async throws -> Data {
        var command = command
        command["endpoint"] = self.endpoint
        if command["keys"] == nil { command["keys"] = ["id": self.adminKey.id, "secret": self.adminKey.secret] }
        return try await Self.fixture(command)
    }

    /// The decoded JSON answer of a fixture command.
    public func fixtureJSON(_ command: [String: any Sendable]) async throws -> [String: Any] {
        let data = try await self.fixture(command)
        return (try JSONSerialization.jsonObject(with: data) as? [String: Any]) ?? [:]
    }

    /// Runs aws_fixture.py on the fixtures' threads (it blocks until the script exits).
    static func fixture(_ command: [String: any Sendable]) async throws -> Data {
        let json = try JSONSerialization.data(withJSONObject: command)
        let name = "\(command["command"] ?? "")"
        return try await FixtureThreadPool.shared.runIfActive {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = [PeerProcess.python, "\(RepositoryFiles.root)/Tests/Support/peers/aws_fixture.py"]
            let input = Pipe()
            let output = Pipe()
            let errorFile = "\(FileManager.default.temporaryDirectory.path)/trawl-fixture-\(UUID().uuidString).err"
            _ = FileManager.default.createFile(atPath: errorFile, contents: nil)
            defer { try? FileManager.default.removeItem(atPath: errorFile) }
            process.standardInput = input
            process.standardOutput = output
            let errors = FileHandle(forWritingAtPath: errorFile)
            process.standardError = errors
            // The child has its own copy; Process keeps this process's open.
            defer { try? errors?.close() }
            try process.runAlone()
            // Through stdin: a command carrying a large message body exceeds the limit of one argument.
            try input.fileHandleForWriting.write(contentsOf: json)
            try input.fileHandleForWriting.close()
            let data = output.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            guard process.terminationStatus == 0 else {
                let errorText = (try? String(contentsOfFile: errorFile, encoding: .utf8)) ?? ""
                throw PeerFailed(description: "aws_fixture.py \(name) failed: \(errorText)")
            }
            return data
        }
    }
}
