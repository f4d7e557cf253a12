import Metrics
import Synchronization

/// The metrics of one input service (labels `input` and `service`), through swift-metrics: what the pull
/// cycle statistics lines say, as counters a scraper can follow while a long cycle runs.
///
/// A source may report as it goes (``add(requests:received:filtered:sent:)``, ``sent(_:tag:)``); at the end
/// of each cycle ``cycleEnded(_:took:)`` counts whatever of the cycle's statistics it did not report, so the
/// counters end each cycle equal to the sums of its statistics lines either way.
public final class SourceMetrics: Sendable {
    public let input: String
    public let service: String
    private let requests: Counter
    private let received: Counter
    private let filtered: Counter
    private let sent: Counter
    private let cycleDuration: Metrics.Timer
    /// What was reported during the current cycle.
    private let reported = Mutex(PullCycleStatistics())
    /// The factory in force when the service was made, for the per-tag counters made later.
    private let factory: any MetricsFactory

    public init(input: String, service: String) {
        self.input = input
        self.service = service
        self.factory = MetricsSystem.factory
        let labels = [("input", input), ("service", service)]
        self.requests = Counter(label: "trawl_source_requests_total", dimensions: labels)
        self.received = Counter(label: "trawl_events_received_total", dimensions: labels)
        self.filtered = Counter(label: "trawl_events_filtered_total", dimensions: labels)
        self.sent = Counter(label: "trawl_events_sent_total", dimensions: labels)
        self.cycleDuration = Metrics.Timer(label: "trawl_pull_cycle_duration_seconds", dimensions: labels)
    }

    /// The metrics of the service named `input/service`.
    public convenience init(serviceName: String) {
        let parts = serviceName.split(separator: "/", maxSplits: 1).map(String.init)
        self.init(input: parts.first ?? serviceName, service: parts.count > 1 ? parts[1] : serviceName)
    }

    /// Counts requests made, events received, duplicates filtered out and events sent (accepted by every
    /// output) as they happen.
    public func add(requests: Int = 0, received: Int = 0, filtered: Int = 0, sent: Int = 0) {
        self.reported.withLock { reported in
            reported.requests += requests
            reported.received += received
            reported.duplicatesFilteredOut += filtered
            reported.sent += sent
        }
        if requests > 0 { self.requests.increment(by: requests) }
        if received > 0 { self.received.increment(by: received) }
        if filtered > 0 { self.filtered.increment(by: filtered) }
        if sent > 0 { self.sent.increment(by: sent) }
    }

    /// Counts `count` events sent with `tag` (`trawl_events_sent_by_tag_total`), for services whose events
    /// take many tags. Does not count them in `trawl_events_sent_total`: report those with ``add(sent:)``.
    public func sent(_ count: Int, tag: String) {
        guard count > 0 else { return }
        Counter(
            label: "trawl_events_sent_by_tag_total",
            dimensions: [("input", self.input), ("service", self.service), ("tag", tag)],
            factory: self.factory
        ).increment(by: count)
    }

    /// A cycle ended with `statistics` after `took`: counts what was not reported during it.
    public func cycleEnded(_ statistics: PullCycleStatistics, took: Duration) {
        let reported = self.reported.withLock { reported in
            defer { reported = PullCycleStatistics() }
            return reported
        }
        let remainder = (
            requests: statistics.requests - reported.requests,
            received: statistics.received - reported.received,
            filtered: statistics.duplicatesFilteredOut - reported.duplicatesFilteredOut,
            sent: statistics.sent - reported.sent
        )
        if remainder.requests > 0 { self.requests.increment(by: remainder.requests) }
        if remainder.received > 0 { self.received.increment(by: remainder.received) }
        if remainder.filtered > 0 { self.filtered.increment(by: remainder.filtered) }
        if remainder.sent > 0 { self.sent.increment(by: remainder.sent) }
        self.cycleDuration.recordSeconds(took.seconds)
    }
}
