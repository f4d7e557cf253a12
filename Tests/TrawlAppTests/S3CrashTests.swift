import Foundation
import Testing
import TrawlTesting

/// Zero loss and zero duplicates across crashes: `trawl run` is killed with SIGKILL at random points while
/// it reads 50 objects, and restarted until the queue is empty; the file output must then hold every
/// uploaded record exactly once.
@Suite struct S3CrashTests {
    @Test func sigkillAtRandomPointsLosesAndDuplicatesNothing() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let objects = 50
        let perObject = 1_500
        let fixture = try await Self.queueWithObjects(objects, of: perObject)
        let configuration = Self.configuration(fixture)
            .replacingOccurrences(of: "globals: {id: s3-test,", with: "globals: {id: s3-test, debug_status: true,")
        try directory.write("config.yaml", configuration)
        var generator = SystemRandomNumberGenerator()
        var kills = 0
        var finished = false
        let deadline = ContinuousClock.now + .seconds(400)
        var run = 0
        let output = "\(directory.path)/out.log"
        while ContinuousClock.now < deadline {
            run += 1
            let trawl = try BuiltExecutable(
                "trawl",
                arguments: ["run", "--once", "--config", "config.yaml"],
                workingDirectory: directory.path
            )
            if run <= 6 {
                if run.isMultiple(of: 3) {
                    // Any point, before the first write too (receiving, downloading).
                    try await Task.sleep(for: .milliseconds(Int.random(in: 300...2_500, using: &generator)))
                } else {
                    // A point inside the delivery itself: once the output (absent before its first write) grew by
                    // a random part of what is left; a timed kill misses every run that is faster than its delay.
                    let written = (try? SecurityLakeEndToEndTests.size(output)) ?? 0
                    let left = max(3, objects * perObject * Self.recordBytes - written)
                    let target = written + Int.random(in: 1...(left / 3), using: &generator)
                    while trawl.process.isRunning, (try? SecurityLakeEndToEndTests.size(output)) ?? 0 < target {
                        try await Task.sleep(for: .milliseconds(2))
                    }
                }
                if trawl.process.isRunning {
                    trawl.signal(SIGKILL)
                    kills += 1
                }
            }
            let status = await trawl.waitForExit(timeout: .seconds(300))
            // What the visibility timeout would do, minutes later: messages the killed run held come back.
            let handles = trawl.standardError.matches(of: /sqs\.receipt_handle=([^ }]+)/).map { String($0.output.1) }
            if !handles.isEmpty {
                try await fixture.moto.fixture([
                    "command": "release", "queue_url": fixture.queueURL, "receipt_handles": handles,
                ])
            }
            if status == 0 {
                if try await fixture.messagesLeft() == 0 {
                    finished = true
                    break
                }
                // A run killed between receiving a message and logging it holds it until its visibility
                // timeout (120 s) ends; wait for it to come back.
                try await Task.sleep(for: .seconds(5))
            }
        }
        #expect(finished)
        #expect(kills >= 2)
        let once = try Self.expectEachRecordOnce(in: output, objects: objects, of: perObject)
        print("crash test: \(kills) SIGKILLs, \(once) records delivered once each")
    }

    /// A stop (SIGTERM) while objects are half read finishes the commits in flight and records them, and leaves
    /// each message in the queue visible again at once: the next start resumes them from the ledger at once,
    /// not after the visibility timeout (120 s), and sends nothing twice. The console output has no journal
    /// of its own that would drop a record sent again.
    @Test func aStopPartWayThroughObjectsThenAStartDeliversEveryRecordOnceWithoutWaitingForTheQueue() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let objects = 4
        let perObject = 40_000
        let fixture = try await Self.queueWithObjects(objects, of: perObject)
        let configuration = Self.configuration(fixture)
            .replacingOccurrences(of: "out: {type: file, settings: {path: ./out.log}}", with: "out: {type: console}")
        try directory.write("config.yaml", configuration)
        let first = try BuiltExecutable(
            "trawl",
            arguments: ["run", "--config", "config.yaml"],
            workingDirectory: directory.path
        )
        defer { first.signal(SIGKILL) }
        let stopAt = objects * perObject * Self.recordBytes / 4
        while first.process.isRunning, first.standardOutputBytes < stopAt {
            try await Task.sleep(for: .milliseconds(2))
        }
        first.signal(SIGTERM)
        #expect(await first.waitForExit(timeout: .seconds(60)) == 0, "\(first.standardError.suffix(2_000))")
        #expect(first.standardError.matches(of: /is left in the queue, visible again now/).count >= 1)
        let restart = ContinuousClock.now
        let (status, output, log) = try await BuiltExecutable.run(
            "trawl",
            arguments: ["run", "--once", "--config", "config.yaml"],
            workingDirectory: directory.path
        )
        #expect(status == 0, "\(log.suffix(2_000))")
        // Sooner than the messages' visibility timeout (120 s) would have let it start; 12-30 s for a debug build.
        #expect(ContinuousClock.now - restart < .seconds(120))
        #expect(log.contains("was partly delivered before: skipping its first"))
        #expect(try await fixture.messagesLeft() == 0)
        let once = Self.expectEachRecordOnce(inLines: first.standardOutput + output, objects: objects, of: perObject)
        print("stop test: \(once) records delivered once each, the rest resumed in \(ContinuousClock.now - restart)")
    }

    /// A Cloud Funnel input on `fixture`'s queue, committing every 500 records, to the file output `out.log`.
    static func configuration(_ fixture: MotoBucketQueue) -> String {
        S3CollectorsEndToEndTests.configuration([
            ("s1", "sentinelone_cloud_funnel", "cloud_funnel", fixture.serviceSettings + ", records_per_commit: 500")
        ])
    }

    /// The least length of each record ``queueWithObjects(_:of:)`` uploads (its lines are padded to it).
    static let recordBytes = 300

    /// A notified bucket and queue with `objects` gzip objects of `perObject` Cloud Funnel-like records,
    /// numbered `o<object>-<record>`.
    static func queueWithObjects(_ objects: Int, of perObject: Int) async throws -> MotoBucketQueue {
        let fixture = try await MotoBucketQueue.make()
        try await fixture.moto.fixture([
            "command": "put-lines", "bucket": fixture.bucket,
            "objects": (0..<objects).map {
                [
                    "key": "s1/cloud_funnel/\($0).log.gz", "prefix": "o\($0)", "count": "\(perObject)",
                    "size": "\(recordBytes)",
                ]
            },
        ])
        return fixture
    }

    /// Expects the output file to hold every record of ``queueWithObjects(_:of:)`` exactly once; returns how
    /// many records it holds.
    static func expectEachRecordOnce(in path: String, objects: Int, of perObject: Int) throws -> Int {
        Self.expectEachRecordOnce(
            inLines: try String(contentsOfFile: path, encoding: .utf8),
            objects: objects,
            of: perObject
        )
    }

    /// Expects `delivered`, Devo lines, to hold every record of ``queueWithObjects(_:of:)`` exactly once;
    /// returns how many records it holds.
    static func expectEachRecordOnce(inLines delivered: String, objects: Int, of perObject: Int) -> Int {
        var counts: [Substring: Int] = [:]
        for match in delivered.matches(of: /"id":"(o\d+-\d+)"/) { counts[match.output.1, default: 0] += 1 }
        let expected = Set((0..<objects).flatMap { object in (0..<perObject).map { "o\(object)-\($0)" } })
        let missing = expected.subtracting(counts.keys.map(String.init))
        #expect(missing.count == 0, "\(missing.count) records lost, e.g. \(missing.sorted().prefix(5))")
        let duplicated = counts.filter { $0.value > 1 }
        #expect(
            duplicated.count == 0,
            "\(duplicated.count) records delivered more than once, e.g. \(duplicated.keys.sorted().prefix(5))"
        )
        #expect(delivered.split(separator: "\n").count == expected.count)
        return counts.count
    }
}
