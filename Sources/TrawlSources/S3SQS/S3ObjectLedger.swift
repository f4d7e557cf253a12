import Logging
import Synchronization
import TrawlCore

/// Remembers which S3 objects (bucket, key and version or ETag) were delivered, and for an object still
/// being delivered how many of its records every output already has. SQS delivers at least once, a
/// crash can come between delivery and the message's deletion, and `ack_messages: false` never deletes:
/// with the ledger a notification seen again skips what was delivered instead of sending it twice.
///
/// Entries are kept for `retention` after their last change (and at most `maxEntries`, oldest dropped
/// first); the ledger lives in the state store beside the service's state.
public final class S3ObjectLedger: Sendable {
    /// What the ledger knows about one object.
    public struct Entry: Codable, Sendable, Equatable {
        /// Records of the object every output accepted, counted from its start.
        public var delivered: Int64
        /// True once the whole object was delivered.
        public var complete: Bool
        /// Seconds since the epoch of the last change.
        public var updated: Int64

        enum CodingKeys: String, CodingKey {
            case delivered = "n"
            case complete = "done"
            case updated = "t"
        }
    }

    /// The saved form.
    public struct State: Codable, Sendable {
        public var objects: [String: Entry]
    }

    private let persistence: ServicePersistence<State>
    private let retentionSeconds: Int64
    private let maxEntries: Int
    private let state: Mutex<[String: Entry]?>

    public init(persistence: ServicePersistence<State>, retention: Duration, maxEntries: Int = 100_000) {
        self.persistence = persistence
        self.retentionSeconds = retention.components.seconds
        self.maxEntries = maxEntries
        self.state = Mutex(nil)
    }

    /// The ledger's key for an object: the version when the bucket is versioned, else the ETag, so a key
    /// overwritten with new content is a new object.
    public static func identity(of object: S3ObjectReference, eTag: String?) -> String {
        let version = object.versionID ?? (object.eTag ?? eTag).map { $0.replacing("\"", with: "") } ?? ""
        return "\(object.bucket)/\(object.key)#\(version)"
    }

    /// What was delivered of `object`, if anything.
    public func entry(_ identity: String) throws(TrawlError) -> Entry? {
        try self.withEntries { $0[identity] }
    }

    /// Records that every output accepted the first `delivered` records of the object (all of them when
    /// `complete`), durably before returning.
    public func record(_ identity: String, delivered: Int64, complete: Bool) throws(TrawlError) {
        let now = UTCTimestamp.now().microsecondsSinceEpoch / 1_000_000
        try self.withEntries { entries throws(TrawlError) in
            entries[identity] = Entry(delivered: delivered, complete: complete, updated: now)
            let horizon = now - self.retentionSeconds
            entries = entries.filter { $0.value.updated >= horizon }
            if entries.count > self.maxEntries {
                let oldest = entries.sorted { $0.value.updated < $1.value.updated }.prefix(
                    entries.count - self.maxEntries
                )
                for (key, _) in oldest { entries[key] = nil }
            }
            try self.persistence.save(State(objects: entries))
        }
    }

    private func withEntries<T>(_ body: (inout [String: Entry]) throws(TrawlError) -> T) throws(TrawlError) -> T {
        try self.state.withLock { state throws(TrawlError) -> T in
            if state == nil { state = try self.persistence.load()?.objects ?? [:] }
            return try body(&state!)
        }
    }
}
