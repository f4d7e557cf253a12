import Foundation
import Logging
import Synchronization
import TrawlCore

/// Remembers which S3 objects (bucket, key and version or ETag) were delivered, and for an object still
/// being delivered how many of its records every output already has. SQS delivers at least once, a
/// crash can come between delivery and the message's deletion, and `ack_messages: false` never deletes:
/// with the ledger a notification seen again skips what was delivered instead of sending it twice.
///
/// Each object is its own item in the state store (``StateStore/saveItem(_:named:of:)``), read when its
/// notification arrives and written at each commit: instances that share the store (several `trawl run` on
/// one queue) see each other's progress, so a message one of them left half done after a crash is resumed
/// by whichever receives it next. Items are removed `retention` after their last change. A ledger saved by
/// an earlier Trawl as one file is moved into items at first use.
public final class S3ObjectLedger: Sendable {
    /// What the ledger knows about one object.
    public struct Entry: Codable, Sendable, Equatable {
        /// Records of the object every output accepted, counted from its start.
        public var delivered: Int64
        /// True once the whole object was delivered.
        public var complete: Bool
        /// Seconds since the epoch of the last change.
        public var updated: Int64

        public init(delivered: Int64, complete: Bool, updated: Int64) {
            self.delivered = delivered
            self.complete = complete
            self.updated = updated
        }

        enum CodingKeys: String, CodingKey {
            case delivered = "n"
            case complete = "done"
            case updated = "t"
        }
    }

    /// The form of a ledger saved as one file by earlier versions.
    public struct State: Codable, Sendable {
        public var objects: [String: Entry]

        public init(objects: [String: Entry]) {
            self.objects = objects
        }
    }

    /// One object's item: its entry, the object it is about, and the `reset_persistence_auth` it was
    /// saved under.
    struct Item: Codable {
        var object: String
        var entry: Entry
        var resetPersistenceAuth: String

        enum CodingKeys: String, CodingKey {
            case object
            case entry
            case resetPersistenceAuth = "reset_persistence_auth"
        }
    }

    private let legacy: ServicePersistence<State>
    private let beingRead = ObjectsBeingRead()
    private let retention: Duration
    private let sweepInterval: Duration
    /// Whether the legacy file was looked at, and when items were last swept.
    private let housekeeping = Mutex<(imported: Bool, lastSweep: ContinuousClock.Instant?)>((false, nil))

    public init(persistence: ServicePersistence<State>, retention: Duration, sweepInterval: Duration = .seconds(3_600))
    {
        self.legacy = persistence
        self.retention = retention
        self.sweepInterval = sweepInterval
    }

    private var store: any StateStore { self.legacy.store }
    private var key: StateKey { self.legacy.key }

    /// The ledger's key for an object: the version when the bucket is versioned, else the ETag, so a key
    /// overwritten with new content is a new object.
    public static func identity(of object: S3ObjectReference, eTag: String?) -> String {
        let version = object.versionID ?? (object.eTag ?? eTag).map(Self.unquoted) ?? ""
        return "\(object.bucket)/\(object.key)#\(version)"
    }

    /// An ETag as the ledger names it: S3's answers quote it, notifications do not.
    public static func unquoted(_ eTag: String) -> String { eTag.replacing("\"", with: "") }

    /// Runs `body` while no other reader, in this process or in another sharing the state store (another
    /// `trawl run` on the queue, a backfill), reads `object`'s key: the ledger knows an object only once
    /// its events were delivered, so two readers at once would both deliver them. A reader that has to wait
    /// says so once; when its turn comes it finds the object delivered. By key, not version or ETag: a
    /// backfill lists objects by ETag where notifications name versions.
    func reading<T>(_ object: S3ObjectReference, logger: Logger, _ body: () async throws -> T) async throws -> T {
        let name = "\(object.bucket)/\(object.key)"
        return try await self.beingRead.exclusively(name, logger: logger) {
            let hold = try await self.holdAcrossProcesses(name, logger: logger)
            let result: T
            do {
                result = try await body()
            } catch {
                await hold.release()
                throw error
            }
            await hold.release()
            return result
        }
    }

    /// The store's hold of `name`, once no other process has it (asked again at growing intervals).
    private func holdAcrossProcesses(_ name: String, logger: Logger) async throws -> any ItemHold {
        var pause = Duration.milliseconds(100)
        var waited = false
        while true {
            if let hold = try await self.store.tryHoldItem(name, of: self.key) { return hold }
            if !waited {
                logger.info(
                    "s3://\(name) is being read by another Trawl process sharing the state store: waiting for that reading to end"
                )
                waited = true
            }
            try await Task.sleep(for: pause)
            pause = min(pause * 2, .seconds(2))
        }
    }

