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

        init(linesPerCommit: Int = 2, recordMaxBytes: Int = 16 << 20, encoding: String = "utf-8") throws {
            self.directory = try TemporaryDirectory()
            let settings = try SettingsFixture.valid(
                LocalFilesSettings.self,
                yaml:
                    "{directory: \"\(self.directory.path)/data\", tag: my.app.test.event, lines_per_commit: \(linesPerCommit), file_suffix: .log, record_max_bytes: \(recordMaxBytes), encoding: \(encoding)}"
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

    @Test func aMissingDirectoryIsSourceError300AtThatDirectory() async throws {
        let harness = try Harness()
        defer { harness.directory.remove() }
        let error = await #expect(throws: TrawlError.self) { _ = try await harness.pull() }
        #expect(error?.code.id == 300)
        #expect(error?.location == "\(harness.directory.path)/data")
        #expect(
            error?.message == "the directory of files/lines cannot be listed: No such file or directory (errno 2)"
        )
    }

    @Test func aLatin1FileIsDeliveredAsUTF8WithoutItsWindowsLineEnds() async throws {
        let harness = try Harness(encoding: "latin-1")
        defer { harness.directory.remove() }
        let bytes: [UInt8] = Array("Jos".utf8) + [0xE9, 0x0D, 0x0A] + Array("na".utf8) + [0xEF] + Array("ve\n".utf8)
        try harness.directory.write("data/a.log", bytes: bytes)
        _ = try await harness.pull()
        #expect(harness.bodies == ["José", "naïve"])
        #expect(harness.directory.read("state/c/1/lines.json")?.contains("\"a.log\":\(bytes.count)") == true)
    }

    @Test func aByteOrderMarkDecidesTheEncodingAndIsNotPartOfTheFirstLine() async throws {
        let harness = try Harness(linesPerCommit: 100)
        defer { harness.directory.remove() }
        try harness.directory.write("data/a.log", bytes: [0xFF, 0xFE] + utf16LittleEndian("time,€\r\nb\n"))
        try harness.directory.write("data/b.log", bytes: [0xFE, 0xFF] + utf16BigEndian("big endian\n"))
        try harness.directory.write("data/c.log", "\u{FEFF}time,x\n")
        _ = try await harness.pull()
        #expect(harness.bodies == ["time,€", "b", "big endian", "time,x"])
    }

    @Test func utf16LinesAreSplitOnlyAtWholeNewlineCodeUnitsAndResumeWhereTheyStopped() async throws {
        let harness = try Harness(encoding: "utf-16le")
        defer { harness.directory.remove() }
        // U+0A41 U+0100 is 41 0A 00 01: a newline's bytes at an odd offset, inside two characters.
        let tricky = "\u{0A41}\u{0100}"
        let long = String(repeating: "ü", count: 700_000)
        let path = try harness.directory.write("data/a.log", bytes: utf16LittleEndian("\(tricky)\n\(long)\nha"))
        _ = try await harness.pull()
        let bodies = harness.bodies
        #expect(bodies.count == 2 && bodies.first == tricky)
        let longLineIsWhole = bodies.last == long
        #expect(longLineIsWhole)
        let handle = try #require(FileHandle(forWritingAtPath: path))
        handle.seekToEndOfFile()
        handle.write(Data(utf16LittleEndian("lf\n")))
        try handle.close()
        _ = try await harness.pull()
        #expect(harness.bodies.last == "half")
    }

    @Test func aFileThatMayStillStartWithAByteOrderMarkWaits() async throws {
        let harness = try Harness()
        defer { harness.directory.remove() }
        let path = try harness.directory.write("data/a.log", bytes: [0xEF, 0xBB])
        let first = try await harness.pull()
        #expect(first.received == 0)
        #expect(harness.directory.read("state/c/1/lines.json") == nil)
        let handle = try #require(FileHandle(forWritingAtPath: path))
        handle.seekToEndOfFile()
        handle.write(Data([0xBF] + Array("first\n".utf8)))
        try handle.close()
        _ = try await harness.pull()
        #expect(harness.bodies == ["first"])
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

private func utf16LittleEndian(_ text: String) -> [UInt8] {
    text.utf16.flatMap { [UInt8($0 & 0xFF), UInt8($0 >> 8)] }
}

private func utf16BigEndian(_ text: String) -> [UInt8] {
    text.utf16.flatMap { [UInt8($0 >> 8), UInt8($0 & 0xFF)] }
}
