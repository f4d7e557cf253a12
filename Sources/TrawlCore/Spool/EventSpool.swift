import NIOCore
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// An output's durable spool (the Devo collectors' "emergency persistence system"): events accepted from
/// the sources but not yet delivered, kept on disk in order until the output takes them.
///
/// One append-only file of records `[length u32][crc32 u32][payload]`, each payload a batch of events
/// (tag, kind and body), fsynced per append; and the offset of the first undelivered record, saved through the
/// state store. Opening it drops a torn last append (a crash mid-append, whose events were never
/// acknowledged) and keeps every whole record before it. Bytes after a whole record that are not such an
/// append (damage: a whole-length record whose checksum fails, or a length damaged to run past the end of the
/// file while the checksum fits a shorter payload) are copied aside, not dropped, and the whole records after
/// them are kept and delivered (``damage``).
/// Once every record is delivered the file is emptied. Its size is bounded: a full spool refuses appends, and
/// the runtime then holds acknowledgements, which pauses the pullers.
public final class EventSpool: Sendable {
    /// Where a read stopped, to commit once what was read is delivered.
    public struct Position: Sendable, Equatable {
        public var offset: Int64
    }

    public let path: String
    public let maxBytes: Int64
    /// PersistenceError 205 when opening found damage: everything from it on was copied to a file beside the
    /// spool, which the error names with the stretches overwritten. The spool's user logs it; nil otherwise.
    public let damage: TrawlError?
    private let store: FileStateStore
    private let headKey: StateKey
    private let state: Mutex<State>

    struct State {
        var descriptor: Int32
        var head: Int64
        var end: Int64
        var pendingEvents: Int
    }

