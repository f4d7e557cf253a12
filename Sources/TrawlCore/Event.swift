import NIOCore

/// One record on its way to Devo: the Devo table (tag), the body bytes exactly as the source gave them
/// (unless a transform was configured), and where it came from.
public struct Event: Sendable {
    /// The Devo table, e.g. `edr.sentinelone.dv.dns`.
    public var tag: String
    /// The record's bytes; sinks frame them, they never reparse them.
    public var body: ByteBuffer
    /// Provenance, for logs, deduplication and `@devo_pulling_id` queries.
    public var metadata: EventMetadata

    public init(tag: String, body: ByteBuffer, metadata: EventMetadata) {
        self.tag = tag
        self.body = body
        self.metadata = metadata
    }
}

/// Where an event came from, so an operator can find it again at the source.
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
