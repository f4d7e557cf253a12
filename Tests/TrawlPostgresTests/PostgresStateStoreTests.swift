import Logging
import PostgresNIO
import ServiceLifecycle
import Testing
import TrawlCore
import TrawlTesting

@testable import TrawlPostgres

/// The `postgres` state backend against a real PostgreSQL started on loopback.
@Suite struct PostgresStateStoreTests {
    static func store(_ server: PostgresServer, log: RecordingLogger = RecordingLogger()) -> PostgresStateStore {
        PostgresStateStore(
            settings: PersistenceSettings.PostgresSettings(
                host: "127.0.0.1",
                port: server.port,
                database: "postgres",
                username: "trawl",
                password: nil,
                tls: "disable"
            ),
            logger: log.logger
        )
    }

    /// Runs `body` with `count` stores on `server`, each running its pool, as several instances would.
    static func withStores(
        _ count: Int,
        on server: PostgresServer,
        logs: [RecordingLogger]? = nil,
        _ body: @Sendable ([PostgresStateStore]) async throws -> Void
    ) async throws {
        let stores = (0..<count).map { Self.store(server, log: logs?[$0] ?? RecordingLogger()) }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for store in stores { group.addTask { await store.runUntilCancelled() } }
            defer { group.cancelAll() }
            try await body(stores)
        }
    }

    static let key = StateKey(collectorID: "c1", input: "7", service: "agents")

    @Test func stateAndItemsSavedByOneInstanceAreWhatAnotherLoads() async throws {
        let server = try await PostgresServer.start()
        defer { server.stop() }
        try await Self.withStores(2, on: server) { stores in
            let (first, second) = (stores[0], stores[1])
            #expect(try await first.load(Self.key) == nil)
            try await first.save(Array(#"{"cursor":1}"#.utf8), for: Self.key)
            try await second.save(Array(#"{"cursor":2}"#.utf8), for: Self.key)
            #expect(try await first.load(Self.key) == Array(#"{"cursor":2}"#.utf8))
            try await first.saveItem([1, 2, 3], named: "bucket/a#1", of: Self.key)
            try await second.saveItem([4], named: "bucket/b#1", of: Self.key)
            #expect(try await second.loadItem("bucket/a#1", of: Self.key) == [1, 2, 3])
            #expect(try await first.loadItem("bucket/b#1", of: Self.key) == [4])
            #expect(try await first.load(Self.key) == Array(#"{"cursor":2}"#.utf8), "items are apart from the state")
            #expect(try await first.removeItems(of: Self.key, olderThan: .seconds(3_600)) == 0)
            #expect(try await first.removeItems(of: Self.key, olderThan: .zero) == 2)
            #expect(try await first.loadItem("bucket/a#1", of: Self.key) == nil)
            #expect(try await first.load(Self.key) != nil, "the service's own state is not an item")
        }
    }

    @Test func oneInstanceHoldsALeaseAndAnotherTakesItWhenItIsReleasedOrItsSessionEnds() async throws {
        let server = try await PostgresServer.start()
        defer { server.stop() }
        try await Self.withStores(2, on: server) { stores in
            let (first, second) = (stores[0], stores[1])
            guard case .taken(let lease) = try await first.tryLease(Self.key, holder: "instance a") else {
                Issue.record("the first instance did not get the free lease")
                return
            }
            guard case .heldElsewhere(let holder) = try await second.tryLease(Self.key, holder: "instance b") else {
                Issue.record("two instances held one lease")
                return
            }
            #expect(holder == "instance a")
            #expect(await lease.stillHeld())
            await lease.release()
            guard case .taken(let taken) = try await second.tryLease(Self.key, holder: "instance b") else {
                Issue.record("a released lease was not taken")
                return
            }
            // The holder's session ends as when its process dies: the lock goes with it.
            try await Self.terminateSessions(holdingLeaseOf: Self.key, on: server)
            #expect(await !taken.stillHeld())
            await taken.release()
            guard case .taken(let again) = try await first.tryLease(Self.key, holder: "instance a") else {
                Issue.record("the lease of a dead session was not free")
                return
            }
            await again.release()
        }
    }

    /// postgres-nio describes its errors as "Generic description to prevent accidental leakage of sensitive
    /// data"; PersistenceError 204 says what the server answered instead, at the first use.
    @Test func aDatabaseErrorSaysWhatTheServerAnswered() async throws {
        let server = try await PostgresServer.start()
        defer { server.stop() }
        let store = PostgresStateStore(
            settings: PersistenceSettings.PostgresSettings(
                host: "127.0.0.1",
                port: server.port,
                database: "no_such_database",
                username: "trawl",
                password: nil,
                tls: "disable"
            ),
            logger: RecordingLogger().logger
        )
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await store.runUntilCancelled() }
            defer { group.cancelAll() }
            // The pool alone would retry for a minute and then say only that it gave up.
            let error = await #expect(throws: TrawlError.self) { try await store.load(Self.key) }
            #expect(error?.code == .stateDatabaseFailed)
            let text = "\(try #require(error))"
            #expect(text.contains("database \"no_such_database\" does not exist (SQLSTATE 3D000)"), "\(text)")
            #expect(!text.contains("Generic description"))
        }
    }

    /// Each instance holds the objects it reads in its own session: another instance's hold of the same
    /// object waits, and a holder whose session ends (its process died) lets the others in.
    @Test func anItemHeldByOneInstanceIsRefusedToAnotherUntilReleasedOrItsSessionEnds() async throws {
        let server = try await PostgresServer.start()
        defer { server.stop() }
        let logs = [RecordingLogger(), RecordingLogger()]
        try await Self.withStores(2, on: server, logs: logs) { stores in
            let (first, second) = (stores[0], stores[1])
            let held = try #require(try await first.tryHoldItem("bucket/a.json", of: Self.key))
            #expect(try await second.tryHoldItem("bucket/a.json", of: Self.key) == nil)
            let other = try #require(try await second.tryHoldItem("bucket/b.json", of: Self.key))
            await held.release()
            await held.release()
            let taken = try #require(try await second.tryHoldItem("bucket/a.json", of: Self.key))
            #expect(try await first.tryHoldItem("bucket/a.json", of: Self.key) == nil)
            try await Self.terminateSessions(
                holding: PostgresStateStore.lockNumber(Self.key, item: "bucket/a.json"),
                on: server
            )
            let again = try #require(try await first.tryHoldItem("bucket/a.json", of: Self.key))
            #expect(
                try await second.tryHoldItem("bucket/b.json", of: Self.key) != nil,
                "the ended session's other holds went with it, and a new session takes them"
            )
            await again.release()
            await taken.release()
            await other.release()
            let lost =
                "The state database session that held bucket/a.json while it was read ended before the reading did"
            #expect(logs[1].messages(containing: lost).count == 1, "the hold lost with its session is reported")
            #expect(logs[0].messages(containing: "The state database session that held").isEmpty)
        }
    }
}

