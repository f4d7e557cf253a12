/// What one pull cycle did, logged in the Devo collectors' words at the end of the cycle.
public struct PullCycleStatistics: Sendable, Equatable {
    /// Requests made to the source (API calls, object downloads, file reads).
    public var requests = 0
    /// Events the source returned.
    public var received = 0
    /// Events dropped because an earlier cycle already delivered them.
    public var duplicatesFilteredOut = 0
    /// Events accepted by every sink.
    public var sent = 0
    /// The source has nothing more to give now (logged as "The data is up to date!").
    public var upToDate = false

    public init(requests: Int = 0, received: Int = 0, duplicatesFilteredOut: Int = 0, sent: Int = 0) {
        self.requests = requests
        self.received = received
        self.duplicatesFilteredOut = duplicatesFilteredOut
        self.sent = sent
    }

    /// `Statistics for this pull cycle (@devo_pulling_id=...): Number of requests made: N; ...`
    public func summary(pullingID: PullingID, elapsed: Duration) -> String {
        let seconds = elapsed.seconds
        let rate = seconds > 0 ? Double(self.sent) / seconds : 0
        return
            "Statistics for this pull cycle (@devo_pulling_id=\(pullingID)): "
            + "Number of requests made: \(self.requests); Number of events received: \(self.received); "
            + "Number of duplicated events filtered out: \(self.duplicatesFilteredOut); "
            + "Number of events generated and sent: \(self.sent); "
            + "Average of events per second: \(formatFixed(rate, decimals: 3))."
    }
}
