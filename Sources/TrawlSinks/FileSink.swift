import Logging
import NIOCore
import NIOPosix
import Synchronization
import TrawlCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The `file` output: appends each event's Devo syslog line to a file and fsyncs after every write, so an
/// acknowledged event is on disk. A failed write is cut back off the file before the retry, so a retried
/// batch is not written twice; a ``FileDeliveryJournal`` beside the file makes that hold across crashes
/// too, so events a source sends again after a crash are written once.
///
/// Log rotation by renaming (logrotate's default, `create`) is followed: before each append the sink checks
/// that its path still names the file it has open, and when the file was moved away or removed it opens a
/// new one at the path, instead of appending to the rotated file until that is compressed or deleted.
public final class FileSink: EventSink {
    public let name: String
    public let path: String
    private let framer: DevoSyslogFramer
    private let logger: Logger
    private struct State {
        var fd: Int32?
        var journal: FileDeliveryJournal
    }
    private let state: Mutex<State>
    /// Buffers chunks are framed into, kept between appends: a fresh one of several megabytes per write spent
    /// more time faulting its pages in than framing. At most two are in use: the chunk being written and the
    /// one prepared meanwhile.
    private let buffers = Mutex<[ByteBuffer]>([])

    public convenience init(name: String, path: String, framer: DevoSyslogFramer, logger: Logger) {
        self.init(
            name: name,
            path: path,
            framer: framer,
            logger: logger,
            journalCompactionRecords: FileDeliveryJournal.defaultCompactionRecords
        )
    }

    /// - Parameter journalCompactionRecords: records after which the journal is rewritten as one.
    init(name: String, path: String, framer: DevoSyslogFramer, logger: Logger, journalCompactionRecords: Int) {
        self.name = name
        self.path = path
        self.framer = framer
        self.logger = logger
        self.state = Mutex(
            State(
                fd: nil,
                journal: FileDeliveryJournal(outputPath: path, compactionRecords: journalCompactionRecords)
            )
        )
    }

    public var accepts: EventKinds { self.framer.accepts }

    public func write(_ batches: [EventBatch]) async throws {
        try await self.write(batches, prepared: nil)
    }

    /// Framing is most of an append's work outside the kernel, and needs neither the file nor its journal.
    public var preparesWrites: Bool { true }

    /// The batches framed, ready to append; nil when framing fails (the write frames again and reports it).
    public func prepare(_ batches: [EventBatch]) -> PreparedWrite? {
        var buffer = self.takeBuffer()
        do {
            try self.framer.frame(batches, into: &buffer, output: self.name)
        } catch {
            self.returnBuffer(buffer)
            return nil
        }
        return PreparedWrite(bytes: buffer)
    }

    public func write(_ batches: [EventBatch], prepared: PreparedWrite?) async throws {
        // Write and fsync (and framing, when not prepared) run on NIO's thread pool, never on the concurrency
        // pool sources share.
        try await NIOThreadPool.singleton.runIfActive { try self.append(batches, prepared: prepared) }
    }

    private func takeBuffer() -> ByteBuffer {
        var buffer = self.buffers.withLock { $0.popLast() } ?? ByteBuffer()
        buffer.clear()
        return buffer
    }

    private func returnBuffer(_ buffer: ByteBuffer) {
        self.buffers.withLock { buffers in
            if buffers.count < 2 { buffers.append(buffer) }
        }
    }

    /// Appends the batches' lines: `prepared`'s bytes when given and the journal holds none of the events,
    /// else the batches framed now, without the events the journal says the file already has.
    private func append(_ batches: [EventBatch], prepared: PreparedWrite?) throws {
        try self.state.withLock { state in
            let fd: Int32
            if let open = state.fd, self.isStillAtPath(open) {
                fd = open
            } else {
                if let moved = state.fd {
                    Glibc.close(moved)
                    state.fd = nil
                    self.logger.info(
                        "Output \(self.name): \(self.path) was moved or removed (log rotation?); writing to a new \(self.path)",
                        metadata: ["output.name": "\(self.name)"]
                    )
                }
                fd = try self.open()
                state.fd = fd
            }
            // Other processes may append to the same file: one append at a time, after reading theirs.
            while flock(fd, LOCK_EX) != 0 {
                guard errno == EINTR else { throw self.appendFailed("cannot lock") }
            }
            defer { flock(fd, LOCK_UN) }
            if let warning = try state.journal.sync(outputFD: fd) {
                self.logger.warning("Output \(self.name): \(warning)")
            }
            var skipped = 0
            var marks = UnitMarks()
            // Batches go on as they are unless the journal holds some of their events: filtering every batch
            // would copy every event.
            let fresh = batches.map { batch in
                var written: [Bool] = []
                batch.events.withUnsafeBufferPointer { events in
                    for index in events.indices where marks.note(events[index].metadata, journal: state.journal) {
                        if written.isEmpty { written = Array(repeating: false, count: events.count) }
                        written[index] = true
                        skipped += 1
                    }
                }
                guard !written.isEmpty else { return batch }
                var kept = batch
                kept.events = zip(batch.events, written).compactMap { event, written in written ? nil : event }
                return kept
            }
            let highest = marks.finish()
            if skipped > 0 {
                self.logger.info(
                    "Output \(self.name): \(skipped) event(s) sent again after a restart are already in \(self.path); not written twice"
                )
            }
            let preparedBytes = skipped == 0 ? prepared?.take() : nil
            var buffer = preparedBytes ?? self.takeBuffer()
            var appending = false
            // An append that fails midway keeps prepared bytes for its retry; otherwise the storage goes back
            // to the pool.
            defer {
                if appending, preparedBytes != nil { prepared?.giveBack(buffer) } else { self.returnBuffer(buffer) }
            }
            if preparedBytes == nil { try self.framer.frame(fresh, into: &buffer, output: self.name) }
            guard buffer.readableBytes > 0 else { return }
            appending = true
            let before = Int64(lseek(fd, 0, SEEK_END))
            let journalLength = try state.journal.willWrite(
                before: before,
                after: before + Int64(buffer.readableBytes),
                marks: highest
            )
            let written = buffer.withUnsafeReadableBytes { bytes in writeAll(fd, bytes) }
            if !written || fsync(fd) != 0 {
                let error = self.appendFailed("cannot append to")
                if before >= 0 { ftruncate(fd, off_t(before)) }
                state.journal.abandon(at: journalLength)
                throw error
            }
            state.journal.didWrite(marks: highest)
            appending = false
        }
    }

