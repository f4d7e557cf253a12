import Foundation
import NIOCore
import Testing
import TrawlCore
import TrawlSources
import TrawlTesting

@Suite struct LocalFilesSourceTests {
    struct Harness {
        let directory: TemporaryDirectory
        let sink = CollectingSink()
        let log = RecordingLogger()
        let source: LocalFilesSource

        init(linesPerCommit: Int = 2, recordMaxBytes: Int = 16 << 20) throws {
            self.directory = try TemporaryDirectory()
            let settings = try SettingsFixture.valid(
                LocalFilesSettings.self,
                yaml:
                    "{directory: \"\(self.directory.path)/data\", tag: my.app.test.event, lines_per_commit: \(linesPerCommit), file_suffix: .log, record_max_bytes: \(recordMaxBytes)}"
            )
            self.source = LocalFilesSource(
                name: "files/lines",
                settings: settings,
                persistence: ServicePersistence(
                    store: try FileStateStore(directory: "\(self.directory.path)/state"),
                    key: StateKey(collectorID: "c", input: "1", service: "lines"),
                    resetPersistenceAuth: "",
                    logger: self.log.logger
                )
            )
        }

        /// One pull cycle with a consumer that hands everything to the collecting sink and acknowledges it.
        func pull() async throws -> PullCycleStatistics {
            let queue = BoundedEventQueue(maxBufferedEvents: 1_000)
            let dispatcher = EventDispatcher(queues: [queue], maxBatchEvents: 10)
            return try await withThrowingTaskGroup(of: PullCycleStatistics?.self) { group in
                let batches = try queue.takeBatches()
                group.addTask {
                    for await batch in batches {
                        try await self.sink.write([batch])
                        batch.acknowledgement.release()
                    }
                    return nil
                }
                let statistics = try await self.source.pull(
                    PullContext(pullingID: PullingID(microseconds: 7), dispatcher: dispatcher, logger: self.log.logger)
                )
                group.cancelAll()
                return statistics
            }
        }

        var bodies: [String] { self.sink.events.map { String(buffer: $0.body) } }
    }

    @Test func readsCompleteLinesOfMatchingFilesAndCommitsTheirOffsets() async throws {
        let harness = try Harness()
        defer { harness.directory.remove() }
        try harness.directory.write("data/b.log", "b1\nb2\n")
        try harness.directory.write("data/a.log", "a1\n\na2\na3\nhalf")
        try harness.directory.write("data/skip.txt", "no\n")
        let statistics = try await harness.pull()
        #expect(harness.bodies == ["a1", "a2", "a3", "b1", "b2"])
        #expect(statistics == PullCycleStatistics(requests: 2, received: 5, duplicatesFilteredOut: 0, sent: 5))
        #expect(harness.sink.events.first?.metadata.pullingID == PullingID(microseconds: 7))
        #expect(harness.sink.events.first?.metadata.unit.hasSuffix("data/a.log") == true)
        #expect(harness.directory.read("state/c/1/lines.json")?.contains("\"a.log\":10") == true)
    }

    @Test func aLaterCycleReadsOnlyWhatWasAppended() async throws {
        let harness = try Harness()
        defer { harness.directory.remove() }
        let path = try harness.directory.write("data/a.log", "a1\nhal")
        _ = try await harness.pull()
        let handle = try #require(FileHandle(forWritingAtPath: path))
        handle.seekToEndOfFile()
        handle.write(Data("f\na2\n".utf8))
        try handle.close()
        let second = try await harness.pull()
        #expect(harness.bodies == ["a1", "half", "a2"])
        #expect(second.received == 2)
    }

    @Test func aTruncatedFileIsReadAgainFromTheStartWithAWarning() async throws {
        let harness = try Harness()
        defer { harness.directory.remove() }
        try harness.directory.write("data/a.log", "one\ntwo\nthree\n")
        _ = try await harness.pull()
        try harness.directory.write("data/a.log", "new\n")
        _ = try await harness.pull()
        #expect(harness.bodies == ["one", "two", "three", "new"])
        #expect(harness.log.messages(containing: "truncated or replaced").count == 1)
    }

    @Test func aLineSpanningManyReadsIsDeliveredWhole() async throws {
        let harness = try Harness()
        defer { harness.directory.remove() }
        let long = String(repeating: "y", count: (5 << 20) / 2)
        try harness.directory.write("data/a.log", "first\n\(long)\nlast\n")
        let statistics = try await harness.pull()
        #expect(harness.bodies == ["first", long, "last"])
        #expect(statistics.sent == 3)
    }

    @Test func aLineLongerThanRecordMaxBytesStopsItsFileThereWhileTheOtherFilesAreRead() async throws {
        let harness = try Harness(linesPerCommit: 100, recordMaxBytes: 1_024)
        defer { harness.directory.remove() }
        try harness.directory.write("data/a.log", "a1\n\na2\n" + String(repeating: "x", count: 3 << 20) + "\nlater\n")
        try harness.directory.write("data/b.log", "b1\n")
        for _ in 0..<2 {
            let error = await #expect(throws: TrawlError.self) { _ = try await harness.pull() }
            #expect(error?.code.id == 306)
            #expect(error?.location?.hasSuffix("data/a.log:7") == true, "\(String(describing: error))")
        }
        #expect(harness.bodies == ["a1", "a2", "b1"])
        let state = harness.directory.read("state/c/1/lines.json") ?? ""
        #expect(state.contains("\"a.log\":7") && state.contains("\"b.log\":3"), "\(state)")
    }

    @Test func nothingIsCommittedWhenASinkRejectsTheUnit() async throws {
        let harness = try Harness()
        defer { harness.directory.remove() }
        try harness.directory.write("data/a.log", "x\n")
        let queue = BoundedEventQueue(maxBufferedEvents: 100)
        let dispatcher = EventDispatcher(queues: [queue], maxBatchEvents: 10)
        let batches = try queue.takeBatches()
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                for await batch in batches { batch.acknowledgement.reject(TrawlError(.sinkWriteFailed, "no")) }
            }
            await #expect(throws: AcknowledgementRejected.self) {
                _ = try await harness.source.pull(
                    PullContext(pullingID: .now(), dispatcher: dispatcher, logger: harness.log.logger)
                )
            }
            group.cancelAll()
        }
        #expect(harness.directory.read("state/c/1/lines.json") == nil)
    }
}
