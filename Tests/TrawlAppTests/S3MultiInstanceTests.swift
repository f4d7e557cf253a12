import Foundation
import Testing
import TrawlTesting

/// Several `trawl run` on one queue, as a scaled-out deployment runs them: the same configuration, one
/// persistence directory (the shared per-object ledger) and one output file (its journal shared through a
/// lock), each instance with its own `globals.instance`.
@Suite struct S3MultiInstanceTests {
    @Test func threeInstancesOnOneQueueDeliverEveryRecordOnceThoughOneIsKilledTwice() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let objects = 300
        let perObject = 200
        let fixture = try await S3CrashTests.queueWithObjects(objects, of: perObject)
        let configuration = S3CollectorsEndToEndTests.configuration([
            (
                "s1", "sentinelone_cloud_funnel", "cloud_funnel",
                fixture.serviceSettings + ", records_per_commit: 50, request_period_in_seconds: 1"
            )
        ]).replacingOccurrences(
            of: "globals: {id: s3-test,",
            with: "globals: {id: s3-test, debug_status: true, instance: \"${TRAWL_INSTANCE}\","
        )
        try directory.write("config.yaml", configuration)
        func start(_ instance: Int) throws -> BuiltExecutable {
            try BuiltExecutable(
                "trawl",
                arguments: ["run", "--config", "config.yaml"],
                workingDirectory: directory.path,
                environment: ["TRAWL_INSTANCE": "i\(instance)"]
            )
        }
        var instances = try (0..<3).map(start)
        var generator = SystemRandomNumberGenerator()
        var kills = 0
        var logs: [String] = []
        for _ in 0..<2 {
            try await Task.sleep(for: .milliseconds(Int.random(in: 800...2_500, using: &generator)))
            let victim = instances[0]
            victim.signal(SIGKILL)
            _ = await victim.waitForExit()
            kills += 1
            // What the visibility timeout would do minutes later: the messages it held come back, to any
            // instance.
            logs.append(victim.standardError)
            let handles = victim.standardError.matches(of: /sqs\.receipt_handle=([^ }]+)/).map { String($0.output.1) }
            try await fixture.moto.fixture([
                "command": "release", "queue_url": fixture.queueURL, "receipt_handles": handles,
            ])
            instances[0] = try start(0)
        }
        func deliveredLines() -> [Substring] {
            (try? String(contentsOfFile: "\(directory.path)/out.log", encoding: .utf8))?.split(separator: "\n") ?? []
        }
        // A run killed between receiving a message and logging its receipt holds it for the visibility
        // timeout (120 s): allow for two of those.
        let deadline = ContinuousClock.now + .seconds(400)
        while ContinuousClock.now < deadline {
            if try await fixture.messagesLeft() == 0, deliveredLines().count >= objects * perObject { break }
            try await Task.sleep(for: .milliseconds(500))
        }
        for instance in instances { instance.signal(SIGTERM) }
        for instance in instances {
            #expect(await instance.waitForExit() == 0, "\(instance.standardError.suffix(2_000))")
        }
        #expect(try await fixture.messagesLeft() == 0)
        let once = try S3CrashTests.expectEachRecordOnce(
            in: "\(directory.path)/out.log",
            objects: objects,
            of: perObject
        )
        logs += instances.map(\.standardError)
        let resent = logs.joined().matches(of: /(\d+) event\(s\) sent again after a restart are already in/)
            .reduce(0) { $0 + Int($1.output.1)! }
        let workers = instances.filter { $0.standardError.contains("Extracting records from S3 files.") }
        #expect(workers.count >= 2, "the queue's messages were spread over the instances")
        print(
            "multi-instance test: 3 instances, \(kills) SIGKILLs, \(once) records delivered once each; \(resent) sent again and dropped by the shared journal"
        )
    }
}
