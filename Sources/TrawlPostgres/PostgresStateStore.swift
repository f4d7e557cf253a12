import Crypto
import Logging
import NIOCore
import NIOSSL
import PostgresNIO
import ServiceLifecycle
import Synchronization
import TrawlCore

/// The `postgres` state backend (`globals.persistence.type: postgres`): service state and ledger items in
/// one table that every instance of a collector shares, and a lease per API service held as a PostgreSQL
/// session-level advisory lock, so instances on different machines divide the work as they do on one.
///
/// Each save is one upsert statement, atomic on its own. A lease lives on a connection of its own: when its
/// holder dies the server ends the session and with it the lock, and another instance takes it at its next
/// try. A `Service`: it runs the connection pool, and `main` starts it before everything that uses it.
public final class PostgresStateStore: StateStore, Service {
    public let settings: PersistenceSettings.PostgresSettings
    private let client: PostgresClient
    private let leaseConfiguration: PostgresConnection.Configuration
    private let logger: Logger
    private let schemaReady = Mutex(false)
    private let nextConnectionID = Atomic<Int>(1)
    private let holds: PostgresHoldSession

    public init(settings: PersistenceSettings.PostgresSettings, logger: Logger) {
        self.settings = settings
        self.logger = logger
        let tls: PostgresClient.Configuration.TLS =
            settings.tls == "require" ? .require(.makeClientConfiguration()) : .disable
        self.client = PostgresClient(
            configuration: PostgresClient.Configuration(
                host: settings.host,
                port: settings.port,
                username: settings.username,
                password: settings.password,
                database: settings.database,
                tls: tls
            ),
            backgroundLogger: logger
        )
        var connection = PostgresConnection.Configuration(
            host: settings.host,
            port: settings.port,
            username: settings.username,
            password: settings.password,
            database: settings.database,
            tls: .disable
        )
        if settings.tls == "require", let context = try? NIOSSLContext(configuration: .makeClientConfiguration()) {
            connection.tls = .require(context)
        }
        self.leaseConfiguration = connection
        self.holds = PostgresHoldSession(configuration: connection, logger: logger)
    }

    /// `postgres://user@host:port/database`, for errors and logs (never the password).
    public var location: String {
        "postgres://\(self.settings.username)@\(self.settings.host):\(self.settings.port)/\(self.settings.database)"
    }

    /// Runs the connection pool until Trawl stops.
    public func run() async {
        await cancelWhenGracefulShutdown { await self.client.run() }
        await self.holds.close()
    }

    public func load(_ key: StateKey) async throws(TrawlError) -> [UInt8]? {
        try await self.loadItem("", of: key)
    }

    public func save(_ bytes: [UInt8], for key: StateKey) async throws(TrawlError) {
        try await self.saveItem(bytes, named: "", of: key)
    }

    public func loadItem(_ name: String, of key: StateKey) async throws(TrawlError) -> [UInt8]? {
        try await self.run("cannot read the state of \(key)") {
            try await self.ensureSchema()
            let rows = try await self.client.query(
                """
                SELECT bytes FROM trawl_state
                WHERE collector = \(key.collectorID) AND input = \(key.input) AND service = \(key.service)
                AND item = \(name)
                """,
                logger: self.logger
            )
            for try await bytes in rows.decode(ByteBuffer.self) { return Array(buffer: bytes) }
            return nil
        }
    }

    public func saveItem(_ bytes: [UInt8], named name: String, of key: StateKey) async throws(TrawlError) {
        try await self.run("cannot save the state of \(key)") {
            try await self.ensureSchema()
            try await self.client.query(
                """
                INSERT INTO trawl_state (collector, input, service, item, bytes, saved_at)
                VALUES (\(key.collectorID), \(key.input), \(key.service), \(name), \(ByteBuffer(bytes: bytes)), now())
                ON CONFLICT (collector, input, service, item)
                DO UPDATE SET bytes = EXCLUDED.bytes, saved_at = EXCLUDED.saved_at
                """,
                logger: self.logger
            )
        }
    }

    public func removeItems(of key: StateKey, olderThan age: Duration) async throws(TrawlError) -> Int {
        try await self.run("cannot remove old items of \(key)") {
            try await self.ensureSchema()
            let seconds = Int(age.components.seconds)
            let rows = try await self.client.query(
                """
                WITH removed AS (
                    DELETE FROM trawl_state
                    WHERE collector = \(key.collectorID) AND input = \(key.input) AND service = \(key.service)
                    AND item <> '' AND saved_at < now() - make_interval(secs => \(seconds))
                    RETURNING 1
                ) SELECT count(*) FROM removed
                """,
                logger: self.logger
            )
            for try await count in rows.decode(Int.self) { return count }
            return 0
        }
    }

