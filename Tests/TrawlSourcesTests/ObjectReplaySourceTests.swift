import NIOCore
import Synchronization
import Testing
import TrawlAWS
import TrawlCore
import TrawlFormats
import TrawlSources
import TrawlTesting

@Suite struct ObjectReplaySourceTests {
    /// What the tasks of one test share: whether the object is still being read, and how often another task
    /// ran meanwhile.
    final class Turns: Sendable {
        let reading = Atomic<Bool>(true)
        let beatsWhileReading = Atomic<Int>(0)
        let delivered = Atomic<Int>(0)
    }

    @Test func anObjectBeingReadLetsOtherTasksOnItsThreadRunBetweenPieces() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        // 8 MiB of lines: 32 decompressed pieces of 256 KiB, read 1 MiB at a time, all in one commit, so nothing
        // but the pieces themselves gives the reader a reason to suspend before the object ends.
        let line = "{\"event.category\":\"file\",\"padding\":\"\(String(repeating: "x", count: 68))\"}\n"
        let lines = (8 << 20) / line.utf8.count
        let path = try directory.write("big.log", String(repeating: line, count: lines))
        let turns = try await Self.replayBesideACountingTask(path)
        #expect(turns.delivered.load(ordering: .relaxed) == lines)
        // Without a turn given up per piece this is 1 or 2: the counting task ran only before the reader
        // started and once it waited for its delivery.
        #expect(turns.beatsWhileReading.load(ordering: .relaxed) >= 16)
    }

    @Test func aParquetRowGroupBeingRenderedLetsOtherTasksOnItsThreadRunBetweenPieces() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        // One row group that renders to about 9.5 MB: some 36 pieces of 256 KiB with no row group boundary
        // between them, all in one commit.
        let rows = 110_000
        let path = "\(directory.path)/big.parquet"
        try await ParquetOracle.writeOneRowGroup(to: path, rows: rows)
        let turns = try await Self.replayBesideACountingTask(path)
        #expect(turns.delivered.load(ordering: .relaxed) == rows)
        #expect(turns.beatsWhileReading.load(ordering: .relaxed) >= 16)
    }

    /// A replay has no ledger, so a file that fails part way says how many of its records the outputs already
    /// have, and its fix names no queue: the commits published before the failure are waited for and counted.
    @Test func aFileCorruptPartWaySaysHowManyOfItsRecordsWereDelivered() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let text = (0..<200_000).map { "{\"id\":\"r-\($0)\"}\n" }.joined()
        let gzip = try await PeerCompressor.compress(Array(text.utf8), format: "gzip")
        let path = try directory.write("cut.json.gz", bytes: Array(gzip.prefix(gzip.count / 2)))
        let (count, source, log) = try await Self.replayCounting(path)
        #expect(count > 0 && count < 200_000)
        #expect(source.failures.value == 1)
        let errors = log.messages(containing: "SourceError 301")
        #expect(errors.count == 1)
        #expect(errors.first?.contains("Its first \(count) record(s), read before the failure, were delivered") == true)
        #expect(errors.first?.contains("queue") == false)
        #expect(
            errors.first?.hasPrefix("SourceError 301 at \(path): its content (gzip) cannot be decompressed") == true
        )
    }

    /// CloudWatch Logs data that Firehose wrote (documents back to back) read by a json_lines service is
    /// sent a document per event, as asked, with a warning naming the service that splits its log events.
    @Test func cloudWatchLogsDocumentsReadAsJSONLinesAreSentWholeWithAWarning() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let document =
            #"{"messageType":"DATA_MESSAGE","owner":"1","logGroup":"g","logStream":"s","logEvents":[{"id":"1","timestamp":1,"message":"m"}]}"#
        let path = try directory.write("cw.json", document + document)
        let (count, _, log) = try await Self.replayCounting(path)
        #expect(count == 2)
        let warnings = log.messages(containing: "holds CloudWatch Logs subscription documents")
        #expect(warnings.count == 1)
        #expect(warnings.first?.contains("the cloudwatch_logs service sends each log event") == true)

        let plain = try directory.write("plain.json", #"{"messageType":"note","logEvents":[]}"# + "\n")
        let (plainCount, _, plainLog) = try await Self.replayCounting(plain)
        #expect(plainCount == 1)
        #expect(plainLog.messages(containing: "CloudWatch Logs").isEmpty)
    }

    @Test func aMissingFileIsSourceError300NamingItOnceAsTheLocation() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = "\(directory.path)/absent.json"
        let source = try Self.replaySource(path, recordsPerCommit: 10)
        let dispatcher = EventDispatcher(queues: [BoundedEventQueue(maxBufferedEvents: 10)], maxBatchEvents: 10)
        let log = RecordingLogger()
        _ = try await source.pull(
            PullContext(pullingID: PullingID(microseconds: 1), dispatcher: dispatcher, logger: log.logger)
        )
        #expect(source.failures.value == 1)
        #expect(
            log.messages(containing: "SourceError 300").first?.hasPrefix(
                "SourceError 300 at \(path): the file cannot be opened: No such file or directory (errno 2)."
            ) == true,
            "\(log.messages(containing: "SourceError"))"
        )
    }

    /// A compressed object whose magic bytes are damaged is no longer read as uncompressed, its binary sent as
    /// records: under a key naming a compression its first bytes are neither that nor text; under any other
    /// key they are control bytes that are not UTF-8. Plain text named as if compressed, and UTF-8 text
    /// padded with zero bytes, are still read as they are.
    @Test func aCompressedFileWithDamagedMagicBytesIsRefusedNamedSoOrNotAndTextIsRead() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let text = (0..<50).map { "{\"id\":\"r-\($0)\",\"é\":\"ü\"}\n" }.joined()
        let refused = [
            ("gzip", "x.json.gz", "its key names gzip but its bytes start with neither"),
            ("zstd", "x.json.zst", "its key names zstd but its bytes start with neither"),
            ("bzip2", "x.json.bz2", "its key names bzip2 but its bytes start with neither"),
            ("gzip", "x.json", "its bytes start with no compression's magic bytes"),
        ]
        for (format, name, reason) in refused {
            var damaged = try await PeerCompressor.compress(Array(text.utf8), format: format)
            damaged[0] ^= 0x01
            let (delivered, source, log) = try await Self.replayCounting(try directory.write(name, bytes: damaged))
            #expect(delivered == 0, "\(name)")
            #expect(source.failures.value == 1, "\(name)")
            let error = log.messages(containing: "SourceError 301").first ?? ""
            #expect(error.contains(reason), "\(error)")
        }
        for (name, bytes) in [
            ("plain.json.gz", Array(text.utf8)), ("padded.json", Array(("\u{0}\u{0}\u{0}" + text).utf8)),
        ] {
            let (delivered, source, log) = try await Self.replayCounting(try directory.write(name, bytes: bytes))
            #expect(delivered == 50, "\(name)")
            #expect(source.failures.value == 0, "\(name)")
            #expect(log.messages(containing: "SourceError").isEmpty, "\(name)")
        }
    }

    /// A snappy data chunk whose type byte was damaged into a skippable type is skipped, as the format says,
    /// and its records are missing: the reading says so in a warning naming the file.
    @Test func aSkippedSnappyChunkIsWarnedAbout() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let text = (0..<50).map { "{\"id\":\"r-\($0)\"}\n" }.joined()
        var damaged = try await PeerCompressor.compress(Array(text.utf8), format: "snappy")
        damaged[10] = 0x80
        let path = try directory.write("x.json.sz", bytes: damaged)
        let (delivered, source, log) = try await Self.replayCounting(path)
        #expect(delivered == 0)
        #expect(source.failures.value == 0)
        let warnings = log.messages(containing: "skipped 1 snappy chunk(s) of a skippable type")
        #expect(warnings.count == 1)
        #expect(warnings.first?.hasPrefix(path) == true, "\(warnings)")
    }

    /// Replays the file at `path` and counts the events delivered.
    private static func replayCounting(
        _ path: String
    ) async throws -> (delivered: Int, source: ObjectReplaySource, log: RecordingLogger) {
        let source = try Self.replaySource(path, recordsPerCommit: 1_000)
        let queue = BoundedEventQueue(maxBufferedEvents: 10_000)
        let dispatcher = EventDispatcher(queues: [queue], maxBatchEvents: 500)
        let turns = Turns()
        let log = RecordingLogger()
        try await withThrowingTaskGroup(of: Void.self) { group in
            let batches = try queue.takeBatches()
            group.addTask {
                for await batch in batches {
                    turns.delivered.add(batch.events.count, ordering: .relaxed)
                    batch.acknowledgement.release()
                }
            }
            _ = try await source.pull(
                PullContext(pullingID: PullingID(microseconds: 1), dispatcher: dispatcher, logger: log.logger)
            )
            group.cancelAll()
        }
        return (turns.delivered.load(ordering: .relaxed), source, log)
    }

    /// A replay of the file at `path` as JSON lines, one file at a time.
    private static func replaySource(_ path: String, recordsPerCommit: Int) throws -> ObjectReplaySource {
        let settings = try SettingsFixture.valid(
            SQSObjectSettings.self,
            yaml: "{queue_name: q, region: us-east-1, records_per_commit: \(recordsPerCommit)}"
        )
        return ObjectReplaySource(
            configuration: SQSObjectSource.Configuration(
                name: "replay/test",
                settings: settings,
                credentials: AWSCredentialSettings(),
                format: .jsonLines,
                tagger: RecordTagger(tag: "my.app.test"),
                includeKeys: [],
                excludeKeys: []
            ),
            files: [path],
            concurrency: 1
        )
    }

    /// Replays the file at `path` as one commit on a single thread shared with a task that counts its turns
    /// while the file is still being read, and with the consumer of its events.
    private static func replayBesideACountingTask(_ path: String) async throws -> Turns {
        let source = try Self.replaySource(path, recordsPerCommit: 1_000_000)
        let queue = BoundedEventQueue(maxBufferedEvents: 10_000_000)
        let dispatcher = EventDispatcher(queues: [queue], maxBatchEvents: 1_000)
        let turns = Turns()
        let log = RecordingLogger()
        // One thread for the reader, a task that counts its turns, and the consumer: they can only take turns.
        try await ComputeThreadsExecutor.withOneThread {
            try await withThrowingTaskGroup(of: Void.self) { group in
                let batches = try queue.takeBatches()
                group.addTask {
                    for await batch in batches {
                        turns.reading.store(false, ordering: .relaxed)
                        turns.delivered.add(batch.events.count, ordering: .relaxed)
                        batch.acknowledgement.release()
                    }
                }
                group.addTask {
                    while !Task.isCancelled {
                        if turns.reading.load(ordering: .relaxed) { turns.beatsWhileReading.add(1, ordering: .relaxed) }
                        await Task.yield()
                    }
                }
                _ = try await source.pull(
                    PullContext(pullingID: PullingID(microseconds: 1), dispatcher: dispatcher, logger: log.logger)
                )
                group.cancelAll()
            }
        }
        return turns
    }
}
