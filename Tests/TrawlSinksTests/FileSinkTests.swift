import Foundation
import NIOCore
import Testing
import TrawlCore
import TrawlSinks
import TrawlTesting

/// The `file` output shared by several processes (each sink here opens the file on its own, as another
/// process would): one append at a time, and each reads the others' journal records first.
@Suite struct FileSinkTests {
    static func events(_ unit: String, _ offsets: Range<Int64>) -> [EventBatch] {
        let events = offsets.map { offset in
            Event(
                tag: "my.app.test",
                body: ByteBuffer(string: "\(unit)-\(offset)"),
                metadata: EventMetadata(source: "s1/test", unit: unit, offset: offset, pullingID: .now())
            )
        }
        return [EventBatch(events: events, acknowledgement: Acknowledgement(unit: unit))]
    }

    static func sink(_ path: String, _ log: RecordingLogger) -> FileSink {
        FileSink(name: "out", path: path, framer: DevoSyslogFramer(hostname: "vm"), logger: log.logger)
    }

    /// An output at `out.log` in `directory` that a first writer (returned open) appended `object-a-0` and
    /// `object-a-1` to, and the log its sinks share.
    static func outputWithTwoEvents(
        _ directory: TemporaryDirectory
    ) async throws -> (path: String, log: RecordingLogger, first: FileSink) {
        let path = "\(directory.path)/out.log"
        let log = RecordingLogger()
        let first = Self.sink(path, log)
        try await first.write(Self.events("object-a", 0..<2))
        return (path, log, first)
    }

    /// Appends `bytes` to the journal of the output at `path`, as a writer that died could have left them.
    static func appendToJournal(_ path: String, _ bytes: Data) throws {
        let journal = try #require(FileHandle(forWritingAtPath: "\(path).trawl-journal"))
        journal.seekToEndOfFile()
        journal.write(bytes)
        try journal.close()
    }

    static func bodies(_ path: String) throws -> [String] {
        try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map {
            String($0.split(separator: " ").last!)
        }
    }

    /// A pipe or device cannot be fsynced or cut back: each write would fail with EINVAL, and a pipe no one
    /// reads would hold the open. It fails saying what the path is, and nothing is created beside it.
    @Test(arguments: ["/dev/null", "fifo"])
    func aPathThatIsNoRegularFileIsRefusedSayingSo(path: String) async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let target = path.hasPrefix("/") ? path : "\(directory.path)/\(path)"
        if !path.hasPrefix("/") { #expect(mkfifo(target, 0o600) == 0) }
        let log = RecordingLogger()
        let sink = Self.sink(target, log)
        let error = await #expect(throws: TrawlError.self) { try await sink.write(Self.events("a", 0..<2)) }
        #expect(error?.code == .sinkWriteFailed)
        #expect(error?.message.contains("\(target) is not a regular file (a pipe, socket or device)") == true)
        #expect(!FileManager.default.fileExists(atPath: "\(target).trawl-journal"))
        try await sink.close()
    }