    /// A hold is `pg_try_advisory_lock` of a number derived from the service's key and the item's name, in
    /// the one session that holds this process's items (``PostgresHoldSession``).
    public func tryHoldItem(_ name: String, of key: StateKey) async throws(TrawlError) -> (any ItemHold)? {
        try await self.run("cannot hold \(name) of \(key)") {
            let lock = Self.lockNumber(key, item: name)
            guard let session = try await self.holds.tryLock(lock) else { return nil }
            return PostgresItemHold(holds: self.holds, lock: lock, session: session, item: name)
        }
    }

    /// The lease is `pg_try_advisory_lock` of a number derived from the service's key, on a connection
    /// opened for it and kept while it is held; `trawl_leases` says who holds it.
    public func tryLease(_ key: StateKey, holder: String) async throws(TrawlError) -> LeaseAttempt {
        try await self.run("cannot take the lease of \(key)") {
            try await self.ensureSchema()
            let lock = Self.lockNumber(key)
            let connection = try await PostgresConnection.connect(
                configuration: self.leaseConfiguration,
                id: self.nextConnectionID.add(1, ordering: .relaxed).newValue,
                logger: self.logger
            )
            do {
                var taken = false
                for try await granted in try await connection.query(
                    "SELECT pg_try_advisory_lock(\(lock))",
                    logger: self.logger
                ).decode(Bool.self) {
                    taken = granted
                }
                guard taken else {
                    var current = ""
                    for try await described in try await connection.query(
                        """
                        SELECT holder FROM trawl_leases
                        WHERE collector = \(key.collectorID) AND input = \(key.input) AND service = \(key.service)
                        """,
                        logger: self.logger
                    ).decode(String.self) {
                        current = described
                    }
                    try await connection.close()
                    return .heldElsewhere(holder: current)
                }
                try await connection.query(
                    """
                    INSERT INTO trawl_leases (collector, input, service, holder, taken_at)
                    VALUES (\(key.collectorID), \(key.input), \(key.service), \(holder), now())
                    ON CONFLICT (collector, input, service)
                    DO UPDATE SET holder = EXCLUDED.holder, taken_at = EXCLUDED.taken_at
                    """,
                    logger: self.logger
                )
                var backend: Int32 = 0
                for try await pid in try await connection.query("SELECT pg_backend_pid()", logger: self.logger)
                    .decode(Int32.self)
                {
                    backend = pid
                }
                return .taken(
                    PostgresServiceLease(
                        connection: connection,
                        client: self.client,
                        backend: backend,
                        lock: lock,
                        logger: self.logger
                    )
                )
            } catch {
                try? await connection.close()
                throw error
            }
        }
    }

    /// The advisory lock number of a service, or of one of its items: the first 8 bytes of the SHA-256 of
    /// its name.
    static func lockNumber(_ key: StateKey, item: String? = nil) -> Int64 {
        let name = "trawl/\(key.collectorID)/\(key.input)/\(key.service)" + (item.map { "/item/\($0)" } ?? "")
        let digest = Array(SHA256.hash(data: Array(name.utf8)))
        return digest.prefix(8).reduce(Int64(0)) { ($0 << 8) | Int64($1) }
    }

    /// How `pg_locks` shows a 64-bit advisory lock: its high 32 bits as `classid`, its low ones as `objid`.
    static func lockParts(_ lock: Int64) -> (classID: Int64, objectID: Int64) {
        (Int64(UInt64(bitPattern: lock) >> 32), Int64(UInt64(bitPattern: lock) & 0xFFFF_FFFF))
    }

    /// Creates the tables once per process; instances creating them at once wait for each other. A session of
    /// its own comes first: the pool retries a refused connection for a minute and then reports only that it
    /// gave up, where this says at once what the server answered (no such database, a refused user).
    private func ensureSchema() async throws {
        guard !self.schemaReady.withLock({ $0 }) else { return }
        let probe = try await PostgresConnection.connect(
            configuration: self.leaseConfiguration,
            id: self.nextConnectionID.add(1, ordering: .relaxed).newValue,
            logger: self.logger
        )
        try await probe.close()
        try await self.client.withTransaction(logger: self.logger) { connection in
            try await connection.query("SELECT pg_advisory_xact_lock(7247001)", logger: self.logger)
            try await connection.query(
                """
                CREATE TABLE IF NOT EXISTS trawl_state (
                    collector text NOT NULL,
                    input text NOT NULL,
                    service text NOT NULL,
                    item text NOT NULL DEFAULT '',
                    bytes bytea NOT NULL,
                    saved_at timestamptz NOT NULL DEFAULT now(),
                    PRIMARY KEY (collector, input, service, item)
                )
                """,
                logger: self.logger
            )
            try await connection.query(
                """
                CREATE TABLE IF NOT EXISTS trawl_leases (
                    collector text NOT NULL,
                    input text NOT NULL,
                    service text NOT NULL,
                    holder text NOT NULL,
                    taken_at timestamptz NOT NULL DEFAULT now(),
                    PRIMARY KEY (collector, input, service)
                )
                """,
                logger: self.logger
            )
        }
        self.schemaReady.withLock { $0 = true }
    }

