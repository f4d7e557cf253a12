import Foundation
import Testing
import TrawlCore
import TrawlTesting

@testable import TrawlSinks

@Suite struct FileDeliveryJournalTests {
    typealias UnitKey = FileDeliveryJournal.UnitKey

    @Test func aUnitKeyReadsBackAsRecordedAndAWholeNameFromAnEarlierRecordDigestsToIt() {
        let name = "s1/cloud_funnel\u{1f}s3://bucket/AWSLogs/2026/12/07/a.log.gz#0123456789abcdef0123456789abcdef"
        let key = UnitKey(name: name)
        #expect(key.recorded.count == 33)
        #expect(key.recorded.hasPrefix("#"))
        #expect(UnitKey(recorded: key.recorded) == key)
        #expect(UnitKey(recorded: name) == key, "a record written before digests holds the whole name")
        #expect(UnitKey(name: name + "x") != key)
        #expect(UnitKey(recorded: "#" + String(repeating: "g", count: 32)) != key, "not hex: a name, digested")
    }

    /// Rewriting the journal as one record (every `compactionRecords` appends) keeps every unit's mark, by
    /// digest: a process opening the output afterwards still finds each event written once.
    @Test func aCompactedJournalStillKeepsEveryUnitsEventsFromBeingWrittenTwice() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = "\(directory.path)/out.log"
        let log = RecordingLogger()
        let units = (0..<6).map { "s3://bucket/key-\($0).log.gz#etag\($0)" }
        let first = FileSink(
            name: "out",
            path: path,
            framer: DevoSyslogFramer(hostname: "vm"),
            logger: log.logger,
            journalCompactionRecords: 3
        )
        for unit in units { try await first.write(FileSinkTests.events(unit, 0..<4)) }
        try await first.close()
        let records = try String(contentsOfFile: "\(path).trawl-journal", encoding: .utf8).split(separator: "\n")
        #expect(records.count < units.count, "compacted: \(records)")
        #expect(!records.joined().contains("bucket"), "marks are recorded by digest, not by name")

        let second = FileSinkTests.sink(path, log)
        for unit in units { try await second.write(FileSinkTests.events(unit, 0..<5)) }
        try await second.close()
        let bodies = try FileSinkTests.bodies(path)
        #expect(bodies.count == units.count * 5)
        #expect(Set(bodies).count == bodies.count, "no event twice")
        #expect(log.messages(containing: "4 event(s) sent again after a restart are already in").count == units.count)
    }
}
