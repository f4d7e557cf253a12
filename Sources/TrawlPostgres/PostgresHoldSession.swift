import Logging
import PostgresNIO
import TrawlCore

/// The database session in which this process holds items (``StateStore/tryHoldItem(_:of:)``), as
/// session-level advisory locks. One session serves every hold, so holding an object while it is read costs
/// two short queries and no connection of the pool (reads holding pool connections could leave none for the
/// ledger's saves). It is opened at the first hold and again after it broke; the server releases a
/// session's locks when it ends, so a holder that dies lets the others in.
actor PostgresHoldSession {
    private let configuration: PostgresConnection.Configuration
    private let logger: Logger
    private var connection: PostgresConnection?
    private var sessionsOpened = 0

    init(configuration: PostgresConnection.Configuration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
    }

    /// Takes `lock` without waiting; the number of the session holding it, or nil when another session has it.
    /// A session the server ended fails its next query: a new one is opened and asked once more.
    func tryLock(_ lock: Int64) async throws -> Int? {
        let (connection, session) = try await self.open()
        do {
            return try await Self.tryLock(lock, on: connection, logger: self.logger) ? session : nil
        } catch {
            try? await connection.close()
            if self.connection === connection { self.connection = nil }
            let (reopened, session) = try await self.open()
            return try await Self.tryLock(lock, on: reopened, logger: self.logger) ? session : nil
        }
    }

    private static func tryLock(_ lock: Int64, on connection: PostgresConnection, logger: Logger) async throws -> Bool {
        for try await granted in try await connection.query(
            "SELECT pg_try_advisory_lock(\(lock))",
            logger: logger
        ).decode(Bool.self) {
            return granted
        }
        return false
    }

    /// Releases `lock`, which `session` took for `item`. A session that ended took its locks with it, and
    /// another instance may then have read the item while this one still did: that is logged, as a reason
    /// for events delivered twice. When the release fails the session is closed, so the server frees the lock
    /// rather than keep it until Trawl stops.
    func unlock(_ lock: Int64, session: Int, item: String) async {
        guard session == self.sessionsOpened, let connection = self.connection, !connection.isClosed else {
            self.logLostHold(item)
            return
        }
        do {
            for try await released in try await connection.query(
                "SELECT pg_advisory_unlock(\(lock))",
                logger: self.logger
            ).decode(Bool.self) where !released {
                self.logLostHold(item)
            }
        } catch {
            self.logger.warning(
                "Could not release \(item) in the state database (\(PostgresFailure.readable(error))): closing the session that holds this process's items"
            )
            try? await connection.close()
            if self.connection === connection { self.connection = nil }
        }
    }

    private func logLostHold(_ item: String) {
        self.logger.warning(
            "The state database session that held \(item) while it was read ended before the reading did (the server restarted or ended it): another Trawl instance may have read it at the same time and delivered its events twice"
        )
    }

    func close() async {
        try? await self.connection?.close()
        self.connection = nil
    }

    /// The open session, or a new one when there is none or it broke.
    private func open() async throws -> (PostgresConnection, Int) {
        if let connection = self.connection, !connection.isClosed { return (connection, self.sessionsOpened) }
        let opened = try await PostgresConnection.connect(
            configuration: self.configuration,
            id: Int.max - self.sessionsOpened,
            logger: self.logger
        )
        // Another caller may have opened one while this one connected.
        if let connection = self.connection, !connection.isClosed {
            try? await opened.close()
            return (connection, self.sessionsOpened)
        }
        self.sessionsOpened += 1
        self.connection = opened
        return (opened, self.sessionsOpened)
    }
}
