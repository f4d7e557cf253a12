import Foundation

/// One read of a threat's children (oldest first) and the mark it leaves: an instant before which every
/// child was delivered, and the ids of the children delivered at or after it.
///
/// A child can show up in the list after children created later than it (the console stamps it a little
/// before it lists it, as Deep Visibility events are). A mark at the newest child delivered would skip such a
/// child for good, so the mark's instant stops at ``settled``: `query_lag_in_seconds` before the read began,
/// before which every child is taken to be listed already. The children delivered after it are named by id,
/// at most ``idLimit`` of them; past that the instant moves up to the oldest child still named.
struct SentinelOneThreatChildPass {
    /// How many children a mark names by id at most, so that a burst of children just before a read does
    /// not weigh on the state (rewritten whole at every save) for the life of the mark.
    static let idLimit = 1_000

    /// The mark the read began with: children created before its instant, or named by it, were delivered.
    let previous: SentinelOneListSource.State?
    /// The instant before which every child is listed: `query_lag_in_seconds` before the read began, or the
    /// previous mark's instant when that is later.
    let settled: String
    /// The newest `createdAt` read so far, and the ids of the children created then.
    private var newest: SentinelOneListSource.State?
    /// The children read created at or after ``settled`` (or, once there were too many, at or after
    /// ``recentSince``): id and `createdAt`.
    private var recent: [(id: String, created: String)] = []
    /// Where ``recent`` begins once the children before it were let go, the newest thousand kept.
    private var recentSince: String?
    /// The ids the previous mark names.
    private let named: Set<String>
    /// The ids the previous mark names that this read has not met yet (they may be further down the list).
    private var unmet: Set<String>

    init(previous: SentinelOneListSource.State?, settled: String) {
        self.previous = previous
        let order = SentinelOneListSource.State.order
        if let previous, !previous.watermark.isEmpty, order(previous.watermark, settled) == .orderedDescending {
            self.settled = previous.watermark
        } else {
            self.settled = settled
        }
        self.named = Set(previous?.boundaryIDs ?? [])
        self.unmet = self.named
    }

    /// Takes note of a child read (delivered now, or skipped as delivered before).
    mutating func read(id: String, created: String) {
        self.unmet.remove(id)
        if self.newest == nil {
            self.newest = SentinelOneListSource.State(watermark: created, boundaryIDs: [id])
        } else {
            self.newest?.advance(past: id, updatedAt: created)
        }
        if SentinelOneListSource.State.order(created, self.settled) != .orderedAscending {
            self.recent.append((id, created))
            // Those past the newest thousand are never named again in this read: kept to a bound, a long
            // list costs neither memory nor a sort of everything read at each page.
            if self.recent.count >= 2 * Self.idLimit {
                self.recent = Self.newest(of: self.recent)
                self.recentSince = self.recent[0].created
            }
        }
    }

    /// Whether the child at `index` (from 1) stamped `stamp` was delivered before: by the previous mark when
    /// there is one (older than its instant, or named by it), else by the count delivered (`skip`, a state
    /// saved before marks were kept). A child without a stamp cannot be placed, so it is sent (at least once
    /// rather than never).
    func wasDelivered(_ stamp: (id: String, created: String)?, index: Int, skip: Int) -> Bool {
        guard let previous else { return index <= skip }
        guard let stamp else { return false }
        if SentinelOneListSource.State.order(stamp.created, previous.watermark) == .orderedAscending { return true }
        return self.named.contains(stamp.id)
    }

    /// Whether the mark of what was read so far names no child after its own instant (every child read is
    /// older than ``settled``): nothing listed later could be missed by it.
    var settles: Bool {
        guard let newest else { return true }
        return SentinelOneListSource.State.order(newest.watermark, self.settled) == .orderedAscending
    }

    /// The mark for what was read so far, once it is delivered; nil while no child with an id and a
    /// `createdAt` was read (the previous mark, if any, stands). `complete` when the list was read to its
    /// end: the ids of the previous mark not met since are of children no longer listed and are let go.
    func mark(complete: Bool) -> SentinelOneListSource.State? {
        let order = SentinelOneListSource.State.order
        guard let newest else { return nil }
        var mark: SentinelOneListSource.State
        if self.settles {
            // Everything read is older than the settled instant: the mark is at the newest child, with the
            // ids of that instant, unless the previous mark is later still (it is then as it was).
            if let previous, !previous.watermark.isEmpty,
                order(previous.watermark, newest.watermark) == .orderedDescending
            {
                mark = SentinelOneListSource.State(watermark: previous.watermark, boundaryIDs: [])
            } else {
                mark = newest
            }
        } else {
            mark = SentinelOneListSource.State(
                watermark: self.recentSince ?? self.settled,
                boundaryIDs: self.recent.map(\.id)
            )
            if self.recent.count > Self.idLimit {
                let named = Self.newest(of: self.recent)
                mark = SentinelOneListSource.State(watermark: named[0].created, boundaryIDs: named.map(\.id))
            }
        }
        if !complete { mark.boundaryIDs += self.unmet }
        mark.settle()
        return mark
    }

    /// The children of `children` (more than ``idLimit``) created at or after the ``idLimit``-th newest,
    /// oldest first: those a mark names once it has too many to name them all.
    private static func newest(of children: [(id: String, created: String)]) -> [(id: String, created: String)] {
        let order = SentinelOneListSource.State.order
        let sorted = children.sorted { order($0.created, $1.created) == .orderedAscending }
        let instant = sorted[sorted.count - Self.idLimit].created
        return Array(sorted.drop { order($0.created, instant) == .orderedAscending })
    }
}
