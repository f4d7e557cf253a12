/// Thrown by ``EventSink/write(_:)`` before anything was sent, naming events this output can never deliver
/// (an event larger than a datagram, a request larger than the receiver takes, a corrupt lookup update).
///
/// Retrying them would block everything behind them forever, and dropping them would lose data: the
/// runtime writes them to the output's refused-events file (``RefusedEventsFile``), logs the error, and
/// writes the rest of the batches again.
public struct EventsRefused: Error, Sendable, CustomStringConvertible {
    /// Positions of the refused events in the write's events, batches taken in order.
    public var positions: [Int]
    /// Why they cannot be delivered.
    public var error: TrawlError

    public init(positions: [Int], error: TrawlError) {
        self.positions = positions
        self.error = error
    }

    public var description: String { "\(self.positions.count) events refused: \(self.error)" }
}

/// Thrown by ``EventSink/write(_:)`` when the receiver acknowledged part of the write before a failure (one
/// HTTP request of several): the runtime counts the delivered events as delivered and retries, or spools,
/// only the others, so nothing is sent twice.
public struct PartialDelivery: Error, Sendable, CustomStringConvertible {
    /// Positions of the delivered events in the write's events, batches taken in order.
    public var delivered: [Int]
    /// Why the others were not delivered.
    public var failure: any Error

    public init(delivered: [Int], failure: any Error) {
        self.delivered = delivered
        self.failure = failure
    }

    public var description: String { "\(self.delivered.count) events delivered before: \(self.failure)" }
}

extension Array where Element == EventBatch {
    /// These batches without the events at `positions` (flat positions, batches in order); batches keep
    /// their acknowledgements even when none of their events remain.
    public func removingEvents(at positions: some Sequence<Int>) -> [EventBatch] {
        let removed = Set(positions)
        guard !removed.isEmpty else { return self }
        var position = 0
        return self.map { batch in
            var kept = batch
            kept.events = []
            for event in batch.events {
                if !removed.contains(position) { kept.events.append(event) }
                position += 1
            }
            return kept
        }
    }

    /// The events at `positions` (flat positions, batches in order).
    public func events(at positions: some Sequence<Int>) -> [Event] {
        let all = self.flatMap(\.events)
        return positions.compactMap { all.indices.contains($0) ? all[$0] : nil }
    }

    /// The number of events of all batches.
    public var eventCount: Int { self.reduce(0) { $0 + $1.events.count } }
}
