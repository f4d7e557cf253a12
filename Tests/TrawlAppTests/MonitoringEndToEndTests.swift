import Foundation
import Testing
import TrawlTesting

/// `trawl run` with the monitoring endpoint on, as Prometheus and an orchestrator see it.
@Suite struct MonitoringEndToEndTests {
    @Test func metricsScrapedDuringARunMatchTheDeliveredFileExactly() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let funnel = try await MotoBucketQueue.make()
        let categories = ["process", "dns", "file", "registry", "ip", "url"]
        var objects: [[String: String]] = []
        var expectedPerTag: [String: Int] = [:]
        for object in 0..<6 {
            let lines = (0..<(40 + object * 17)).map { index in
                let category = categories[(index * 7 + object) % categories.count]
                expectedPerTag["edr.sentinelone.dv.\(category)", default: 0] += 1
                return #"{"event.category":"\#(category)","event.time":\#(index),"object":\#(object)}"#
            }
            objects.append([
                "key": "s1/cloud_funnel/2026/11/24/o\(object).log.gz",
                "text": lines.joined(separator: "\n"), "compression": "gzip",
            ])
        }
        objects.append([
            "key": "s1/cloud_funnel/2026/11/24/corrupt.log.gz",
            "text": (0..<2_000).map { #"{"event.category":"dns","n":\#($0 * 7_919 % 10_007)}"# }.joined(
                separator: "\n"
            ),
            "compression": "gzip", "truncate": "300",
        ])
        try await funnel.put(objects)
        let total = expectedPerTag.values.reduce(0, +)
        try directory.write(
            "config.yaml",
            """
            globals:
              id: monitored
              hostname: vm
              persistence: {directory: ./state}
              http_endpoint: {enabled: true, port: 0}
            inputs:
              s1:
                id: 1
                type: sentinelone_cloud_funnel
                credentials: {aws_access_key_id: AKIDEXAMPLEKEY123456, aws_secret_access_key: testing}
                services:
                  cloud_funnel: {\(funnel.serviceSettings), ack_messages: true, sqs_wait_timeout: 1, request_period_in_seconds: 1}
            outputs:
              out: {type: file, settings: {path: ./out.log}}

            """
        )
        let trawl = try BuiltExecutable(
            "trawl",
            arguments: ["run", "--config", "config.yaml"],
            workingDirectory: directory.path
        )
        // The endpoint takes a free port and logs it.
        let announced = "Monitoring endpoint listening on http://127.0.0.1:"
        #expect(await eventually(timeout: .seconds(30)) { trawl.standardError.contains(announced) })
        let port = try #require(
            trawl.standardError.components(separatedBy: announced).dropFirst().first.flatMap {
                Int($0.prefix { $0.isNumber })
            },
            "\(trawl.standardError)"
        )
        let scraper = MonitoringScraper(port: port)
        #expect(await scraper.waitFor("/ready", status: 200), "\(trawl.standardError)")
        #expect(await scraper.get("/health")?.body == "ok\n")

        func deliveredLines() -> [Substring] {
            (try? String(contentsOfFile: "\(directory.path)/out.log", encoding: .utf8))?.split(separator: "\n") ?? []
        }
        let deadline = ContinuousClock.now + .seconds(90)
        var samples = try await scraper.metrics()
        while ContinuousClock.now < deadline {
            samples = try await scraper.metrics()
            // Until every good record is counted and the corrupt object was tried (its error counted).
            let corruptTried = samples.samples("trawl_errors_total").contains {
                $0.labels["error_id"]?.hasPrefix("30") == true
            }
            if deliveredLines().count >= total, corruptTried,
                samples.value("trawl_events_delivered_total", ["output": "out"]) == Double(total),
                samples.value("trawl_events_sent_total", ["input": "s1", "service": "cloud_funnel"]) == Double(total)
            {
                break
            }
            try await Task.sleep(for: .milliseconds(200))
        }
        let lines = deliveredLines()
        #expect(lines.count == total, "\(trawl.standardError)")
        var deliveredPerTag: [String: Int] = [:]
        for line in lines {
            let tag = line.split(separator: " ")[4].dropLast()
            deliveredPerTag[String(tag), default: 0] += 1
        }
        #expect(deliveredPerTag == expectedPerTag)

        let service = ["input": "s1", "service": "cloud_funnel"]
        #expect(samples.value("trawl_events_delivered_total", ["output": "out"]) == Double(lines.count))
        #expect(samples.value("trawl_events_sent_total", service) == Double(lines.count))
        #expect(samples.value("trawl_events_received_total", service) == Double(lines.count))
        var scrapedPerTag: [String: Int] = [:]
        for sample in samples.samples("trawl_events_sent_by_tag_total") where sample.labels["input"] == "s1" {
            scrapedPerTag[sample.labels["tag"] ?? "?"] = Int(sample.value)
        }
        #expect(scrapedPerTag == deliveredPerTag)
        #expect(samples.value("trawl_output_up", ["output": "out"]) == 1)
        #expect((samples.value("trawl_source_requests_total", service) ?? 0) > 0)
        let bodies = lines.reduce(0) { $0 + $1.utf8.count - "<14>Jan  1 00:00:00 vm edr.sentinelone.dv.x: ".utf8.count }
        #expect((samples.value("trawl_output_event_bytes_total", ["output": "out"]) ?? 0) > Double(bodies / 2))
        let unreadable = samples.samples("trawl_errors_total").filter { $0.labels["error_id"]?.hasPrefix("30") == true }
        #expect(!unreadable.isEmpty, "the corrupt object's error is counted by its id")
        #expect(samples.samples("trawl_pull_cycle_duration_seconds_count").count == 1)

        trawl.signal(SIGTERM)
        #expect(await trawl.waitForExit() == 0, "\(trawl.standardError)")
    }
}
