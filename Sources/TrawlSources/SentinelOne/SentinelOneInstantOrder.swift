import Foundation
import TrawlCore

/// Puts the events of a Deep Visibility window, listed oldest first, in one order whatever order the console
/// lists events of one `createdAt` in: each instant's events are handed on together, by id, once a later
/// instant (or the end of the list) shows the instant complete; the last instant of a page waits for the next
/// page. A window queried again then gives every event the same place, so the place names the event to the
/// outputs (the `file` output's journal) and the window's mark names whole instants.
///
/// Consoles stamp events to the millisecond, so an instant holds a few events; one that stamps whole seconds
/// holds more, never more than one query returns. An event without `id` or `createdAt` cannot be placed: it
/// is handed on at once, in the console's order.
struct SentinelOneInstantOrder {
    /// A record and its `id` and `createdAt` (``SentinelOnePage/Record/creation``), nil when it lacks either.
    typealias Placed = (record: SentinelOnePage.Record, stamp: (id: String, created: String)?)

    private var held: [(record: SentinelOnePage.Record, id: String, created: String)] = []

    /// The records of `page` whose instants are complete, and with `isLast` all that were held.
    mutating func take(_ page: [SentinelOnePage.Record], isLast: Bool) -> [Placed] {
        var ready: [Placed] = []
        for record in page {
            guard let (id, created) = record.creation else {
                ready += self.release()
                ready.append((record, nil))
                continue
            }
            if let instant = self.held.first?.created,
                SentinelOneListSource.State.order(created, instant) != .orderedSame
            {
                ready += self.release()
            }
            self.held.append((record, id, created))
        }
        if isLast { ready += self.release() }
        return ready
    }

    /// The held instant's records by id (numeric ids as numbers), and nothing held after.
    private mutating func release() -> [Placed] {
        defer { self.held.removeAll(keepingCapacity: true) }
        return self.held.sorted { ($0.id.count, $0.id) < ($1.id.count, $1.id) }.map { ($0.record, ($0.id, $0.created)) }
    }
}
