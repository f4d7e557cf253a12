import Crypto
import Foundation
import TrawlCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Makes the `file` output exactly-once across crashes. A source commits (saves its offset, deletes its
/// SQS message) only after the output acknowledged, so a crash between the output's write and the
/// source's commit makes the source send those events again. The journal remembers, per unit of source
/// work, the highest offset written, in the same step as the write: before appending it records the file's
/// length before and after the write and the marks the write adds (fsynced); at start it checks the last
/// record against the file: a write that did not complete is cut off and its marks dropped, a complete one
/// keeps them. Events at or below their unit's mark are then already in the file and are not written again.
///
/// Several processes may append to one output (several `trawl run` on one queue): each append holds an
/// exclusive lock on the output file and first reads the records the others added (``sync(outputFD:)``), so
/// an event one of them wrote is not written again by another, and an append a crashed one left half done
/// is cut off by the next.
///
/// Relies on ``EventMetadata``'s contract: (source, unit, offset) names one event, and a unit's content
/// never changes.
///
/// A mark is kept 14 days after its last write (SQS keeps a message at most that long), one per unit: an
/// output fed an S3 object a second holds over a million. Each is kept by its unit's digest
/// (``UnitKey``), in memory and in the records written, not by its name.
struct FileDeliveryJournal {
    struct Mark: Equatable {
        var offset: Int64
        /// Seconds since the epoch of the write that set it, to forget old units.
        var time: Int64
    }

    /// A unit's name (`source`, U+001F, `unit`) digested: the first 16 bytes of its SHA-256. A name (the
    /// source, a bucket, a key and an ETag) runs to a hundred bytes or more (an S3 key alone may take 1,024):
    /// kept by such names, 200,000 marks took 228 bytes each in memory; by digest, 84 (the dictionary's
    /// slack included), and 33 characters each in the records. SHA-256 and not a quicker hash: names come
    /// from outside (S3 keys anyone with write access chooses), and two names with one digest would make
    /// events of the second count as written.
    struct UnitKey: Hashable {
        var high: UInt64
        var low: UInt64

        private init(high: UInt64, low: UInt64) {
            self.high = high
            self.low = low
        }

        init(name: String) {
            let digest = SHA256.hash(data: Array(name.utf8))
            var high: UInt64 = 0
            var low: UInt64 = 0
            for (index, byte) in digest.prefix(16).enumerated() {
                if index < 8 { high = high << 8 | UInt64(byte) } else { low = low << 8 | UInt64(byte) }
            }
            self.init(high: high, low: low)
        }

        /// A key as a record holds it: `#` and the digest's 32 hex digits, or a whole name (records written
        /// before digests were kept).
        init(recorded text: String) {
            let utf8 = Array(text.utf8)
            if utf8.count == 33, utf8[0] == UInt8(ascii: "#"),
                let high = UInt64(String(decoding: utf8[1..<17], as: UTF8.self), radix: 16),
                let low = UInt64(String(decoding: utf8[17..<33], as: UTF8.self), radix: 16)
            {
                self.init(high: high, low: low)
            } else {
                self.init(name: text)
            }
        }

        /// How records hold it.
        var recorded: String {
            "#" + Self.hex(self.high) + Self.hex(self.low)
        }

        private static func hex(_ value: UInt64) -> String {
            let digits = String(value, radix: 16)
            return String(repeating: "0", count: 16 - digits.count) + digits
        }
    }

    /// The output file, and the journal beside it.
    let outputPath: String
    let path: String
    private(set) var marks: [UnitKey: Mark] = [:]
    private var records = 0
    /// How much of the journal file was read, and which file it was (a compaction replaces it).
    private var readOffset: Int64 = 0
    private var inode: ino_t?
    private let retentionSeconds: Int64 = 14 * 86_400
    /// Records after which the journal is rewritten as one, without the marks past the retention.
    private let compactionRecords: Int
    static let defaultCompactionRecords = 10_000

    /// The journal of the output file `outputPath`.
    init(outputPath: String, compactionRecords: Int = Self.defaultCompactionRecords) {
        self.outputPath = outputPath
        self.path = "\(outputPath).trawl-journal"
        self.compactionRecords = compactionRecords
    }

    static func key(_ metadata: EventMetadata) -> UnitKey { UnitKey(name: "\(metadata.source)\u{1f}\(metadata.unit)") }

    /// Brings the journal up to date with the file: the records appended since the last call (by this
    /// process or another that shares the output), or all of them when the file is new to it or was replaced
    /// by a compaction; the newest record read is reconciled with the output file (open as `fd`): an append a
    /// crash interrupted is cut off the output and its record off the journal, as is a record line a crash
    /// cut short. Call it holding the output's lock, before each append. Returns a warning to log, if any
    /// (damaged lines are skipped and counted in it).
    mutating func sync(outputFD fd: Int32) throws(TrawlError) -> String? {
        var status = stat()
        guard stat(self.path, &status) == 0 else {
            self.readOffset = 0
            self.inode = nil
            self.records = 0
            return nil
        }
        if self.inode != status.st_ino || Int64(status.st_size) < self.readOffset {
            self.inode = status.st_ino
            self.readOffset = 0
            self.records = 0
        }
        guard Int64(status.st_size) > self.readOffset else { return nil }
        let (entries, end, unreadable) = try self.readRecords(from: self.readOffset)
        // Bytes after the last line break are a record a crash cut short while writing it, before its write to
        // the output (writers hold the output's lock): cut, so the next record starts a line of its own.
        if end < Int64(status.st_size) { truncate(self.path, off_t(end)) }
        var fresh = entries
        var warning: String? =
            unreadable == 0
            ? nil
            : "\(unreadable) line(s) of its journal \(self.path) from byte \(self.readOffset) are not records (damaged) and were skipped; events they marked as written may be written again"
        let size = Int64(lseek(fd, 0, SEEK_END))
        var journalEnd = end
        if let last = fresh.last, size < last.after {
            if size >= last.before {
                ftruncate(fd, off_t(last.before))
                truncate(self.path, off_t(last.line))
                journalEnd = last.line
                fresh.removeLast()
                if size > last.before {
                    warning = Self.joined(
                        warning,
                        "cut \(size - last.before) bytes of a write that a crash interrupted off \(self.outputPath); its events are written again"
                    )
                }
            } else {
                warning = Self.joined(
                    warning,
                    "\(self.outputPath) is shorter than Trawl wrote it (rotated or truncated): starting it anew"
                )
            }
        }
        for entry in fresh {
            for (key, mark) in entry.marks where mark.offset > (self.marks[key]?.offset ?? -1) {
                self.marks[key] = mark
            }
        }
        self.records += fresh.count
        self.readOffset = journalEnd
        return warning
    }

    static func joined(_ first: String?, _ second: String) -> String {
        first.map { "\($0); \(second)" } ?? second
    }

    /// The whole records of the journal from byte `offset`, each with where its line starts, where the last
    /// whole line ends, and how many whole lines are no record (damage).
    private func readRecords(
        from offset: Int64
    ) throws(TrawlError) -> (
        [(before: Int64, after: Int64, marks: [UnitKey: Mark], line: Int64)], end: Int64, unreadable: Int
    ) {
        let fd = open(self.path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            throw TrawlError(
                .sinkWriteFailed,
                "the output's journal cannot be read: \(errnoDescription())",
                location: self.path
            )
        }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65_536)
        var position = off_t(offset)
        while true {
            let count = chunk.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, position) }
            if count < 0, errno == EINTR { continue }
            guard count > 0 else { break }
            bytes.append(contentsOf: chunk[0..<count])
            position += off_t(count)
        }
        var entries: [(before: Int64, after: Int64, marks: [UnitKey: Mark], line: Int64)] = []
        var unreadable = 0
        var lineStart = 0
        while let newline = bytes[lineStart...].firstIndex(of: UInt8(ascii: "\n")) {
            defer { lineStart = newline + 1 }
            guard
                let object = (try? JSONSerialization.jsonObject(with: Data(bytes[lineStart..<newline])))
                    as? [String: Any],
                let before = (object["b"] as? NSNumber)?.int64Value,
                let after = (object["a"] as? NSNumber)?.int64Value,
                let time = (object["t"] as? NSNumber)?.int64Value,
                let marks = object["m"] as? [String: NSNumber]
            else {
                unreadable += 1
                continue
            }
            entries.append(
                (
                    before, after,
                    Dictionary(
                        marks.map { (UnitKey(recorded: $0.key), Mark(offset: $0.value.int64Value, time: time)) },
                        uniquingKeysWith: { $0.offset >= $1.offset ? $0 : $1 }
                    ),
                    offset + Int64(lineStart)
                )
            )
        }
        return (entries, offset + Int64(lineStart), unreadable)
    }

    /// Records, durably, that the file will grow from `before` to `after` bytes with events up to `marks`;
    /// returns the journal's length before, for ``abandon(at:)``.
    mutating func willWrite(before: Int64, after: Int64, marks: [UnitKey: Int64]) throws(TrawlError) -> Int64 {
        let now = UTCTimestamp.now().microsecondsSinceEpoch / 1_000_000
        if self.records >= self.compactionRecords { try self.compact(now: now, size: before) }
        var line = "{\"b\":\(before),\"a\":\(after),\"t\":\(now),\"m\":{"
        line += marks.map { "\"\($0.key.recorded)\":\($0.value)" }.joined(separator: ",")
        line += "}}\n"
        var status = stat()
        let length = stat(self.path, &status) == 0 ? Int64(status.st_size) : 0
        try Self.write(Array(line.utf8), to: self.path, flags: O_WRONLY | O_APPEND | O_CREAT)
        self.records += 1
        if self.readOffset == length {
            // Up to date before this record: it needs no reading back.
            self.readOffset = length + Int64(line.utf8.count)
            if self.inode == nil, stat(self.path, &status) == 0 { self.inode = status.st_ino }
        }
        return length
    }

    /// The write recorded by ``willWrite(before:after:marks:)`` succeeded: its events count as written.
    mutating func didWrite(marks: [UnitKey: Int64]) {
        let now = UTCTimestamp.now().microsecondsSinceEpoch / 1_000_000
        for (key, offset) in marks where offset > (self.marks[key]?.offset ?? -1) {
            self.marks[key] = Mark(offset: offset, time: now)
        }
    }

    /// The write failed and was cut off the output: forget its record, so a restart does not count its
    /// events as written.
    mutating func abandon(at length: Int64) {
        truncate(self.path, off_t(length))
        self.records -= 1
        self.readOffset = min(self.readOffset, length)
    }

    /// Rewrites the journal as one record holding every mark younger than the retention.
    private mutating func compact(now: Int64, size: Int64) throws(TrawlError) {
        self.marks = self.marks.filter { $0.value.time >= now - self.retentionSeconds }
        let marks = self.marks.map { "\"\($0.key.recorded)\":\($0.value.offset)" }.joined(separator: ",")
        let line = "{\"b\":\(size),\"a\":\(size),\"t\":\(now),\"m\":{\(marks)}}\n"
        let temporary = "\(self.path).tmp"
        try Self.write(Array(line.utf8), to: temporary, flags: O_WRONLY | O_CREAT | O_TRUNC)
        guard rename(temporary, self.path) == 0 else {
            throw TrawlError(
                .sinkWriteFailed,
                "cannot replace \(self.path): \(errnoDescription())",
                location: self.path
            )
        }
        self.records = 1
        var status = stat()
        if stat(self.path, &status) == 0 {
            self.inode = status.st_ino
            self.readOffset = Int64(status.st_size)
        }
    }

    private static func write(_ bytes: [UInt8], to path: String, flags: Int32) throws(TrawlError) {
        let fd = open(path, flags | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw TrawlError(
                .sinkWriteFailed,
                "the output's journal cannot be opened: \(errnoDescription())",
                location: path
            )
        }
        defer { close(fd) }
        guard bytes.withUnsafeBytes({ writeAll(fd, $0) }), fsync(fd) == 0 else {
            throw TrawlError(
                .sinkWriteFailed,
                "the output's journal cannot be written: \(errnoDescription())",
                location: path
            )
        }
    }
}
