import Logging
import NIOCore
import TrawlCore
import TrawlFormats
import TrawlParquet

/// Turns one object's decompressed bytes into events and commits them: every `records_per_commit`
/// events are published under one acknowledgement, and once delivered the ledger records how many of the
/// object's records every output has. One commit may be in flight while the next is built, so reading
/// does not wait for the outputs at every commit, and memory stays bounded by two commits.
///
/// An object that starts with `PAR1` is Parquet, whatever the service's processor: it is spooled to disk,
/// then read one row group at a time, each row one JSON record.
struct ObjectReader {
    /// A published commit whose delivery is awaited.
    private struct PendingCommit {
        var acknowledgement: Acknowledgement?
        /// Records of the object delivered once this commit is.
        var end: Int64
        var perTag: [String: Int]
        var count: Int
    }

    /// What the reader needs of its service.
    struct Setup: Sendable {
        /// `<input>/<service>`, the events' source.
        var name: String
        var format: RecordFormat
        /// What the objects' text is written in (`encoding`); converted to UTF-8 before splitting.
        var encoding: TextEncoding
        /// The longest record held while its end has not arrived (`record_max_bytes`).
        var maxRecordBytes: Int
        /// The column names of headerless `csv` and `tsv` objects (`columns`).
        var columns: [String]? = nil
        var tagger: RecordTagger
        var recordsPerCommit: Int
        /// Read and count, publish nothing (`do_not_send`).
        var doNotSend: Bool
        /// Where delivered commits are remembered; nil for replays.
        var ledger: S3ObjectLedger?
        /// Fields hidden before delivery (`obfuscate`); nil when none.
        var obfuscator: RecordObfuscator?
        /// How Parquet rows become JSON.
        var parquetOptions: ParquetJSONOptions
        /// How much memory a Parquet object may take.
        var parquetLimits: ParquetReadLimits
        /// Where Parquet objects are downloaded before they are read.
        var spoolDirectory: String
    }

    /// What was read: the object's layout (a compression, or `parquet`) and its decompressed size.
    struct Summary {
        var layout: String
        var compressed: Bool
        var bytes: Int64
    }

    let setup: Setup
    /// The object's key (matched by key tags), and its name in logs and event metadata.
    let key: String
    /// What the object's acknowledgements and event metadata call it: unique to this reading.
    let unit: String
    /// What logs and errors call it: the unit, or for a replayed file its path.
    let name: String
    let identity: String
    /// Records a previous reading already delivered; skipped.
    let alreadyDelivered: Int64
    let counters: CycleCounters
    let context: PullContext
    let logger: Logger
    /// Records of the object seen so far.
    private(set) var index: Int64 = 0
    private var transcoder: TextTranscoder
    private var splitter: RecordSplitter
    /// Bytes of the object's text (decompressed, in UTF-8) given to the splitter so far.
    private var textBytes = 0
    private var tagger: ObjectTagger
    private var records: [ByteBuffer] = []
    /// The events of the commit being built, already in the dispatcher's batches, so publishing hands
    /// them over as they are instead of copying them into batches.
    private var batches: [[Event]] = []
    private var eventCount = 0
    private var perTag = TagCounts()
    private var pending: [PendingCommit] = []
    /// A published commit was not delivered (an output gave up, or the wait was cancelled): no later commit
    /// may be recorded as delivered, as the ledger counts records from the object's start.
    private var deliveryBroken = false
    /// Records of the object the outputs have, from its start: the end of the last delivered commit.
    private(set) var delivered: Int64 = 0

    init(
        setup: Setup,
        key: String,
        unit: String,
        name: String? = nil,
        identity: String,
        alreadyDelivered: Int64,
        counters: CycleCounters,
        context: PullContext,
        logger: Logger
    ) {
        self.setup = setup
        self.key = key
        self.unit = unit
        self.name = name ?? unit
        self.identity = identity
        self.alreadyDelivered = alreadyDelivered
        self.counters = counters
        self.context = context
        self.logger = logger
        self.transcoder = TextTranscoder(setup.encoding)
        self.splitter = setup.format.makeSplitter(maxRecordBytes: setup.maxRecordBytes, columns: setup.columns)
        self.tagger = setup.tagger.forObject(key: key)
        if alreadyDelivered > 0 {
            logger.info("\(self.name) was partly delivered before: skipping its first \(alreadyDelivered) records")
        }
    }

