import Testing
import TrawlCore

@Suite struct StatisticsTests {
    @Test func pullCycleSummaryUsesTheCollectorsWords() {
        let statistics = PullCycleStatistics(requests: 2, received: 52, duplicatesFilteredOut: 1, sent: 51)
        let line = statistics.summary(pullingID: PullingID(microseconds: 1_655_983_326_290_848), elapsed: .seconds(2))
        #expect(
            line
                == "Statistics for this pull cycle (@devo_pulling_id=1655983326.290848): Number of requests made: 2; Number of events received: 52; Number of duplicated events filtered out: 1; Number of events generated and sent: 51; Average of events per second: 25.500."
        )
    }

    @Test func pullingIDKeepsLeadingZerosOfTheMicroseconds() {
        #expect(PullingID(microseconds: 1_656_421_259_000_042).description == "1656421259.000042")
    }

    @Test func senderStatisticsReportSinceTheLastCheckpointAndReset() {
        let start = UTCTimestamp(microsecondsSinceEpoch: 1_656_412_762_511_671)
        var statistics = SenderStatistics(startingAt: start)
        statistics.recordDelivered(23, took: .milliseconds(3))
        statistics.recordDelivered(21, took: .milliseconds(4))
        let line = statistics.report(now: UTCTimestamp(microsecondsSinceEpoch: 1_656_412_800_000_000))
        #expect(
            line
                == "Total number of messages sent: 44, messages sent since \"2022-06-28 10:39:22.511671+00:00\": 44 (elapsed 0.007 seconds)"
        )
        statistics.recordDelivered(1, took: .zero)
        #expect(
            statistics.report(now: start).hasPrefix(
                "Total number of messages sent: 45, messages sent since \"2022-06-28 10:40:00.000000+00:00\": 1 "
            )
        )
    }

    @Test func backoffDoublesUpToItsMaximum() {
        let backoff = RetryBackoff(initial: .seconds(1), maximum: .seconds(10))
        #expect((1...6).map { backoff.delay(afterFailures: $0) } == [1, 2, 4, 8, 10, 10].map { .seconds($0) })
    }
}