    /// Runs `body`, turning what the database throws into PersistenceError 204.
    private func run<T>(
        _ message: String,
        _ body: () async throws -> T
    ) async throws(TrawlError) -> T {
        do {
            return try await body()
        } catch let error as TrawlError {
            throw error
        } catch {
            throw TrawlError(
                .stateDatabaseFailed,
                "\(message) in \(self.location)",
                location: self.location,
                underlying: PostgresFailure.readable(error)
            )
        }
    }
}

/// What PostgreSQL or the connection said, for an error an operator reads: postgres-nio describes its
/// errors only as "Generic description to prevent accidental leakage of sensitive data". The server's
/// message, its SQLSTATE and the connection's own error name no secret (a statement's values are left out).
struct PostgresFailure: Error, CustomStringConvertible {
    let error: PSQLError

    /// `error` as an operator can read it: a PostgreSQL error as this, any other as it is.
    static func readable(_ error: any Error) -> any Error {
        (error as? PSQLError).map(Self.init) ?? error
    }

    var description: String {
        var parts = ["\(self.error.code)"]
        if let message = self.error.serverInfo?[.message] {
            parts.append(message + (self.error.serverInfo?[.sqlState].map { " (SQLSTATE \($0))" } ?? ""))
        }
        if let underlying = self.error.underlying { parts.append("\(underlying)") }
        return parts.joined(separator: ": ")
    }
}

/// An item held as an advisory lock in the session of ``PostgresHoldSession``.
final class PostgresItemHold: ItemHold {
    private let holds: PostgresHoldSession
    private let lock: Int64
    private let session: Int
    private let item: String
    private let released = Atomic<Bool>(false)

    init(holds: PostgresHoldSession, lock: Int64, session: Int, item: String) {
        self.holds = holds
        self.lock = lock
        self.session = session
        self.item = item
    }

    func release() async {
        guard !self.released.exchange(true, ordering: .relaxed) else { return }
        await self.holds.unlock(self.lock, session: self.session, item: self.item)
    }
}

/// A lease held as an advisory lock on its own database session.
final class PostgresServiceLease: ServiceLease {
    private let connection: PostgresConnection
    private let client: PostgresClient
    /// The lease session's server process, which `pg_locks` names as the lock's holder.
    private let backend: Int32
    private let lock: Int64
    private let logger: Logger

    init(connection: PostgresConnection, client: PostgresClient, backend: Int32, lock: Int64, logger: Logger) {
        self.connection = connection
        self.client = client
        self.backend = backend
        self.lock = lock
        self.logger = logger
    }

    /// Asks the server, over the pool, whether the lease session still holds the lock: a session the server
    /// ended does not always fail a query on it, so the lease's own connection is not asked.
    func stillHeld() async -> Bool {
        let (high, low) = PostgresStateStore.lockParts(self.lock)
        do {
            let rows = try await self.client.query(
                """
                SELECT count(*) FROM pg_locks
                WHERE locktype = 'advisory' AND granted AND pid = \(self.backend)
                AND classid::bigint = \(high) AND objid::bigint = \(low)
                """,
                logger: self.logger
            )
            for try await count in rows.decode(Int.self) { return count > 0 }
            return false
        } catch {
            return false
        }
    }

    /// Ends the lease session and waits (up to five seconds, asking `pg_locks` through the pool) until the
    /// server has freed the lock: it does so only once it notices the disconnection, and an instance asking
    /// for the lease meanwhile was told it is still held. The lease's own session is not asked to unlock: one
    /// the server already ended may never answer (postgres-nio).
    func release() async {
        try? await self.connection.close()
        let deadline = ContinuousClock.now + .seconds(5)
        while await self.stillHeld(), ContinuousClock.now < deadline, !Task.isCancelled {
            try? await Task.sleep(for: .milliseconds(20))
        }
    }
}
