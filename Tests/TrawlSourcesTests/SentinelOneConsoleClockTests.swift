import Testing
import TrawlCore
import TrawlTesting

@testable import TrawlSources

@Suite struct SentinelOneConsoleClockTests {
    typealias Instant = ManualClock.Instant

    @Test func onlyAnIMFFixdateIsReadAsTheConsolesTime() {
        #expect(
            SentinelOneConsoleClock<Instant>.httpDate("Sun, 06 Dec 2026 23:26:21 GMT")
                == parseUTCDatetime("2026-12-06T23:26:21Z")
        )
        #expect(
            SentinelOneConsoleClock<Instant>.httpDate("Mon, 01 Feb 2027 00:00:09 GMT")
                == parseUTCDatetime("2027-02-01T00:00:09Z")
        )
        for refused in [
            "", "garbage", "Sunday, 06-Dec-26 23:26:21 GMT", "Sun Dec  6 23:26:21 2026", "Sun, 6 Dec 2026 23:26:21 GMT",
            "Sun, 06 Dec 2026 23:26:21 UTC", "Sun, 06 Dec 2026 24:00:00 GMT", "Sun, 06 Dez 2026 23:26:21 GMT",
            "Sun, 06 Dec 2026 23:26:+1 GMT", "Sun, 06 Dec 2026  23:26:21 GMT",
        ] {
            #expect(SentinelOneConsoleClock<Instant>.httpDate(refused) == nil, "\(refused)")
        }
    }

    @Test func howFarBehindIsMeasuredWithoutTheRequestsOwnTimeAndAnUnreadableDateChangesNothing() throws {
        var clock = SentinelOneConsoleClock<Instant>()
        #expect(clock.secondsBehind == nil, "nothing measured yet")
        #expect(clock.warning(for: "s1/deep_visibility", lag: 0, now: Instant(offset: .zero)) == nil)
        let sent = try #require(parseUTCDatetime("2026-12-06T23:26:21.400Z"))
        // Stamped in the second the request was sent: both clocks may agree.
        clock.answered(date: "Sun, 06 Dec 2026 23:26:21 GMT", sent: sent)
        #expect(clock.secondsBehind == 0)
        // An answer stamped after the request left (the console is ahead, or the request was slow).
        clock.answered(date: "Sun, 06 Dec 2026 23:26:30 GMT", sent: sent)
        #expect(clock.secondsBehind == 0)
        clock.answered(date: "Sun, 06 Dec 2026 23:11:20 GMT", sent: sent)
        #expect(clock.secondsBehind == 900)
        clock.answered(date: nil, sent: sent)
        clock.answered(date: "yesterday", sent: sent)
        #expect(clock.secondsBehind == 900)
    }

    @Test func aConsoleBehindByMoreThanHalfTheLagIsWarnedOfOnceAnHourPerServiceWhileItLasts() throws {
        var clock = SentinelOneConsoleClock<Instant>()
        let sent = try #require(parseUTCDatetime("2026-12-06T12:00:00Z"))
        let start = Instant(offset: .zero)
        clock.answered(date: "Sun, 06 Dec 2026 11:57:29 GMT", sent: sent)
        #expect(clock.secondsBehind == 150)
        #expect(clock.warning(for: "s1/deep_visibility", lag: 300, now: start) == nil, "half the lag is not more")
        #expect(clock.warning(for: "s1/deep_visibility", lag: 10, now: start) == 150)
        clock.answered(date: "Sun, 06 Dec 2026 11:57:28 GMT", sent: sent)
        #expect(clock.warning(for: "s1/deep_visibility", lag: 300, now: start) == nil, "said already this hour")
        #expect(clock.warning(for: "s1/threat_notes", lag: 300, now: start) == 151)
        let later = start.advanced(by: .seconds(3_599))
        #expect(clock.warning(for: "s1/deep_visibility", lag: 300, now: later) == nil)
        #expect(clock.warning(for: "s1/deep_visibility", lag: 300, now: start.advanced(by: .seconds(3_600))) == 151)

        // Once the clocks agree again, a new difference is said at once.
        clock.answered(date: "Sun, 06 Dec 2026 12:00:00 GMT", sent: sent)
        #expect(clock.warning(for: "s1/deep_visibility", lag: 0, now: later) == nil, "5 s is the measure's precision")
        clock.answered(date: "Sun, 06 Dec 2026 11:59:53 GMT", sent: sent)
        #expect(clock.warning(for: "s1/deep_visibility", lag: 0, now: later) == 6)
    }

    /// A console whose clock is behind by more than `query_lag_in_seconds` stamps records before the end of a
    /// window that ended by this host's clock: they were never sent, and nothing in the data said so. The
    /// windows now end by the console's clock, as far as its answers show it, and a warning says so.
    @Test func windowsEndByTheConsolesClockWhenItIsBehindAndAWarningSaysHowFar() async throws {
        let harness = try await SentinelOneHarness.make()
        defer { harness.remove() }
        _ = try await harness.simulator.addDeepVisibilityEvents(5)
        try await harness.simulator.add("agents", count: 3)
        let warning = "s behind this host's (the Date of its answers)"

        try await harness.simulator.setDateSkew(seconds: -900)
        // The first read after a start: the token check is asked first, to measure the console's clock by.
        _ = try await harness.pull(try harness.deepVisibility(), into: DeliveredEvents())
        let behindEnd = try await Self.lastWindowEnd(harness)
        let paths = try await harness.simulator.requests().compactMap { $0["path"] as? String }
        #expect(paths.first?.hasSuffix("/users/api-token-details") == true, "\(paths)")
        let now = UTCTimestamp.now().secondsSinceEpoch
        #expect((1_190...1_300).contains(now - behindEnd), "the window ended \(now - behindEnd) s before now")
        let said = harness.log.messages(containing: warning)
        #expect(said.count == 1, "\(harness.log.messages)")
        #expect(said.first?.contains(" is 899 s behind") == true || said.first?.contains(" is 900 s behind") == true)
        #expect(said.first?.contains("s1/deep_visibility reads up to query_lag_in_seconds (300 s)") == true)
        _ = try await harness.pull(try harness.deepVisibility(), into: DeliveredEvents())
        #expect(harness.log.messages(containing: warning).count == 1, "said once an hour, not every cycle")
        _ = try await harness.pull(try harness.source("agents"), into: DeliveredEvents())
        #expect(harness.log.messages(containing: warning).count == 1, "agents follow the console's own stamps")

        // Once the console's clock agrees, the next window ends the lag before this host's clock again.
        try await harness.simulator.setDateSkew(seconds: 0)
        _ = try await harness.pull(try harness.source("agents"), into: DeliveredEvents())
        _ = try await harness.pull(try harness.deepVisibility(), into: DeliveredEvents())
        let agreedEnd = try await Self.lastWindowEnd(harness)
        #expect((299...400).contains(UTCTimestamp.now().secondsSinceEpoch - agreedEnd), "\(agreedEnd)")
        #expect(harness.log.messages(containing: warning).count == 1)
    }

    /// The `toDate` of the last Deep Visibility query, in seconds since the epoch.
    static func lastWindowEnd(_ harness: SentinelOneHarness) async throws -> Double {
        let queries = try await harness.simulator.requests().filter {
            ($0["path"] as? String)?.hasSuffix("/dv/init-query") == true
        }
        let body = try #require(queries.last?["body"] as? [String: Any])
        let text = try #require(body["toDate"] as? String)
        let end = try #require(parseUTCDatetime(text))
        return end.secondsSinceEpoch
    }
}