    /// Splits all the decompressed bytes available, committing as commits fill up.
    ///
    /// Gives up its thread after each piece (256 KiB, a fraction of a millisecond): one fed megabyte inflates
    /// to several, and without a suspension in between the reader held a thread of the shared pool for
    /// milliseconds while the output's writer and framer, whose work every reader waits for, queued behind it
    /// (two-core replays took 11-19% longer).
    mutating func drain(_ decompressor: inout ObjectDecompressor) async throws {
        while let piece = try decompressor.next() {
            let text = self.transcoder.transcode(piece)
            if text.readableBytes > 0 { try self.split(text) }
            try self.tagRecords()
            if self.eventCount >= self.setup.recordsPerCommit { try await self.commit(complete: false) }
            await Task.yield()
        }
    }

    /// The object ended: commits the rest and waits until all of it was delivered.
    mutating func finish() async throws {
        let rest = self.transcoder.finish()
        if rest.readableBytes > 0 { try self.split(rest) }
        do {
            try self.splitter.finish(into: &self.records)
        } catch {
            let pending = self.splitter.pendingBytes
            let unfinished =
                pending > 0 ? "; its unfinished record starts at byte \(self.textBytes - pending) of the text" : ""
            throw RecordFormatFailure(
                description:
                    "\(error.description) (at the end, \(self.textBytes) bytes of text\(unfinished), after \(self.index + Int64(self.records.count)) record(s))"
            )
        }
        try await self.complete()
    }

    /// Splits the next piece of text, saying where in the object's text a failure lies: an engineer opening a
    /// large object to see what is wrong needs the place, not only the reason.
    private mutating func split(_ text: ByteBuffer) throws(RecordFormatFailure) {
        do {
            try self.splitter.consume(text, into: &self.records)
        } catch {
            throw RecordFormatFailure(
                description:
                    "\(error.description) (between bytes \(self.textBytes) and \(self.textBytes + text.readableBytes) of the text, after \(self.index + Int64(self.records.count)) record(s))"
            )
        }
        self.textBytes += text.readableBytes
    }

    /// Tags what is left, commits it, and waits until all of the object was delivered.
    private mutating func complete() async throws {
        try self.tagRecords()
        try await self.commit(complete: true)
        let fallbacks = self.tagger.fallbacks
        if fallbacks > 0 {
            self.logger.warning(
                "\(fallbacks) record(s) of \(self.name) had no known tag field value and went to the fallback tag"
            )
        }
    }