    /// `trawl validate` tells a path the sink could never append to before a run, which would otherwise only
    /// find it at its first write and retry it without end; a path it can create passes and is not created.
    @Test func aDestinationThatCannotTakeAppendsIsToldBeforeAnyWrite() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let file = try directory.write("devo.log", "")
        let root = directory.path
        #expect(
            FileSink.destinationProblem(root)
                == "\(root) is a directory; path names the file to append to, such as \(root)/devo.log"
        )
        #expect(
            FileSink.destinationProblem("\(root)/")
                == FileSink.destinationProblem(root).map { _ in
                    "\(root)/ is a directory; path names the file to append to, such as \(root)//devo.log"
                }
        )
        #expect(
            FileSink.destinationProblem("/dev/null")
                == "/dev/null is not a regular file (a pipe, socket or device); for standard output use the console output"
        )
        #expect(
            FileSink.destinationProblem("\(file)/day/out.log")
                == "\(file) is not a directory, so \(file)/day/out.log cannot be created in it"
        )
        #expect(FileSink.destinationProblem(file) == nil)
        #expect(FileSink.destinationProblem("\(root)/new/deeper/out.log") == nil)
        #expect(!FileManager.default.fileExists(atPath: "\(root)/new"))
    }

    @Test func eventsAnotherWriterAlreadyAppendedAreNotWrittenAgain() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = "\(directory.path)/out.log"
        let log = RecordingLogger()
        let first = Self.sink(path, log)
        let second = Self.sink(path, log)
        try await first.write(Self.events("object-a", 0..<10))
        // The second writer gets the same unit again (a message redelivered to it after the first crashed
        // before committing), and more of it.
        try await second.write(Self.events("object-a", 0..<20))
        try await first.write(Self.events("object-b", 0..<3))
        try await second.write(Self.events("object-b", 2..<5))
        #expect(
            try Self.bodies(path)
                == (0..<20).map { "object-a-\($0)" } + (0..<5).map { "object-b-\($0)" }
        )
        #expect(log.messages(containing: "10 event(s) sent again after a restart are already in").count == 1)
        #expect(log.messages(containing: "1 event(s) sent again after a restart are already in").count == 1)
        try await first.close()
        try await second.close()
    }

    @Test func preparedChunksAreWrittenAsFramedUnlessTheFileAlreadyHoldsSomeOfTheirEvents() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = "\(directory.path)/out.log"
        let reference = "\(directory.path)/reference.log"
        let log = RecordingLogger()
        let first = Self.sink(path, log)
        let second = Self.sink(path, log)
        #expect(first.preparesWrites)
        try await first.write(Self.events("object-a", 0..<10))
        // Prepared before the write learns from the journal that the file holds the first ten.
        let again = Self.events("object-a", 0..<20)
        let preparedAgain = try #require(second.prepare(again))
        try await second.write(again, prepared: preparedAgain)
        let more = Self.events("object-b", 0..<3)
        try await second.write(more, prepared: second.prepare(more))
        #expect(
            try Self.bodies(path) == (0..<20).map { "object-a-\($0)" } + (0..<3).map { "object-b-\($0)" }
        )
        #expect(log.messages(containing: "10 event(s) sent again after a restart are already in").count == 1)

        let plain = Self.sink(reference, log)
        try await plain.write(Self.events("object-a", 0..<20))
        try await plain.write(Self.events("object-b", 0..<3))
        #expect(directory.read("out.log") == directory.read("reference.log"), "prepared and framed bytes agree")
        try await first.close()
        try await second.close()
        try await plain.close()
    }

    @Test func anAppendAWriterLeftHalfDoneIsCutOffByTheNext() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let (path, log, first) = try await Self.outputWithTwoEvents(directory)
        let complete = try Data(contentsOf: URL(fileURLWithPath: path)).count
        // A writer that died mid-append: its journal record says 100 bytes more, 7 of them reached the file.
        try Self.appendToJournal(
            path,
            Data(#"{"b":\#(complete),"a":\#(complete + 100),"t":1,"m":{"s1/test\u001fobject-a":9}}"#.utf8 + [10])
        )
        let output = FileHandle(forWritingAtPath: path)!
        output.seekToEndOfFile()
        output.write(Data("<14>Jan".utf8))
        try output.close()

        let second = Self.sink(path, log)
        try await second.write(Self.events("object-a", 0..<5))
        #expect(try Self.bodies(path) == (0..<5).map { "object-a-\($0)" }, "the torn write is gone, its events written")
        #expect(log.messages(containing: "cut 7 bytes of a write that a crash interrupted").count == 1)
        try await first.write(Self.events("object-a", 3..<6))
        #expect(try Self.bodies(path) == (0..<6).map { "object-a-\($0)" }, "the first writer reads the second's record")
        try await first.close()
        try await second.close()
    }

    private func batch(_ bodies: [String]) -> EventBatch {
        EventBatch(
            events: bodies.map { Event.test($0) },
            acknowledgement: Acknowledgement(unit: "u")
        )
    }

    /// A journal line a crash cut short (no line break) preceded no write to the output: the next writer cuts
    /// it, rather than appending its own record to it, which would make one unreadable line and lose that
    /// record's marks (its events written again by the writer after).
    @Test func aJournalLineACrashCutShortIsCutBeforeTheNextRecord() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let (path, log, first) = try await Self.outputWithTwoEvents(directory)
        try await first.close()
        try Self.appendToJournal(path, Data(#"{"b":999,"a":"#.utf8))

        let second = Self.sink(path, log)
        try await second.write(Self.events("object-a", 0..<5))
        try await second.close()
        let third = Self.sink(path, log)
        try await third.write(Self.events("object-a", 0..<5))
        try await third.close()
        #expect(try Self.bodies(path) == (0..<5).map { "object-a-\($0)" })
        #expect(log.messages(containing: "journal").isEmpty, "\(log.messages(containing: "journal"))")
    }

    /// A whole journal line that is no record (damage) is skipped, as before, but said: the events it marked
    /// may be written again.
    @Test func aDamagedJournalLineIsSkippedWithAWarning() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let (path, log, first) = try await Self.outputWithTwoEvents(directory)
        try await first.write(Self.events("object-b", 0..<2))
        try await first.close()
        let journalPath = "\(path).trawl-journal"
        var lines = try String(contentsOfFile: journalPath, encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 2)
        lines[0] = "{\"b\":0,\"a\":\u{1}" + lines[0].dropFirst(10)
        try (lines.joined(separator: "\n") + "\n").write(toFile: journalPath, atomically: false, encoding: .utf8)

        let second = Self.sink(path, log)
        try await second.write(Self.events("object-a", 0..<3) + Self.events("object-b", 0..<3))
        try await second.close()
        let warnings = log.messages(containing: "line(s) of its journal")
        #expect(warnings.count == 1)
        #expect(warnings.first?.contains("1 line(s) of its journal \(journalPath) from byte 0 are not records") == true)
        #expect(
            try Self.bodies(path)
                == [
                    "object-a-0", "object-a-1", "object-b-0", "object-b-1", "object-a-0", "object-a-1", "object-a-2",
                    "object-b-2",
                ]
        )
    }

    @Test func appendsFramedLinesAcrossWritesAndCreatesTheDirectory() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let sink = FileSink(
            name: "out",
            path: "\(directory.path)/a/b/devo.log",
            framer: DevoSyslogFramer(hostname: "h"),
            logger: RecordingLogger().logger
        )
        try await sink.write([self.batch(["1", "2"])])
        try await sink.write([self.batch(["3"])])
        try await sink.close()
        #expect(
            directory.read("a/b/devo.log")
                == (1...3).map { "<14>Jan  1 00:00:00 h my.app.test.event: \($0)\n" }.joined()
        )
    }

    @Test func aFileRotatedByRenamingIsFollowedByANewFileAndItsEventsAreNotWrittenAgain() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = "\(directory.path)/out.log"
        let log = RecordingLogger()
        let sink = Self.sink(path, log)
        try await sink.write(Self.events("object-a", 0..<3))
        #expect(rename(path, "\(path).1") == 0)
        // The rest of the unit, sent again from its start as after a restart, then a removed file.
        try await sink.write(Self.events("object-a", 0..<5))
        #expect(unlink(path) == 0)
        try await sink.write(Self.events("object-b", 0..<2))
        try await sink.close()
        #expect(try Self.bodies("\(path).1") == (0..<3).map { "object-a-\($0)" })
        #expect(try Self.bodies(path) == ["object-b-0", "object-b-1"])
        #expect(log.messages(containing: "was moved or removed (log rotation?)").count == 2)
        #expect(log.messages(containing: "3 event(s) sent again after a restart are already in").count == 1)
    }

    @Test func anUnwritablePathIsASinkError() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let sink = FileSink(
            name: "out",
            path: directory.path,
            framer: DevoSyslogFramer(hostname: "h"),
            logger: RecordingLogger().logger
        )
        let error = await #expect(throws: TrawlError.self) { try await sink.write([self.batch(["1"])]) }
        #expect(error?.code == .sinkWriteFailed)
        #expect(error?.location == "outputs.out.settings.path")
    }
}
