import Logging
import NIOCore
import TrawlCore
import TrawlFormats

/// Turns one object's decompressed bytes into events and commits them: every `records_per_commit`
/// events are published under one acknowledgement, and once delivered the ledger records how many of the
/// object's records every output has. One commit may be in flight while the next is built, so reading
/// does not wait for the outputs at every commit, and memory stays bounded by two commits.
struct ObjectReader {
    /// A published commit whose delivery is awaited.
    private struct PendingCommit {
        var acknowledgement: Acknowledgement?
        /// Records of the object delivered once this commit is.
        var end: Int64
        var perTag: [String: Int]
        var count: Int
    }

    let source: SQSObjectSource
    let object: S3ObjectReference
    let identity: String
    /// Records a previous reading already delivered; skipped.
    let alreadyDelivered: Int64
    let counters: CycleCounters
    let context: PullContext
    let logger: Logger
    /// Records of the object seen so far.
    private(set) var index: Int64 = 0
    private var splitter: RecordSplitter
    private var tagger: ObjectTagger
    private var records: [ByteBuffer] = []
    private var events: [Event] = []
    private var perTag: [String: Int] = [:]
    private var pending: [PendingCommit] = []
    private let unit: String

    init(
        source: SQSObjectSource,
        object: S3ObjectReference,
        identity: String,
        alreadyDelivered: Int64,
        counters: CycleCounters,
        context: PullContext,
        logger: Logger
    ) {
        self.source = source
        self.object = object
        self.identity = identity
        self.alreadyDelivered = alreadyDelivered
        self.counters = counters
        self.context = context
        self.logger = logger
        self.splitter = source.configuration.format.makeSplitter()
        self.tagger = source.configuration.tagger.forObject(key: object.key)
        self.unit = object.description
        if alreadyDelivered > 0 {
            logger.info("\(object) was partly delivered before: skipping its first \(alreadyDelivered) records")
        }
    }

    /// Splits all the decompressed bytes available, committing as commits fill up.
    mutating func drain(_ decompressor: inout ObjectDecompressor) async throws {
        while let piece = try decompressor.next() {
            try self.splitter.consume(piece, into: &self.records)
            self.tagRecords()
            if self.events.count >= self.source.settings.recordsPerCommit { try await self.commit(complete: false) }
        }
    }

    /// The object ended: commits the rest and waits until all of it was delivered.
    mutating func finish() async throws {
        try self.splitter.finish(into: &self.records)
        self.tagRecords()
        try await self.commit(complete: true)
        let fallbacks = self.tagger.fallbacks
        if fallbacks > 0 {
            self.logger.warning(
                "\(fallbacks) record(s) of \(self.object) had no known tag field value and went to the fallback tag"
            )
        }
    }

    private mutating func tagRecords() {
        for record in self.records {
            self.index += 1
            if self.index <= self.alreadyDelivered { continue }
            let tag = self.tagger.tag(of: record)
            self.perTag[tag, default: 0] += 1
            self.events.append(
                Event(
                    tag: tag,
                    body: record,
                    metadata: EventMetadata(
                        source: self.source.configuration.name,
                        unit: self.unit,
                        offset: self.index - 1,
                        pullingID: self.context.pullingID
                    )
                )
            )
        }
        self.records.removeAll(keepingCapacity: true)
    }

    private mutating func commit(complete: Bool) async throws {
        let events = self.events
        self.events.removeAll(keepingCapacity: true)
        self.counters.update {
            $0.statistics.received += events.count
            if complete { $0.statistics.duplicatesFilteredOut += Int(min(self.index, self.alreadyDelivered)) }
        }
        var acknowledgement: Acknowledgement?
        if !events.isEmpty, !self.source.settings.doNotSend {
            let commitAcknowledgement = Acknowledgement(unit: "\(self.unit)@\(events[0].metadata.offset)")
            try await self.context.dispatcher.publish(events, acknowledgement: commitAcknowledgement)
            commitAcknowledgement.seal()
            acknowledgement = commitAcknowledgement
        }
        self.pending.append(
            PendingCommit(acknowledgement: acknowledgement, end: self.index, perTag: self.perTag, count: events.count)
        )
        self.perTag = [:]
        while self.pending.count > (complete ? 0 : 1) {
            let first = self.pending.removeFirst()
            try await first.acknowledgement?.delivered()
            if !self.source.settings.doNotSend {
                try self.source.ledger.record(
                    self.identity,
                    delivered: max(first.end, self.alreadyDelivered),
                    complete: complete && self.pending.isEmpty
                )
            }
            self.counters.update {
                $0.statistics.sent += first.count
                for (tag, count) in first.perTag { $0.perTag[tag, default: 0] += count }
            }
        }
    }
}