    /// Opens (or creates) the spool of output `output` of collector `collectorID` in the persistence
    /// directory, recovering from a torn tail. Instances sharing the directory need an `instance` each
    /// (`globals.instance`), since a spool is one process's: it stays locked while open.
    public init(
        store: FileStateStore,
        collectorID: String,
        output: String,
        instance: String = "",
        maxBytes: Int64
    ) throws(TrawlError) {
        self.store = store
        self.maxBytes = maxBytes
        self.headKey = StateKey(
            collectorID: collectorID,
            input: "spool",
            service: instance.isEmpty ? output : "\(output)@\(instance)"
        )
        let headPath = store.path(for: self.headKey)
        self.path = String(headPath.dropLast(".json".count)) + ".spool"
        try FileStateStore.makeDirectories(String(headPath[..<headPath.lastIndex(of: "/")!]))
        let fd = open(self.path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw TrawlError(.spoolFailed, "cannot open the spool: \(errnoDescription())", location: self.path)
        }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            closeDescriptor(fd)
            throw TrawlError(
                .spoolFailed,
                "the spool is in use by another running Trawl with the same persistence directory and globals.id",
                location: self.path
            )
        }
        var head: Int64
        do {
            head = try Self.loadHead(store, self.headKey)
            try store.save(Self.encodeHead(head), for: self.headKey)
        } catch {
            closeDescriptor(fd)
            throw error
        }
        let recovered: Recovery
        do {
            recovered = try Self.recover(fd, path: self.path, head: head)
        } catch {
            closeDescriptor(fd)
            throw error
        }
        self.damage = recovered.damage
        if ftruncate(fd, off_t(recovered.end)) != 0 || fsync(fd) != 0 {
            let reason = errnoDescription()
            closeDescriptor(fd)
            throw TrawlError(.spoolFailed, "cannot cut the spool's torn tail: \(reason)", location: self.path)
        }
        self.state = Mutex(
            State(
                descriptor: fd,
                head: recovered.head,
                end: recovered.end,
                pendingEvents: recovered.pendingEvents
            )
        )
    }

    deinit {
        self.close()
    }

    /// Closes the spool's file, which releases it to the next opener (a restart, another test); the spool
    /// is not usable after this.
    public func close() {
        self.state.withLock { state in
            if state.descriptor >= 0 { closeDescriptor(state.descriptor) }
            state.descriptor = -1
        }
    }

    public var isEmpty: Bool { self.state.withLock { $0.head >= $0.end } }
    public var pendingEvents: Int { self.state.withLock { $0.pendingEvents } }
    public var pendingBytes: Int64 { self.state.withLock { $0.end - $0.head } }

    /// Appends `events` as one record and fsyncs; false (nothing written) when that would pass `maxBytes`.
    public func append(_ events: [Event]) throws(TrawlError) -> Bool {
        var payload = ByteBuffer()
        payload.writeInteger(UInt32(events.count) | Self.kindsFlag)
        for event in events {
            payload.writeInteger(UInt16(event.tag.utf8.count))
            payload.writeString(event.tag)
            payload.writeInteger(event.kind.rawValue)
            payload.writeInteger(UInt32(event.body.readableBytes))
            payload.writeImmutableBuffer(event.body)
        }
        var record = ByteBuffer()
        record.writeInteger(UInt32(payload.readableBytes))
        record.writeInteger(payload.withUnsafeReadableBytes { CRC32.checksum($0) })
        record.writeBuffer(&payload)
        return try self.state.withLock { state throws(TrawlError) -> Bool in
            guard state.end - state.head + Int64(record.readableBytes) <= self.maxBytes else { return false }
            let written = record.withUnsafeReadableBytes { bytes in
                lseek(state.descriptor, off_t(state.end), SEEK_SET) >= 0 && writeAll(state.descriptor, bytes)
            }
            guard written, fsync(state.descriptor) == 0 else {
                let reason = errnoDescription()
                _ = ftruncate(state.descriptor, off_t(state.end))
                throw TrawlError(.spoolFailed, "cannot append to the spool: \(reason)", location: self.path)
            }
            state.end += Int64(record.readableBytes)
            state.pendingEvents += events.count
            return true
        }
    }

    /// The oldest undelivered events, whole records up to about `maxEvents`, and where they end.
    public func peek(maxEvents: Int) throws(TrawlError) -> (events: [Event], next: Position) {
        try self.state.withLock { state throws(TrawlError) in
            var events: [Event] = []
            var offset = state.head
            while offset < state.end, events.count < maxEvents {
                guard let (record, length) = Self.readRecord(state.descriptor, at: offset, end: state.end) else {
                    throw TrawlError(
                        .spoolFailed,
                        "the spool record at byte \(offset) cannot be read",
                        location: self.path
                    )
                }
                events += record
                offset += length
            }
            return (events, Position(offset: offset))
        }
    }

    /// Marks everything before `position` delivered; empties the file once nothing is left.
    public func commit(upTo position: Position, delivered: Int) throws(TrawlError) {
        let head = try self.state.withLock { state throws(TrawlError) -> Int64 in
            state.head = position.offset
            state.pendingEvents = max(0, state.pendingEvents - delivered)
            if state.head >= state.end {
                guard ftruncate(state.descriptor, 0) == 0, fsync(state.descriptor) == 0 else {
                    throw TrawlError(.spoolFailed, "cannot empty the spool: \(errnoDescription())", location: self.path)
                }
                state.head = 0
                state.end = 0
                state.pendingEvents = 0
            }
            return state.head
        }
        try self.store.save(Self.encodeHead(head), for: self.headKey)
    }

    /// Set in a record's event count when each event carries its kind byte (records written before lookups
    /// existed have none and hold only records).
    static let kindsFlag: UInt32 = 0x8000_0000

    static func encodeHead(_ head: Int64) -> [UInt8] {
        Array("{\"head\":\(head)}\n".utf8)
    }

    static func loadHead(_ store: FileStateStore, _ key: StateKey) throws(TrawlError) -> Int64 {
        guard let bytes = try store.load(key) else { return 0 }
        let text = String(decoding: bytes, as: UTF8.self)
        guard let start = text.firstIndex(of: ":"),
            let value = Int64(text[text.index(after: start)...].prefix { $0.isNumber })
        else {
            throw TrawlError(
                .stateUnreadable,
                "the spool's head offset cannot be read: \(text)",
                location: store.path(for: key)
            )
        }
        return value
    }

    /// Where the records kept at opening end, where undelivered ones start, and what opening found.
    struct Recovery {
        var end: Int64
        var head: Int64
        var pendingEvents: Int
        var damage: TrawlError?
    }

    /// Reads the spool's records from the start: keeps the whole ones, cuts a torn last append, and handles
    /// damage (bytes after a whole record that are not a torn last append: a whole record follows them, or
    /// their length and checksum say a whole record's length was damaged). Damage is first copied, with
    /// everything after it, to a file beside the spool (fsynced); then each damaged stretch followed by a
    /// whole record is overwritten in place by a record of no events, so the acknowledged records after it
    /// stay where they are and are delivered, and a damaged stretch with none after it is cut.
    ///
    /// A crash while overwriting leaves the stretch damaged again, and the next opening repeats the
    /// overwrite (its copy then holds the half-written stretch; the first copy holds what was there).
    static func recover(_ fd: Int32, path: String, head: Int64) throws(TrawlError) -> Recovery {
        var size = stat()
        fstat(fd, &size)
        let fileEnd = Int64(size.st_size)
        var head = head
        let savedHead = head
        var (end, events) = Self.scan(fd, from: 0, to: fileEnd, head: &head)
        // The start of the whole record a saved head inside it moved back to, by whichever scan met it.
        var headRecord: Int64? = head == savedHead ? nil : head
        var headMoved: String {
            headRecord.map {
                "the saved head offset \(savedHead) lies inside the record at byte \($0) (damaged or edited), so delivery resumes from that record's start and its events may be sent twice"
            } ?? ""
        }
        var searchBudget = 4 * (fileEnd - end) + (64 << 20)
        var next = end < fileEnd ? Self.nextWholeRecord(fd, after: end, fileEnd: fileEnd, budget: &searchBudget) : nil
        // A torn append is the last thing written: with a whole record after it, it is damage.
        guard end < fileEnd, next != nil || !Self.isTornAppend(fd, at: end, fileEnd: fileEnd) else {
            let damage = headMoved.isEmpty ? nil : TrawlError(.spoolDamaged, headMoved, location: path)
            return Recovery(end: end, head: min(head, end), pendingEvents: events, damage: damage)
        }
        let aside = "\(path).damaged-\(time(nil))"
        if let reason = Self.copy(fd, from: end, to: fileEnd, into: aside) {
            throw TrawlError(
                .spoolFailed,
                "the spool is damaged from byte \(end) and its unreadable rest cannot be moved aside to \(aside): \(reason)",
                location: path
            )
        }
        let firstDamage = end
        var damaged: [Range<Int64>] = []
        while let found = next, found - end >= 12, found - end - 8 <= Int64(UInt32.max) {
            if let reason = Self.fillWithEmptyRecord(fd, from: end, to: found) {
                throw TrawlError(
                    .spoolFailed,
                    "the spool's damaged bytes \(end)..<\(found) cannot be overwritten (they are copied to \(aside)): \(reason)",
                    location: path
                )
            }
            damaged.append(end..<found)
            if head > end, head < found { head = end }
            let scanned = head
            let (wholeEnd, wholeEvents) = Self.scan(fd, from: found, to: fileEnd, head: &head)
            if head != scanned { headRecord = head }
            end = wholeEnd
            events += wholeEvents
            next = end < fileEnd ? Self.nextWholeRecord(fd, after: end, fileEnd: fileEnd, budget: &searchBudget) : nil
        }
        let stretches = damaged.prefix(5).map { "\($0.lowerBound)..<\($0.upperBound)" }.joined(separator: ", ")
        let kept =
            damaged.isEmpty
            ? "no whole record follows, so the spool ends at byte \(end)"
            : "the damaged bytes \(stretches)\(damaged.count > 5 ? " and \(damaged.count - 5) more stretches" : "") were overwritten by records of no events, and the whole records after them kept\(end < fileEnd ? "; the spool ends at byte \(end)" : "")"
        return Recovery(
            end: end,
            head: min(head, end),
            pendingEvents: events,
            damage: TrawlError(
                .spoolDamaged,
                "the spool's bytes from \(firstDamage) are not whole records (a checksum fails, a record cannot be read as events, or a damaged length runs past the end of the file); bytes \(firstDamage)..<\(fileEnd) were copied to \(aside), \(kept) (\(events) event(s) still to deliver)\(headMoved.isEmpty ? "" : "; \(headMoved)")",
                location: path
            )
        )
    }

    /// Walks the whole records from `start`; returns where the last whole one ends and how many events lie
    /// at or after `head`. A head inside a record (its saved offset damaged or edited) is moved back to that
    /// record's start: its events may be sent twice, where reading from the middle would stop the spool.
    static func scan(
        _ fd: Int32,
        from start: Int64,
        to fileEnd: Int64,
        head: inout Int64
    ) -> (end: Int64, events: Int) {
        var offset = start
        var events = 0
        while offset < fileEnd, let (record, length) = Self.readRecord(fd, at: offset, end: fileEnd) {
            if offset < head, head < offset + length { head = offset }
            if offset >= head { events += record.count }
            offset += length
        }
        return (offset, events)
    }

    /// The first offset after `start` where a whole record (checksum and events) begins; nil when none does
    /// or the search would checksum more than `budget` bytes more. Every offset whose length field fits the
    /// file is tried, so the budget bounds the work when the bytes are full of small numbers.
    static func nextWholeRecord(_ fd: Int32, after start: Int64, fileEnd: Int64, budget: inout Int64) -> Int64? {
        var offset = start + 1
        while fileEnd - offset >= 12 {
            guard let window = readAll(fd, at: offset, count: Int(min(fileEnd - offset, 1 << 20))) else { return nil }
            var index = 0
            while index + 4 <= window.count, fileEnd - (offset + Int64(index)) >= 12 {
                let candidate = offset + Int64(index)
                let length =
                    UInt32(window[index]) << 24 | UInt32(window[index + 1]) << 16 | UInt32(window[index + 2]) << 8
                    | UInt32(window[index + 3])
                if length >= 4, 8 + Int64(length) <= fileEnd - candidate {
                    budget -= Int64(length)
                    guard budget >= 0 else { return nil }
                    if Self.readRecord(fd, at: candidate, end: fileEnd) != nil { return candidate }
                }
                index += 1
            }
            offset += Int64(index)
        }
        return nil
    }

    /// Overwrites `start..<end` (at least 12 bytes) with one record of no events, zeros for a payload, and
    /// fsyncs; nil when done, else why not.
    static func fillWithEmptyRecord(_ fd: Int32, from start: Int64, to end: Int64) -> String? {
        let payloadLength = end - start - 8
        let zeros = [UInt8](repeating: 0, count: Int(min(payloadLength, 1 << 20)))
        var crc: UInt32 = 0
        var remaining = payloadLength
        while remaining > 0 {
            let count = Int(min(remaining, Int64(zeros.count)))
            crc = zeros.withUnsafeBytes {
                CRC32.checksum(UnsafeRawBufferPointer(rebasing: $0[..<count]), continuing: crc)
            }
            remaining -= Int64(count)
        }
        var header = ByteBuffer()
        header.writeInteger(UInt32(payloadLength))
        header.writeInteger(crc)
        var offset = start
        guard lseek(fd, off_t(offset), SEEK_SET) >= 0, header.withUnsafeReadableBytes({ writeAll(fd, $0) }) else {
            return errnoDescription()
        }
        offset += 8
        while offset < end {
            let count = Int(min(end - offset, Int64(zeros.count)))
            guard zeros.withUnsafeBytes({ writeAll(fd, UnsafeRawBufferPointer(rebasing: $0[..<count])) }) else {
                return errnoDescription()
            }
            offset += Int64(count)
        }
        return fsync(fd) == 0 ? nil : errnoDescription()
    }

    /// Whether the bytes from `end` to `fileEnd` are one append cut short: less than a record header, or a
    /// header whose payload runs past the end of the file. A crash between writing and fsyncing leaves
    /// that; an append is acknowledged only once fsynced, so its events are pulled again. A header whose
    /// checksum matches a prefix of what follows it is no such append but a whole record whose length was
    /// damaged: it was acknowledged, so it is damage to copy aside (as is a rest that cannot be read).
    static func isTornAppend(_ fd: Int32, at end: Int64, fileEnd: Int64) -> Bool {
        guard fileEnd - end >= 8, let header = readAll(fd, at: end, count: 8) else { return true }
        var headerBuffer = ByteBuffer(bytes: header)
        guard let length = headerBuffer.readInteger(as: UInt32.self),
            let crc = headerBuffer.readInteger(as: UInt32.self)
        else { return true }
        guard 8 + Int64(length) > fileEnd - end else { return false }
        return Self.holdsPayload(fd, from: end + 8, to: fileEnd, checksummed: crc) == false
    }

    /// Whether a prefix of the bytes `start..<end` has the checksum `crc` (one pass, read 1 MiB at a time);
    /// nil when they cannot be read. A torn append's partial payload matches by chance, one in 2^32 per byte.
    static func holdsPayload(_ fd: Int32, from start: Int64, to end: Int64, checksummed crc: UInt32) -> Bool? {
        var running: UInt32 = 0
        var found = false
        let read = Self.forEachPiece(fd, from: start, to: end) { piece in
            found = piece.withUnsafeBytes { CRC32.prefixLength(of: $0, matching: crc, running: &running) } != nil
            return !found
        }
        return read ? found : nil
    }

    /// Hands the bytes `start..<end` of `fd` to `body` 1 MiB at a time, until it returns false; false when
    /// they cannot be read. The copy aside, the prefix search and the checksum of a long record read through
    /// here, so they take a piece of memory however long the stretch is.
    static func forEachPiece(_ fd: Int32, from start: Int64, to end: Int64, _ body: ([UInt8]) -> Bool) -> Bool {
        var offset = start
        while offset < end {
            guard let piece = readAll(fd, at: offset, count: Int(min(end - offset, 1 << 20))) else { return false }
            guard body(piece) else { return true }
            offset += Int64(piece.count)
        }
        return true
    }

    /// Copies the bytes `start..<end` of `fd` into a new file at `path` and fsyncs it; nil when done, else
    /// why not (and no file is left at `path`).
    static func copy(_ fd: Int32, from start: Int64, to end: Int64, into path: String) -> String? {
        let target = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard target >= 0 else { return errnoDescription() }
        var failure: String?
        let read = Self.forEachPiece(fd, from: start, to: end) { piece in
            if !piece.withUnsafeBytes({ writeAll(target, $0) }) { failure = errnoDescription() }
            return failure == nil
        }
        if !read { failure = "cannot read the spool: \(errnoDescription())" }
        if failure == nil, fsync(target) != 0 { failure = errnoDescription() }
        closeDescriptor(target)
        if failure != nil { unlink(path) }
        return failure
    }

    /// The checksum of the bytes `start..<start + count`, read 1 MiB at a time; nil when they cannot be read.
    /// A length over 1 MiB is checked so before its payload is read whole: a damaged length (or a place the
    /// search after damage tries) may claim up to 4 GiB, which would otherwise be allocated to find it false.
    static func checksum(_ fd: Int32, from start: Int64, count: Int64) -> UInt32? {
        var crc: UInt32 = 0
        let read = Self.forEachPiece(fd, from: start, to: start + count) { piece in
            crc = piece.withUnsafeBytes { CRC32.checksum($0, continuing: crc) }
            return true
        }
        return read ? crc : nil
    }

    /// The events of the record at `offset` and its length; nil when it is torn or its checksum fails.
    static func readRecord(_ fd: Int32, at offset: Int64, end: Int64) -> ([Event], Int64)? {
        guard end - offset >= 8, let header = readAll(fd, at: offset, count: 8) else { return nil }
        var headerBuffer = ByteBuffer(bytes: header)
        guard let length = headerBuffer.readInteger(as: UInt32.self),
            let crc = headerBuffer.readInteger(as: UInt32.self),
            end - offset - 8 >= Int64(length),
            length <= 1 << 20 || Self.checksum(fd, from: offset + 8, count: Int64(length)) == crc,
            let payload = readAll(fd, at: offset + 8, count: Int(length)),
            CRC32.checksum(payload) == crc
        else { return nil }
        var buffer = ByteBuffer(bytes: payload)
        guard let header = buffer.readInteger(as: UInt32.self) else { return nil }
        let hasKinds = header & Self.kindsFlag != 0
        let count = header & ~Self.kindsFlag
        guard Int(count) <= buffer.readableBytes else { return nil }
        var events: [Event] = []
        events.reserveCapacity(Int(count))
        for _ in 0..<count {
            guard let tagLength = buffer.readInteger(as: UInt16.self),
                let tag = buffer.readString(length: Int(tagLength))
            else { return nil }
            var kind = Event.Kind.record
            if hasKinds {
                guard let raw = buffer.readInteger(as: UInt8.self), let known = Event.Kind(rawValue: raw) else {
                    return nil
                }
                kind = known
            }
            guard let bodyLength = buffer.readInteger(as: UInt32.self),
                let body = buffer.readSlice(length: Int(bodyLength))
            else { return nil }
            events.append(
                Event(
                    tag: tag,
                    body: body,
                    metadata: EventMetadata(
                        source: "spool",
                        unit: "spool",
                        offset: offset,
                        pullingID: PullingID(microseconds: 0)
                    ),
                    kind: kind
                )
            )
        }
        return (events, 8 + Int64(length))
    }

}

/// `close(2)`, by a name a type's own `close()` does not shadow.
private func closeDescriptor(_ descriptor: Int32) {
    _ = close(descriptor)
}
