import Metrics
import Synchronization
import TrawlCore

/// The running counts of one pull cycle, shared by the messages processed at once. Each change is also
/// counted in the service's metrics as it happens, so `/metrics` follows a long cycle.
final class CycleCounters: Sendable {
    struct Counts {
        var statistics = PullCycleStatistics()
        var perTag: [String: Int] = [:]
        var messagesDone = 0

        /// The events sent per tag, as the seeds print them: `{'edr.sentinelone.dv.dns': 23, ...}`.
        var perTagSummary: String {
            "{" + self.perTag.sorted { $0.key < $1.key }.map { "'\($0.key)': \($0.value)" }.joined(separator: ", ")
                + "}"
        }
    }

    private let counts = Mutex(Counts())
    private let metrics: SourceMetrics?
    /// When each message being processed was received.
    private let inFlight = Mutex([String: ContinuousClock.Instant]())
    private let inFlightGauge: Gauge?
    private let oldestAgeGauge: Gauge?
    private let visibilityExtensions: Counter?
    private let processingTime: Metrics.Timer?
    /// Objects deleted, and keys written again, between their notification and their reading: a log object
    /// deleted before it was collected is something to alert on.
    private let objectsDeleted: Counter?
    private let objectsWrittenAgain: Counter?
    private let messagesByOutcome: [SQSObjectSource.MessageOutcome: Counter]

    init(metrics: SourceMetrics? = nil) {
        self.metrics = metrics
        let labels = metrics.map { [("input", $0.input), ("service", $0.service)] }
        var messagesByOutcome: [SQSObjectSource.MessageOutcome: Counter] = [:]
        if let labels {
            for outcome in SQSObjectSource.MessageOutcome.allCases {
                messagesByOutcome[outcome] = Counter(
                    label: "trawl_sqs_messages_total",
                    dimensions: labels + [("outcome", outcome.rawValue)]
                )
            }
        }
        self.messagesByOutcome = messagesByOutcome
        self.inFlightGauge = labels.map { Gauge(label: "trawl_sqs_messages_in_flight", dimensions: $0) }
        self.oldestAgeGauge = labels.map { Gauge(label: "trawl_sqs_oldest_message_age_seconds", dimensions: $0) }
        self.visibilityExtensions = labels.map {
            Counter(label: "trawl_sqs_visibility_extensions_total", dimensions: $0)
        }
        self.processingTime = labels.map {
            Metrics.Timer(label: "trawl_sqs_message_processing_seconds", dimensions: $0)
        }
        self.objectsDeleted = labels.map {
            Counter(label: "trawl_s3_objects_changed_before_read_total", dimensions: $0 + [("change", "deleted")])
        }
        self.objectsWrittenAgain = labels.map {
            Counter(
                label: "trawl_s3_objects_changed_before_read_total",
                dimensions: $0 + [("change", "written_again")]
            )
        }
    }

    /// An object was found deleted (or, `writtenAgain`, its key written again) when it was to be read.
    func objectChangedBeforeRead(writtenAgain: Bool) {
        (writtenAgain ? self.objectsWrittenAgain : self.objectsDeleted)?.increment()
    }

    /// Message `id` was received and is being processed.
    func messageBegan(_ id: String) {
        self.inFlight.withLock { $0[id] = .now }
        self.recordInFlight()
    }

    /// Message `id` is done with, as `outcome` says.
    func messageEnded(_ id: String, outcome: SQSObjectSource.MessageOutcome) {
        self.messagesByOutcome[outcome]?.increment()
        let began = self.inFlight.withLock { $0.removeValue(forKey: id) }
        if let began { self.processingTime?.recordSeconds(began.duration(to: .now).seconds) }
        self.recordInFlight()
    }

    /// A message's visibility was extended because its objects are still being processed.
    func visibilityExtended() {
        self.visibilityExtensions?.increment()
        self.recordInFlight()
    }

    private func recordInFlight() {
        let (count, oldest) = self.inFlight.withLock { ($0.count, $0.values.min()) }
        self.inFlightGauge?.record(count)
        self.oldestAgeGauge?.record(oldest.map { $0.duration(to: .now).seconds } ?? 0)
    }

    func update(_ body: (inout Counts) -> Void) {
        let (before, after) = self.counts.withLock { counts in
            let before = counts.statistics
            body(&counts)
            return (before, counts.statistics)
        }
        self.metrics?.add(
            requests: after.requests - before.requests,
            received: after.received - before.received,
            filtered: after.duplicatesFilteredOut - before.duplicatesFilteredOut,
            sent: after.sent - before.sent
        )
    }

    /// `count` events were sent, `perTag` of them with each tag.
    func sent(_ count: Int, perTag: [String: Int]) {
        self.update {
            $0.statistics.sent += count
            for (tag, tagged) in perTag { $0.perTag[tag, default: 0] += tagged }
        }
        for (tag, tagged) in perTag { self.metrics?.sent(tagged, tag: tag) }
    }

    func read<T>(_ body: (Counts) -> T) -> T {
        self.counts.withLock { body($0) }
    }
}
