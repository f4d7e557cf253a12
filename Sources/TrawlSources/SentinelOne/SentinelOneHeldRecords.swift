import Foundation
import Logging
import NIOCore
import TrawlCore

#if canImport(Glibc)
import Glibc
#endif

/// The records a newest-first listing found past its watermark, held until they are delivered oldest first.
///
/// A cycle holds what changed since the last one, which on a first run is everything changed since
/// `historical_poll_datetime`: with that a year back, a whole inventory. So only the first `memoryBudget`
/// bytes of records stay in memory; the rest go to a temporary file that is unlinked as soon as it is made
/// (the kernel frees it when the cycle ends, even one cut short by a crash), and memory keeps 12 bytes per
/// record for them. A file that cannot be made or written is warned about, and the records from then on stay
/// in memory.
struct SentinelOneHeldRecords: ~Copyable {
    /// The newest records, in memory.
    private var inMemory: [SentinelOnePage.Record] = []
    /// Records older than those in the file, held in memory because the file could not be written.
    private var afterFile: [SentinelOnePage.Record] = []
    private var memoryBytes = 0
    private let memoryBudget: Int
    /// Where each record in the file starts, and its length; the file's end is the last start plus length.
    private var fileOffsets: [Int64] = []
    private var fileLengths: [Int32] = []
    private var descriptor: Int32 = -1
    private var fileUnusable = false
    private let directory: String

    /// - Parameter directory: where the temporary file goes; `TMPDIR`'s directory by default.
    init(memoryBudget: Int, directory: String = FileManager.default.temporaryDirectory.path) {
        self.memoryBudget = memoryBudget
        self.directory = directory
    }

    deinit {
        if self.descriptor >= 0 { close(self.descriptor) }
    }

    var count: Int { self.inMemory.count + self.fileOffsets.count + self.afterFile.count }
    var isEmpty: Bool { self.count == 0 }
    /// How many records went to the file.
    var spilled: Int { self.fileOffsets.count }

    /// Holds `record`, the next older one than those held.
    mutating func append(_ record: SentinelOnePage.Record, logger: Logger) {
        let size = record.bytes.readableBytes
        if self.fileOffsets.isEmpty, self.memoryBytes + size <= self.memoryBudget || self.fileUnusable {
            self.inMemory.append(record)
            self.memoryBytes += size
            return
        }
        guard !self.fileUnusable, size <= Int(Int32.max), let descriptor = self.openFile(logger: logger) else {
            self.holdInMemory(record)
            return
        }
        // The file is only appended to, so each record starts where the one before it ended.
        let offset = (self.fileOffsets.last ?? 0) + Int64(self.fileLengths.last ?? 0)
        let written = record.bytes.withUnsafeReadableBytes { writeAll(descriptor, $0) }
        guard written else {
            logger.warning(
                "the records changed since the watermark cannot be written to a temporary file in \(self.directory) (\(errnoDescription())): the rest of them are held in memory"
            )
            self.holdInMemory(record)
            return
        }
        self.fileOffsets.append(offset)
        self.fileLengths.append(Int32(size))
    }

    /// Holds `record` in memory from now on: after those in the file when there are any, so that the order
    /// is kept.
    private mutating func holdInMemory(_ record: SentinelOnePage.Record) {
        self.fileUnusable = true
        if self.fileOffsets.isEmpty {
            self.inMemory.append(record)
            self.memoryBytes += record.bytes.readableBytes
        } else {
            self.afterFile.append(record)
        }
    }

    /// The `count` oldest records held (or fewer, when fewer are held), oldest first, no longer held.
    ///
    /// - Throws: SourceError 300 when the temporary file cannot be read back.
    mutating func takeOldest(_ count: Int) throws -> [SentinelOnePage.Record] {
        var taken: [SentinelOnePage.Record] = []
        taken.reserveCapacity(min(count, self.count))
        while taken.count < count, let record = self.afterFile.popLast() { taken.append(record) }
        while taken.count < count, let offset = self.fileOffsets.popLast(), let length = self.fileLengths.popLast() {
            guard let bytes = readAll(self.descriptor, at: offset, count: Int(length)) else {
                throw TrawlError(
                    .sourceReadFailed,
                    "the records changed since the watermark cannot be read back from their temporary file: \(errnoDescription()); the cycle is read again from the watermark",
                    location: self.directory
                )
            }
            taken.append(SentinelOnePage.Record(bytes: ByteBuffer(bytes: bytes)))
        }
        while taken.count < count, let record = self.inMemory.popLast() {
            self.memoryBytes -= record.bytes.readableBytes
            taken.append(record)
        }
        return taken
    }

    private mutating func openFile(logger: Logger) -> Int32? {
        if self.descriptor >= 0 { return self.descriptor }
        var template = Array("\(self.directory)/trawl-sentinelone-XXXXXX".utf8CString)
        let descriptor = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard descriptor >= 0 else {
            logger.warning(
                "the records changed since the watermark pass \(self.memoryBudget) bytes but no temporary file can be made in \(self.directory) (\(errnoDescription())): they are all held in memory"
            )
            return nil
        }
        unlink(template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) })
        // Not handed to the processes Trawl starts (a proxy, a helper).
        _ = fcntl(descriptor, F_SETFD, FD_CLOEXEC)
        self.descriptor = descriptor
        return descriptor
    }
}
