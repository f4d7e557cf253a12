import Foundation
import Testing
import TrawlTesting

/// `trawl run` with the sentinelone input against the console simulator, as a user runs it: the token from
/// the environment, the file output, and SIGKILL at random points while the console keeps changing.
@Suite struct SentinelOneEndToEndTests {
    static func configuration(url: String, pageSize: Int = 10) -> String {
        """
        globals: {id: s1-test, hostname: vm, persistence: {directory: ./state}}
        inputs:
          s1:
            id: 7
            type: sentinelone
            credentials: {console_url: "\(url)/", api_token: "${S1_API_TOKEN}"}
            settings: {requests_per_minute: 6000}
            services:
              agents: {page_size: \(pageSize), historical_poll_datetime: "2026-10-31T00:00:00Z"}
              threats: {page_size: \(pageSize), historical_poll_datetime: "2026-10-31T00:00:00Z"}
        outputs:
          out: {type: file, settings: {path: ./out.log}}

        """
    }

    /// The records of the file output per tag, parsed, in the order written.
    static func delivered(_ directory: TemporaryDirectory) throws -> [(tag: String, record: [String: Any])] {
        let text = (try? String(contentsOfFile: "\(directory.path)/out.log", encoding: .utf8)) ?? ""
        return try text.split(separator: "\n").map { line in
            let header = line.prefix { $0 != "{" }
            let tag = String(header.split(separator: " ").last?.dropLast() ?? "")
            let json = Data(line.dropFirst(header.count).utf8)
            return (tag, try JSONSerialization.jsonObject(with: json) as? [String: Any] ?? [:])
        }
    }

    @Test func sigkillAtRandomPointsWhileTheConsoleChangesLosesAndDuplicatesNothing() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let simulator = try await SentinelOneSimulator()
        defer { simulator.stop() }
        try await simulator.add("agents", count: 3_000)
        try await simulator.add("threats", count: 1_000)
        try directory.write("config.yaml", Self.configuration(url: simulator.url))
        let environment = ["S1_API_TOKEN": SentinelOneSimulator.viewerToken]
        var generator = SystemRandomNumberGenerator()
        var kills = 0
        for run in 0..<8 {
            let trawl = try BuiltExecutable(
                "trawl",
                arguments: ["run", "--once", "--config", "config.yaml"],
                workingDirectory: directory.path,
                environment: environment
            )
            if run < 5 {
                try await Task.sleep(for: .milliseconds(Int.random(in: 150...1_200, using: &generator)))
                if trawl.process.isRunning {
                    trawl.signal(SIGKILL)
                    kills += 1
                }
            }
            let status = await trawl.waitForExit(timeout: .seconds(300))
            if run >= 5 { #expect(status == 0, "\(trawl.standardError.suffix(2_000))") }
            #expect(!trawl.standardError.contains(SentinelOneSimulator.viewerToken), "the token was logged")
            if run < 6 {
                for type in ["agents", "threats"] {
                    try await simulator.add(type, count: Int.random(in: 0...40, using: &generator))
                    let ids = try await simulator.records(type).compactMap { $0["id"] as? String }.shuffled()
                    try await simulator.update(type, ids: Array(ids.prefix(Int.random(in: 0...30, using: &generator))))
                }
            }
        }
        #expect(kills >= 1)
        let delivered = try Self.delivered(directory)
        for (type, tag) in [("agents", "edr.sentinelone.agents"), ("threats", "edr.sentinelone.threats")] {
            let records = delivered.filter { $0.tag == tag }.map(\.record)
            let versions = records.map { "\($0["id"] ?? "") \($0["updatedAt"] ?? "")" }
            let repeated = Dictionary(grouping: versions, by: { $0 }).filter { $0.value.count > 1 }
            #expect(repeated.isEmpty, "\(type): \(repeated.count) versions delivered more than once")
            var newest: [String: [String: Any]] = [:]
            for var record in records {
                record.removeValue(forKey: "msg_class")
                let id = record["id"] as? String ?? ""
                if let known = newest[id],
                    (known["updatedAt"] as? String ?? "") > (record["updatedAt"] as? String ?? "")
                {
                    continue
                }
                newest[id] = record
            }
            let console = try await simulator.records(type)
            #expect(newest.count == console.count, "\(type): \(newest.count) delivered of \(console.count)")
            let differing = console.filter { record in
                newest[record["id"] as? String ?? ""].map { NSDictionary(dictionary: $0) }
                    != NSDictionary(dictionary: record)
            }
            #expect(differing.isEmpty, "\(type): \(differing.count) records not delivered as the console has them")
        }
        print("SentinelOne crash test: \(kills) SIGKILLs, \(delivered.count) records delivered")
    }

    @Test func validateNamesEveryMistakeInTheConnectorsSettings() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        try directory.write(
            "config.yaml",
            Self.configuration(url: "ftp://console.example")
                .replacingOccurrences(of: "api_token: \"${S1_API_TOKEN}\"", with: "api_token: \"\"")
                .replacingOccurrences(of: "page_size: 10, historical", with: "page_size: 5000, historical")
        )
        let (status, _, log) = try await BuiltExecutable.run(
            "trawl",
            arguments: ["validate", "--config", "config.yaml"],
            workingDirectory: directory.path
        )
        #expect(status != 0)
        #expect(log.contains("inputs.s1.credentials.console_url"))
        #expect(log.contains("inputs.s1.credentials.api_token"))
        #expect(log.contains("inputs.s1.services.agents.page_size"))
    }
}
