import Logging
import Metrics
import MetricsTestKit
import Testing
import TrawlCore

@Suite struct SourceMetricsTests {
    @Test func countersEndEachCycleEqualToItsStatisticsWhetherReportedAsTheyWentOrAtTheEnd() throws {
        let metrics = TestMetrics()
        let source = withMetricsFactory(metrics) { SourceMetrics(serviceName: "s1/cloud_funnel") }
        let labels = [("input", "s1"), ("service", "cloud_funnel")]

        source.add(requests: 2, received: 10, sent: 4)
        source.sent(3, tag: "edr.sentinelone.dv.dns")
        source.sent(1, tag: "edr.sentinelone.dv.file")
        let received = try metrics.expectCounter("trawl_events_received_total", labels)
        #expect(received.totalValue == 10, "reported as it went, before the cycle ended")
        source.cycleEnded(
            PullCycleStatistics(requests: 3, received: 10, duplicatesFilteredOut: 2, sent: 10),
            took: .seconds(2)
        )
        // A source that reports nothing as it goes is counted at the end of its cycle.
        source.cycleEnded(PullCycleStatistics(requests: 1, received: 5, sent: 5), took: .seconds(1))

        #expect(received.totalValue == 15)
        #expect(try metrics.expectCounter("trawl_source_requests_total", labels).totalValue == 4)
        #expect(try metrics.expectCounter("trawl_events_filtered_total", labels).totalValue == 2)
        #expect(try metrics.expectCounter("trawl_events_sent_total", labels).totalValue == 15)
        let dns = try metrics.expectCounter(
            "trawl_events_sent_by_tag_total",
            labels + [("tag", "edr.sentinelone.dv.dns")]
        )
        #expect(dns.totalValue == 3)
        let cycles = try metrics.expectTimer("trawl_pull_cycle_duration_seconds", labels)
        #expect(cycles.values == [2_000_000_000, 1_000_000_000])
    }

    @Test func everyErrorLoggedIsCountedByItsId() throws {
        let metrics = TestMetrics()
        let tally = LoggedErrorTally()
        withMetricsFactory(metrics) {
            let logger = Logger(label: "test") { TrawlLogHandler(label: $0, level: .info, tally: tally) }
            logger.error("bad object (test)", metadata: ["error.id": "304"])
            logger.error("bad object (test)", metadata: ["error.id": "304"])
            logger.critical("no id (test)")
            logger.warning("not an error (test)", metadata: ["error.id": "501"])
        }
        #expect(try metrics.expectCounter("trawl_errors_total", [("error_id", "304")]).totalValue == 2)
        #expect(try metrics.expectCounter("trawl_errors_total", [("error_id", "unclassified")]).totalValue == 1)
        #expect(throws: (any Error).self) { try metrics.expectCounter("trawl_errors_total", [("error_id", "501")]) }
        #expect(tally.total == 3)
        #expect(tally.summary == "SourceError 304 x2, unclassified x1")
    }
}
