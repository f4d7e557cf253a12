import NIOCore

/// One record on its way to Devo: the Devo table (tag), the body bytes exactly as the source gave them
/// (unless a transform was configured), and where it came from.
///
/// A lookup update travels as an event too (``Kind/lookup``), so it shares the queues, the spool and the
/// acknowledgements of ordinary records; only the outputs that take lookups receive it.
public struct Event: Sendable {
    /// What an event carries, which decides the outputs it is routed to.
    public enum Kind: UInt8, Sendable, Hashable {
        /// A record for a Devo table.
        case record = 0
        /// A ``LookupUpdate`` for a Devo lookup table; the body is its encoding, the tag the table's name.
        case lookup = 1
    }

    /// The Devo table, e.g. `edr.sentinelone.dv.dns` (for a lookup: the lookup table's name).
    public var tag: String
    /// The record's bytes; sinks frame them, they never reparse them.
    public var body: ByteBuffer
    /// Provenance, for logs, deduplication and `@devo_pulling_id` queries.
    public var metadata: EventMetadata
    public var kind: Kind

    public init(tag: String, body: ByteBuffer, metadata: EventMetadata, kind: Kind = .record) {
        self.tag = tag
        self.body = body
        self.metadata = metadata
        self.kind = kind
    }

    /// An event carrying `update` to the outputs that take lookups.
    public static func lookup(_ update: LookupUpdate, metadata: EventMetadata) -> Event {
        Event(tag: update.table, body: update.encoded(), metadata: metadata, kind: .lookup)
    }
}

/// The kinds of events an output takes, and an input produces.
public struct EventKinds: OptionSet, Sendable, Hashable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    public static let records = EventKinds(rawValue: 1)
    public static let lookups = EventKinds(rawValue: 2)

    /// The set holding just `kind`.
    public init(_ kind: Event.Kind) {
        switch kind {
        case .record: self = .records
        case .lookup: self = .lookups
        }
    }

    public func contains(_ kind: Event.Kind) -> Bool { self.contains(EventKinds(kind)) }
}

/// Where an event came from, so an operator can find it again at the source.
///
/// (source, unit, offset) names one event: a source that sends an event again (after a crash, before it
/// could commit) gives it the same three values, and a unit's content never changes (a rewritten file or
/// object gets a new unit). Outputs that can remember what they wrote (the `file` output) rely on this to
/// write each event once.
public struct EventMetadata: Sendable, Hashable {
    /// `<input>/<service>` that produced the event.
    public var source: String
    /// The unit of source work: an S3 object key, an API page cursor, a file path.
    public var unit: String
    /// The position of the event inside its unit (line number, record index or byte offset).
    public var offset: Int64
    /// The pull cycle that produced the event.
    public var pullingID: PullingID

    public init(source: String, unit: String, offset: Int64, pullingID: PullingID) {
        self.source = source
        self.unit = unit
        self.offset = offset
        self.pullingID = pullingID
    }
}

/// Events of one unit of source work travelling together, with the acknowledgement that fires when every
/// sink has accepted them.
public struct EventBatch: Sendable {
    public var events: [Event]
    public var acknowledgement: Acknowledgement

    public init(events: [Event], acknowledgement: Acknowledgement) {
        self.events = events
        self.acknowledgement = acknowledgement
    }
}