    private mutating func tagRecords() throws {
        for var record in self.records {
            self.index += 1
            if self.index == 1, self.setup.format == .jsonLines, RecordFormat.isCloudWatchLogsDocument(record) {
                self.logger.warning(
                    "\(self.name) holds CloudWatch Logs subscription documents (messageType, logEvents): the \(self.setup.format) processor sends each document whole as one event; the cloudwatch_logs service sends each log event"
                )
            }
            if self.index <= self.alreadyDelivered { continue }
            let tag = self.tagger.tag(of: record)
            if let obfuscator = self.setup.obfuscator {
                do {
                    record = try obfuscator.apply(to: record)
                } catch {
                    throw TrawlError(
                        .recordNotObfuscatable,
                        "its record \(self.index) cannot be obfuscated: \(error)",
                        location: self.name
                    )
                }
            }
            self.perTag.count(tag)
            let batchSize = self.context.dispatcher.maxBatchEvents
            if self.batches.isEmpty || self.batches[self.batches.count - 1].count >= batchSize {
                self.batches.append([])
                self.batches[self.batches.count - 1].reserveCapacity(min(batchSize, self.setup.recordsPerCommit))
            }
            self.eventCount += 1
            self.batches[self.batches.count - 1].append(
                Event(
                    tag: tag,
                    body: record,
                    metadata: EventMetadata(
                        source: self.setup.name,
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
        let batches = self.batches
        let count = self.eventCount
        self.batches = []
        self.eventCount = 0
        self.counters.update {
            $0.statistics.received += count
            if complete { $0.statistics.duplicatesFilteredOut += Int(min(self.index, self.alreadyDelivered)) }
        }
        var acknowledgement: Acknowledgement?
        if let first = batches.first?.first, !self.setup.doNotSend {
            let commitAcknowledgement = Acknowledgement(unit: "\(self.unit)@\(first.metadata.offset)")
            try await self.context.dispatcher.publish(batches: batches, acknowledgement: commitAcknowledgement)
            commitAcknowledgement.seal()
            acknowledgement = commitAcknowledgement
        }
        self.pending.append(
            PendingCommit(
                acknowledgement: acknowledgement,
                end: self.index,
                perTag: self.perTag.counts,
                count: count
            )
        )
        self.perTag = TagCounts()
        while self.pending.count > (complete ? 0 : 1) {
            try await self.settleFirstPending(complete: complete && self.pending.count == 1)
        }
    }

    /// Waits until the oldest published commit was delivered, then records it in the ledger.
    private mutating func settleFirstPending(complete: Bool) async throws {
        let first = self.pending.removeFirst()
        do {
            try await first.acknowledgement?.delivered()
        } catch {
            self.deliveryBroken = true
            throw error
        }
        if !self.setup.doNotSend {
            try await self.setup.ledger?.record(
                self.identity,
                delivered: max(first.end, self.alreadyDelivered),
                complete: complete
            )
        }
        self.delivered = max(first.end, self.alreadyDelivered)
        self.counters.sent(first.count, perTag: first.perTag)
    }

    /// After a failure part way through the object (corrupt data, a record too long, a stop): the commits
    /// already published reach the outputs all the same, so waits for them and records them in the ledger.
    /// Otherwise the message received again would deliver them a second time, once per receive. Gives up at
    /// the first commit that is not delivered, as a stop that cannot wait cancels the wait.
    private mutating func settlePublished() async {
        while !self.pending.isEmpty, !self.deliveryBroken {
            do {
                try await self.settleFirstPending(complete: false)
            } catch {
                if !self.deliveryBroken {
                    self.logger.warning(
                        "\(self.name): records delivered before the failure could not be recorded in the ledger (\(error)); receiving its message again delivers them again"
                    )
                }
                return
            }
        }
    }

    /// Reads a whole object from `stream` (decompressing, splitting, tagging, committing) and waits until
    /// all of it was delivered.
    ///
    /// - Throws: SourceError 301, 302, 304 or 305 (``TrawlError``) when the object cannot be read, or what
    ///   the stream or the outputs threw.
    mutating func read<Stream: AsyncSequence>(_ stream: Stream) async throws -> Summary
    where Stream.Element == ByteBuffer {
        var pieces = stream.makeAsyncIterator()
        var head = ByteBuffer()
        while head.readableBytes < Self.headBytes, var piece = try await pieces.next() { head.writeBuffer(&piece) }
        if head.readableBytesView.starts(with: ParquetFileReader.magic) {
            let spool = try ParquetObjectSpool(directory: self.setup.spoolDirectory, unit: self.name)
            try spool.write(head, unit: self.name)
            while let piece = try await pieces.next() {
                try spool.write(piece, unit: self.name)
                if self.context.isShuttingDown { throw CancellationError() }
            }
            return try await self.readParquet(spool.file(name: self.name))
        }
        try self.refuseDamagedCompression(head)
        var decompressor = ObjectDecompressor()
        do {
            decompressor.feed(head)
            try await self.drain(&decompressor)
            while let piece = try await pieces.next() {
                decompressor.feed(piece)
                try await self.drain(&decompressor)
                if self.context.isShuttingDown { throw CancellationError() }
            }
            decompressor.endInput()
            try await self.drain(&decompressor)
            try await self.finish()
        } catch let failure as DecompressionFailure {
            await self.settlePublished()
            throw TrawlError(
                .objectCorrupt,
                "its content (\(decompressor.layout)) cannot be decompressed after \(decompressor.producedBytes) decompressed bytes: \(failure)",
                location: self.name
            )
        } catch let failure as RecordFormatFailure {
            await self.settlePublished()
            throw TrawlError(
                .objectFormatMismatch,
                "its content does not fit the \(self.setup.format) processor: \(failure)",
                location: self.name
            )
        } catch {
            await self.settlePublished()
            throw error
        }
        let skipped = decompressor.skipped
        if skipped.chunks > 0 {
            self.logger.warning(
                "\(self.name): skipped \(skipped.chunks) snappy chunk(s) of a skippable type (\(skipped.bytes) bytes), as the snappy framing format requires; if its writer adds no such chunks, they are data chunks whose type byte was damaged and their records are missing"
            )
        }
        return Summary(
            layout: decompressor.layout,
            compressed: (decompressor.format ?? .none) != .none,
            bytes: decompressor.producedBytes
        )
    }

    /// How many of an object's first bytes are gathered before it is read: its magic bytes, and enough to tell
    /// text from binary.
    static let headBytes = 512

    /// Refuses (SourceError 301) an object whose first bytes are no compression's magic and not text, which
    /// would otherwise be read as uncompressed and its binary sent as records: a compressed object whose
    /// first bytes were damaged, or no log at all.
    /// - Its key names a compression: its first bytes have control bytes (text in a single-byte encoding or
    ///   UTF-8 has none). Skipped for UTF-16 objects, whose text holds zero bytes.
    /// - Its key names none: they also are not UTF-8, with the default encoding, so a UTF-8 log padded with
    ///   zero bytes is still read. Skipped for Parquet, whose own error says what is wrong, and for objects
    ///   with a byte order mark.
    func refuseDamagedCompression(_ head: ByteBuffer) throws(TrawlError) {
        let bytes = head.readableBytesView.prefix(Self.headBytes)
        guard CompressionFormat.detect(bytes) == .none, !CompressionFormat.startsLikeText(bytes) else { return }
        let first = hexString(bytes.prefix(CompressionFormat.magicLength))
        let named = CompressionFormat.named(byKey: self.key)
        if named != .none, [.utf8, .latin1, .windows1252].contains(self.setup.encoding) {
            throw TrawlError(
                .objectCorrupt,
                "its key names \(named) but its bytes start with neither \(named)'s magic bytes nor text (hex \(first)...): its first bytes are damaged, so it is not read as uncompressed",
                location: self.name
            )
        }
        if named == .none, self.setup.encoding == .utf8, self.setup.format != .parquet,
            TextEncoding.declaredByByteOrderMark(bytes) == nil, !CompressionFormat.startsLikeUTF8(bytes)
        {
            throw TrawlError(
                .objectCorrupt,
                "its bytes start with no compression's magic bytes (gzip, zstd, snappy, bzip2) and are not text: control bytes that are not UTF-8 (hex \(first)...). A compressed object whose first bytes are damaged, or an object that is no log, is not read as uncompressed",
                location: self.name
            )
        }
    }

    /// Reads a Parquet object one row group at a time, each row one record, the rows rendered in pieces of
    /// 256 KiB, giving up its thread after each (as ``drain(_:)`` does). Row groups a previous reading already
    /// delivered whole are not even decoded.
    ///
    /// - Throws: SourceError 304 (``TrawlError``) when the file cannot be read, or what the outputs threw.
    mutating func readParquet(_ source: any ParquetByteSource) async throws -> Summary {
        do {
            let file = try await ParquetFileReader.open(source, name: self.name, limits: self.setup.parquetLimits)
            for rowGroup in file.metadata.rowGroups.indices {
                let rows = file.metadata.rowGroups[rowGroup].numRows
                if rows > 0, rows <= self.alreadyDelivered - self.index {
                    self.index += rows
                    continue
                }
                var renderer = try await file.rowRenderer(rowGroup: rowGroup, options: self.setup.parquetOptions)
                while let (buffer, ends) = try renderer.next() {
                    var start = 0
                    for end in ends {
                        self.records.append(buffer.getSlice(at: buffer.readerIndex + start, length: end - start)!)
                        start = end
                    }
                    try self.tagRecords()
                    if self.eventCount >= self.setup.recordsPerCommit { try await self.commit(complete: false) }
                    if self.context.isShuttingDown { throw CancellationError() }
                    // As in `drain`: a row group renders to many pieces, and the output's framer and writer
                    // wait for threads of the same pool.
                    await Task.yield()
                }
            }
            try await self.complete()
        } catch let error as ParquetError {
            await self.settlePublished()
            // The location names the object; the message says where in it.
            let within = error.location.withinFile
            let position = within.isEmpty ? "" : " (\(within))"
            throw TrawlError(
                .parquetUnreadable,
                "its Parquet content cannot be read\(position): \(error.message)",
                location: self.name
            )
        } catch {
            await self.settlePublished()
            throw error
        }
        return Summary(layout: "parquet", compressed: true, bytes: Int64(source.size))
    }
}

/// Records per tag while an object is tagged. An object's records take few distinct tags, each the same
/// string instance from the tagger, so a short list compared by identity first beats hashing every tag.
private struct TagCounts {
    private var tags: [String] = []
    private var totals: [Int] = []

    mutating func count(_ tag: String) {
        for index in self.tags.indices where self.tags[index] == tag {
            self.totals[index] += 1
            return
        }
        self.tags.append(tag)
        self.totals.append(1)
    }

    var counts: [String: Int] {
        Dictionary(zip(self.tags, self.totals), uniquingKeysWith: +)
    }
}
