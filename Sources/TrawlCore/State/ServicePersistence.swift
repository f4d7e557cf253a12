import Foundation
import Logging

/// A service's typed view of its saved state, applying `reset_persistence_auth`: when the configured value
/// differs from the one saved with the state, the state is ignored (reset) and this is logged.
public struct ServicePersistence<Payload: Codable & Sendable>: Sendable {
    /// The file format: the service's payload plus what Trawl needs to manage it.
    struct Envelope: Codable {
        var format: Int
        var resetPersistenceAuth: String
        var savedAt: String
        var state: Payload

        enum CodingKeys: String, CodingKey {
            case format
            case resetPersistenceAuth = "reset_persistence_auth"
            case savedAt = "saved_at"
            case state
        }
    }

    public let store: any StateStore
    public let key: StateKey
    public let resetPersistenceAuth: String
    public let logger: Logger

    public init(store: any StateStore, key: StateKey, resetPersistenceAuth: String, logger: Logger) {
        self.store = store
        self.key = key
        self.resetPersistenceAuth = resetPersistenceAuth
        self.logger = logger
    }

    /// The persistence of a service, reset when its `reset_persistence_auth` changes.
    public init(store: any StateStore, key: StateKey, service: CommonServiceSettings, logger: Logger) {
        self.init(store: store, key: key, resetPersistenceAuth: service.resetPersistenceAuth, logger: logger)
    }

    /// The saved state, or nil when there is none or it was reset.
    ///
    /// - Throws: ``TrawlError/Code/stateUnreadable`` when the saved file is not valid state: Trawl does not
    ///   silently start over, which could re-ingest or skip data.
    public func load() async throws(TrawlError) -> Payload? {
        guard let bytes = try await self.store.load(self.key) else {
            self.logger.info("No saved state for \(self.key): starting from the configured beginning")
            return nil
        }
        let envelope: Envelope
        do {
            envelope = try JSONDecoder().decode(Envelope.self, from: Data(bytes))
        } catch {
            throw TrawlError(
                .stateUnreadable,
                "state of \(self.key) is not valid Trawl state",
                location: (self.store as? FileStateStore)?.path(for: self.key) ?? "\(self.key)",
                underlying: error
            )
        }
        guard envelope.resetPersistenceAuth == self.resetPersistenceAuth else {
            self.logger.warning(
                "reset_persistence_auth changed (\"\(envelope.resetPersistenceAuth)\" -> \"\(self.resetPersistenceAuth)\"): persistence of \(self.key) reset, previous state saved at \(envelope.savedAt) ignored"
            )
            return nil
        }
        return envelope.state
    }

    /// Saves `state` durably (see ``StateStore/save(_:for:)``).
    public func save(_ state: Payload) async throws(TrawlError) {
        let envelope = Envelope(
            format: 1,
            resetPersistenceAuth: self.resetPersistenceAuth,
            savedAt: UTCTimestamp.now().description,
            state: state
        )
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let bytes: [UInt8]
        do {
            bytes = Array(try encoder.encode(envelope))
        } catch {
            throw TrawlError(.stateWriteFailed, "state of \(self.key) cannot be encoded", underlying: error)
        }
        try await self.store.save(bytes, for: self.key)
        self.logger.debug("State saved for \(self.key)")
    }
}