    /// What was delivered of `object`, if anything, as last saved by any instance sharing the store.
    ///
    /// - Throws: ``TrawlError/Code/stateUnreadable`` when the object's item is not valid.
    public func entry(_ identity: String) async throws(TrawlError) -> Entry? {
        try await self.importLegacyOnce()
        guard let bytes = try await self.store.loadItem(identity, of: self.key) else { return nil }
        let item: Item
        do {
            item = try JSONDecoder().decode(Item.self, from: Data(bytes))
        } catch {
            throw TrawlError(
                .stateUnreadable,
                "the ledger item of \(identity) is not valid Trawl state",
                location: (self.store as? FileStateStore)?.path(ofItem: identity, of: self.key) ?? "\(self.key)",
                underlying: error
            )
        }
        guard item.object == identity, item.resetPersistenceAuth == self.legacy.resetPersistenceAuth else {
            return nil
        }
        return item.entry
    }

    /// Records that every output accepted the first `delivered` records of the object (all of them when
    /// `complete`), durably before returning.
    public func record(_ identity: String, delivered: Int64, complete: Bool) async throws(TrawlError) {
        try await self.importLegacyOnce()
        let now = UTCTimestamp.now().microsecondsSinceEpoch / 1_000_000
        try await self.save(Entry(delivered: delivered, complete: complete, updated: now), for: identity)
        try await self.sweepIfDue()
    }

    /// Saves a delivered object's entry again when it was last saved more than a quarter of the retention
    /// ago, so the ledger forgets an object only `retention` after its notification last came: a message
    /// that keeps coming back (`ack_messages: false`, another object of it failing, a delete that failed)
    /// would otherwise deliver the object again once the ledger forgot it, however often it had been
    /// skipped meanwhile. Returns whether it saved.
    @discardableResult
    public func keepRemembering(_ identity: String, _ entry: Entry) async throws(TrawlError) -> Bool {
        let now = UTCTimestamp.now().microsecondsSinceEpoch / 1_000_000
        guard entry.complete, now - entry.updated >= Int64(self.retention.components.seconds / 4) else { return false }
        try await self.save(Entry(delivered: entry.delivered, complete: true, updated: now), for: identity)
        return true
    }

    private func save(_ entry: Entry, for identity: String) async throws(TrawlError) {
        let item = Item(object: identity, entry: entry, resetPersistenceAuth: self.legacy.resetPersistenceAuth)
        let bytes: [UInt8]
        do {
            bytes = Array(try JSONEncoder().encode(item))
        } catch {
            throw TrawlError(.stateWriteFailed, "the ledger item of \(identity) cannot be encoded", underlying: error)
        }
        try await self.store.saveItem(bytes, named: identity, of: self.key)
    }

    /// Removes items older than the retention, at most once per `sweepInterval`.
    private func sweepIfDue() async throws(TrawlError) {
        let now = ContinuousClock.now
        let due = self.housekeeping.withLock { state in
            guard state.lastSweep.map({ $0.duration(to: now) >= self.sweepInterval }) ?? true else { return false }
            state.lastSweep = now
            return true
        }
        guard due else { return }
        let removed = try await self.store.removeItems(of: self.key, olderThan: self.retention)
        if removed > 0 {
            self.legacy.logger.info("Ledger \(self.key): forgot \(removed) object(s) older than the retention")
        }
    }

    /// Moves the entries of a ledger saved as one file into items, once.
    private func importLegacyOnce() async throws(TrawlError) {
        guard !self.housekeeping.withLock({ $0.imported }) else { return }
        // Looked for first, so a ledger that never was one file does not log "no saved state" at each start.
        if try await self.store.load(self.key) != nil, let objects = try await self.legacy.load()?.objects,
            !objects.isEmpty
        {
            for (identity, entry) in objects where try await self.store.loadItem(identity, of: self.key) == nil {
                try await self.save(entry, for: identity)
            }
            try await self.legacy.save(State(objects: [:]))
            self.legacy.logger.info("Ledger \(self.key): moved \(objects.count) object(s) into items")
        }
        self.housekeeping.withLock { $0.imported = true }
    }
}
