/// The sender counters the Devo collectors log, so their users recognise them:
/// `Total number of messages sent: 44, messages sent since "2022-06-28 10:39:22.511671+00:00": 21 (elapsed 0.007 seconds)`.
public struct SenderStatistics: Sendable {
    public private(set) var total = 0
    public private(set) var sinceCheckpoint = 0
    public private(set) var checkpoint: UTCTimestamp
    /// Time spent delivering the messages since the checkpoint.
    public private(set) var deliveryTime: Duration = .zero

    public init(startingAt checkpoint: UTCTimestamp) {
        self.checkpoint = checkpoint
    }

    /// `count` messages were delivered, which took `took`.
    public mutating func recordDelivered(_ count: Int, took: Duration) {
        self.total += count
        self.sinceCheckpoint += count
        self.deliveryTime += took
    }

    /// The log line for the period ending now; starts a new period at `now`.
    public mutating func report(now: UTCTimestamp) -> String {
        let line =
            "Total number of messages sent: \(self.total), messages sent since \"\(self.checkpoint)\": "
            + "\(self.sinceCheckpoint) (elapsed \(formatFixed(self.deliveryTime.seconds, decimals: 3)) seconds)"
        self.checkpoint = now
        self.sinceCheckpoint = 0
        self.deliveryTime = .zero
        return line
    }
}

extension Duration {
    /// The duration in seconds as a floating-point number.
    public var seconds: Double {
        let (seconds, attoseconds) = self.components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}

/// Formats `value` with exactly `decimals` digits after the point, without Foundation.
public func formatFixed(_ value: Double, decimals: Int) -> String {
    guard value.isFinite else { return String(value) }
    var scale = 1.0
    for _ in 0..<decimals { scale *= 10 }
    let scaled = (abs(value) * scale).rounded()
    let integer = Int64(scaled / scale)
    let fraction = Int64(scaled - Double(integer) * scale)
    let sign = value < 0 && scaled != 0 ? "-" : ""
    guard decimals > 0 else { return "\(sign)\(integer)" }
    let digits = String(fraction)
    return "\(sign)\(integer).\(String(repeating: "0", count: max(0, decimals - digits.count)))\(digits)"
}
