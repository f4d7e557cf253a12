import Logging
import NIOCore
import Synchronization
import TrawlCore
import TrawlFormats
import TrawlParquet

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// `trawl replay`: runs an S3+SQS service's processor and tagging over local files, as if each were an
/// object its queue announced: for backfills from exported objects, and to try a configuration on samples.
/// Nothing is remembered: replaying a file twice delivers it twice.
public struct ObjectReplaySource: PullingSource {
    public let configuration: SQSObjectSource.Configuration
    public let files: [String]
    /// Files that could not be read, so the command can exit with an error.
    public let failures = ObjectFailureCount()

    /// Files read at once; each file's events stay in order, files interleave.
    public let concurrency: Int

    /// - Parameter concurrency: files read at once; the service's `concurrency` when nil.
    public init(configuration: SQSObjectSource.Configuration, files: [String], concurrency: Int? = nil) {
        self.configuration = configuration
        self.files = files
        self.concurrency = max(1, concurrency ?? configuration.settings.concurrency)
    }

    public func pull(_ context: PullContext) async throws -> PullCycleStatistics {
        let counters = CycleCounters()
        try await withThrowingTaskGroup(of: Void.self) { group in
            var running = 0
            for path in self.files {
                if context.isShuttingDown { break }
                guard self.configuration.reads(key: path) else {
                    context.logger.info(
                        "Skipping \(path): excluded by include_keys/exclude_keys",
                        metadata: ["file.path": "\(path)"]
                    )
                    continue
                }
                if running >= self.concurrency {
                    try await group.next()
                    running -= 1
                }
                running += 1
                group.addTask { try await self.replay(path, counters: counters, context: context) }
            }
            try await group.waitForAll()
        }
        context.logger.info("Number of messages per tag sent: \(counters.read { $0.perTagSummary })")
        return counters.read { $0.statistics }
    }

    /// Reads one file through the service's processing and waits until all of it was delivered; a file that
    /// cannot be read is logged and counted in ``failures``.
    private func replay(_ path: String, counters: CycleCounters, context: PullContext) async throws {
        var logger = context.logger
        logger[metadataKey: "file.path"] = "\(path)"
        counters.update { $0.statistics.requests += 1 }
        var reader = ObjectReader(
            setup: self.configuration.readerSetup(ledger: nil),
            key: path,
            unit: "replay \(context.pullingID) \(path)",
            name: path,
            identity: path,
            alreadyDelivered: 0,
            counters: counters,
            context: context,
            logger: logger
        )
        do {
            let summary: ObjectReader.Summary
            if Self.isParquet(path) {
                summary = try await reader.readParquet(try Self.openParquet(path))
            } else {
                summary = try await reader.read(LocalFileChunks(path: path))
            }
            logger.info("Replayed \(path) (\(summary.layout), \(summary.bytes) bytes): \(reader.index) records")
        } catch var error as TrawlError {
            self.failures.add()
            error.specificFix = Self.replayFix(error.code, delivered: reader.delivered)
            logger.error("\(error)", metadata: ["error.id": "\(error.code.id)"])
        }
    }
}

extension ObjectReplaySource {
    /// The fix for a file that failed part way: a replay has no queue to leave a message in and no ledger,
    /// so it says what to inspect and how much of the file the outputs already have.
    static func replayFix(_ code: TrawlError.Code, delivered: Int64) -> String {
        let inspect =
            switch code {
            case .sourceReadFailed: "Check the path and its permissions."
            case .objectCorrupt: "Inspect the file (gzip -t, zstd -t or bzip2 -t name the damage)."
            case .parquetUnreadable:
                "Open the file with pyarrow (pyarrow.parquet.read_table) to see whether it is damaged; for a legitimate row group past the limit, raise parquet_max_row_group_megabytes."
            case .recordNotObfuscatable:
                "Use a processor that yields JSON objects for this service, or remove its obfuscate rules."
            default: code.fix
            }
        guard delivered > 0 else { return "\(inspect) None of its records were delivered." }
        return
            "\(inspect) Its first \(delivered) record(s), read before the failure, were delivered: replaying the whole file again delivers those again."
    }

    /// Whether the file at `path` starts with `PAR1`: a local Parquet file is read in place, not spooled.
    static func isParquet(_ path: String) -> Bool {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return false }
        defer { close(descriptor) }
        var head = [UInt8](repeating: 0, count: 4)
        return read(descriptor, &head, 4) == 4 && head == ParquetFileReader.magic
    }

    static func openParquet(_ path: String) throws -> ParquetLocalFile {
        do {
            return try ParquetLocalFile(path: path)
        } catch {
            throw TrawlError(.sourceReadFailed, "\(error)", location: path)
        }
    }
}

/// A local file's bytes in pieces of 1 MiB.
struct LocalFileChunks: AsyncSequence {
    typealias Element = ByteBuffer
    let path: String

    /// Closes the file when the iteration ends, also when it is abandoned after an error.
    final class OpenFile {
        let fd: Int32
        init(_ fd: Int32) { self.fd = fd }
        deinit { close(self.fd) }
    }

    struct Iterator: AsyncIteratorProtocol {
        let path: String
        var file: OpenFile?
        var done = false

        mutating func next() async throws -> ByteBuffer? {
            guard !self.done else { return nil }
            if self.file == nil {
                let fd = open(self.path, O_RDONLY | O_CLOEXEC)
                guard fd >= 0 else {
                    self.done = true
                    throw TrawlError(
                        .sourceReadFailed,
                        "the file cannot be opened: \(errnoDescription())",
                        location: self.path
                    )
                }
                self.file = OpenFile(fd)
            }
            var buffer = ByteBuffer()
            let (path, fd) = (self.path, self.file!.fd)
            let count = try buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: 1 << 20) { raw -> Int in
                while true {
                    let count = read(fd, raw.baseAddress, Swift.min(raw.count, 1 << 20))
                    if count < 0, errno == EINTR { continue }
                    guard count >= 0 else {
                        throw TrawlError(
                            .sourceReadFailed,
                            "the file cannot be read: \(errnoDescription())",
                            location: path
                        )
                    }
                    return count
                }
            }
            if count == 0 {
                self.file = nil
                self.done = true
                return nil
            }
            return buffer
        }
    }

    func makeAsyncIterator() -> Iterator { Iterator(path: self.path) }
}