extension PostgresStateStoreTests {
    /// Ends the database sessions holding the lease of `key`, as the server does when their process dies, and
    /// waits until they have ended (the timeout argument, PostgreSQL 14 and later): without it the lock could
    /// still be held when the test looked.
    static func terminateSessions(holdingLeaseOf key: StateKey, on server: PostgresServer) async throws {
        try await Self.terminateSessions(holding: PostgresStateStore.lockNumber(key), on: server)
    }

    /// Ends the database sessions holding advisory lock `lock`, and waits until they have ended.
    static func terminateSessions(holding lock: Int64, on server: PostgresServer) async throws {
        let logger = RecordingLogger().logger
        let connection = try await PostgresConnection.connect(
            configuration: PostgresConnection.Configuration(
                host: "127.0.0.1",
                port: server.port,
                username: "trawl",
                password: nil,
                database: "postgres",
                tls: .disable
            ),
            id: 1,
            logger: logger
        )
        let (high, low) = PostgresStateStore.lockParts(lock)
        try await connection.query(
            """
            SELECT pg_terminate_backend(pid, 10000) FROM pg_locks
            WHERE locktype = 'advisory' AND classid::bigint = \(high) AND objid::bigint = \(low) AND granted
            """,
            logger: logger
        )
        try await connection.close()
    }
}

extension PostgresStateStore {
    /// Runs the pool until the task is cancelled.
    func runUntilCancelled() async {
        await self.run()
    }
}