    private func appendFailed(_ what: String) -> TrawlError {
        TrawlError(
            .sinkWriteFailed,
            "output \(self.name) \(what) \(self.path): \(errnoDescription())",
            location: "outputs.\(self.name).settings.path"
        )
    }

    public func close() async throws {
        self.state.withLock { state in
            if let fd = state.fd { Glibc.close(fd) }
            state.fd = nil
        }
    }

    /// Whether the path still names the file open as `fd` (not renamed away or removed since it was opened).
    private func isStillAtPath(_ fd: Int32) -> Bool {
        var open = stat()
        var named = stat()
        guard fstat(fd, &open) == 0 else { return false }
        guard stat(self.path, &named) == 0 else { return false }
        return open.st_ino == named.st_ino && open.st_dev == named.st_dev
    }

    private func open() throws(TrawlError) -> Int32 {
        if let slash = self.path.lastIndex(of: "/") {
            var current = self.path.hasPrefix("/") ? "" : "."
            for component in self.path[..<slash].split(separator: "/") {
                current += "/\(component)"
                mkdir(current, 0o755)
            }
        }
        // A pipe or device cannot be fsynced, cut back or journalled, and opening a pipe no one reads would
        // wait for a reader.
        var existing = stat()
        if stat(self.path, &existing) == 0, existing.st_mode & S_IFMT != S_IFREG {
            let what = Self.destinationProblem(self.path) ?? "\(self.path) is not a regular file"
            throw TrawlError(
                .sinkWriteFailed,
                "output \(self.name) cannot write: \(what). The file output appends to a regular file, fsyncs each write and keeps a journal beside it",
                location: "outputs.\(self.name).settings.path"
            )
        }
        let fd = Glibc.open(self.path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw TrawlError(
                .sinkWriteFailed,
                "output \(self.name) cannot open \(self.path): \(errnoDescription())",
                location: "outputs.\(self.name).settings.path"
            )
        }
        return fd
    }
}

/// The highest offset per unit among the events of one append, and whether each event is already in the
/// file. Events of one unit come in runs, so the journal key is built and looked up once per run, not per
/// event.
private struct UnitMarks {
    private var collected: [FileDeliveryJournal.UnitKey: Int64] = [:]
    private var source = ""
    private var unit = ""
    private var key: FileDeliveryJournal.UnitKey?
    private var written: Int64 = -1
    private var top: Int64 = -1

    /// Records `metadata`; true when the journal says the file already holds that event.
    mutating func note(_ metadata: EventMetadata, journal: FileDeliveryJournal) -> Bool {
        if self.key == nil || metadata.unit != self.unit || metadata.source != self.source {
            self.closeRun()
            self.source = metadata.source
            self.unit = metadata.unit
            let key = FileDeliveryJournal.key(metadata)
            self.key = key
            self.written = journal.marks[key]?.offset ?? -1
            self.top = self.collected[key] ?? -1
        }
        if metadata.offset <= self.written { return true }
        self.top = max(self.top, metadata.offset)
        return false
    }

    /// The highest offset of each unit with events to write.
    mutating func finish() -> [FileDeliveryJournal.UnitKey: Int64] {
        self.closeRun()
        return self.collected
    }

    private mutating func closeRun() {
        if let key = self.key, self.top >= 0 { self.collected[key] = self.top }
    }
}

/// The `console` output: writes each event's Devo syslog line to standard output.
public struct ConsoleSink: EventSink {
    public let name: String
    private let framer: DevoSyslogFramer

    public init(name: String, framer: DevoSyslogFramer) {
        self.name = name
        self.framer = framer
    }

    public var accepts: EventKinds { self.framer.accepts }

    public func write(_ batches: [EventBatch]) async throws {
        var buffer = ByteBuffer()
        try self.framer.frame(batches, into: &buffer, output: self.name)
        let written = buffer.withUnsafeReadableBytes { writeAll(STDOUT_FILENO, $0) }
        guard written else {
            throw TrawlError(
                .sinkWriteFailed,
                "output \(self.name) cannot write to standard output: \(errnoDescription())"
            )
        }
    }

    public func close() async throws {}
}
