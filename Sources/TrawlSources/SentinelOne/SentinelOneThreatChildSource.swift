import Foundation
import Logging
import NIOCore
import TrawlCore

/// Collects what hangs off each threat (its events, or its notes) for the threats created or updated since
/// the last run: the threats are followed like the `threats` service (an `updatedAt` watermark with the
/// boundary's ids), and for each the child list is read oldest first, skipping the children delivered
/// before (per threat, a mark: an instant before which every child was delivered and the ids of those
/// delivered since, ``SentinelOneThreatChildPass``). 404 for a
/// threat's events means it has none. Each child gets its threat's id as `threatId` when it does not carry
/// it.
///
/// The position is saved after each page of children every output accepted, so a crash repeats at most the
/// page in hand, and children read before a threat's list ends early (a 404 on a later page) are delivered.
///
/// The marks are bounded: a threat's mark is dropped once its newest child delivered is older than
/// ``markRetention`` before the threats' watermark, and that instant becomes the state's ``State/floor``. A
/// threat without a mark, created after ``State/origin`` and no later than the floor, was read after its last
/// update before the floor, so its children created up to the floor count as delivered; a threat created
/// before the origin may never have been read, and gets all its children.
public final class SentinelOneThreatChildSource: SentinelOneConsoleSource {
    /// Its windows or marks end `query_lag_in_seconds` before now.
    public var readsUpToTheLag: Bool { true }

    public struct State: Codable, Sendable, Equatable {
        public var threats: SentinelOneListSource.State
        /// Children delivered per threat id: what a threat is skipped by when ``newest`` has no mark for it
        /// (a state saved before marks were kept, children without `id` or `createdAt`).
        public var delivered: [String: Int]
        /// Per threat id, the instant before which its children were delivered and the ids of those delivered
        /// at or after it (``SentinelOneThreatChildPass``): a child deleted (an analyst's note) or aged out
        /// of the console leaves the mark where it was, where a count would then skip as many new children.
        public var newest: [String: SentinelOneListSource.State]?
        /// The threats' watermark when this state began to drop marks (the configured start for a new state):
        /// every threat created after it was listed, and its children read, since.
        public var origin: String?
        /// The newest instant before which marks were dropped: the children created up to it of a threat
        /// created after ``origin`` and up to it were delivered.
        public var floor: String?
        /// The threats whose mark names children by id (they were read within `query_lag_in_seconds` of their
        /// creation): each is read once more when that lag has passed, which sends a child listed late and
        /// leaves a mark at its newest child, so the marks of threats never updated again stay small.
        public var unsettled: [String]?

        /// Drops the marks whose newest child is older than `cutoff`, which becomes the floor: those threats
        /// were read after their last update, so their children up to `cutoff` were delivered. Nothing is
        /// dropped while `cutoff` is not after ``origin``. The number of marks dropped.
        mutating func dropMarks(olderThan cutoff: String) -> Int {
            guard let origin, SentinelOneListSource.State.order(cutoff, origin) == .orderedDescending,
                let newest, !newest.isEmpty
            else { return 0 }
            let kept = newest.filter {
                SentinelOneListSource.State.order($0.value.watermark, cutoff) != .orderedAscending
            }
            guard kept.count < newest.count else { return 0 }
            self.newest = kept
            self.unsettled = self.unsettled?.filter { kept[$0] != nil }
            self.floor = cutoff
            return newest.count - kept.count
        }

        /// The floor that places the children of `threat`, created `created`, when it has no mark: the floor
        /// when the threat was created after ``origin`` and up to the floor, else nil (every child is sent).
        func floor(forThreatCreated created: String?) -> String? {
            guard let floor, let origin, let created else { return nil }
            let order = SentinelOneListSource.State.order
            guard order(created, origin) == .orderedDescending, order(created, floor) != .orderedDescending else {
                return nil
            }
            return floor
        }
    }

    /// How long a threat's mark is kept after its newest child delivered, measured on the threats'
    /// watermark: 90 days, past which an update to the threat is rare and the mark is dropped to keep the
    /// state bounded (it is rewritten whole at every save).
    public static let defaultMarkRetention: Duration = .seconds(90 * 86_400)

    /// `threat_events` and `threat_notes`.
    public static let contents: [SentinelOneContentType] = [
        .init(
            service: "threat_events",
            path: "/threats/{id}/explore/events",
            messageClass: "sentinelone_threat_events",
            defaultTag: "edr.sentinelone.threat_events",
            permission: "Threats View and Deep Visibility View"
        ),
        .init(
            service: "threat_notes",
            path: "/threats/{id}/notes",
            messageClass: "sentinelone_threat_notes",
            defaultTag: "edr.sentinelone.threat_notes",
            permission: "Threats View"
        ),
    ]

    public let name: String
    public let content: SentinelOneContentType
    public let settings: SentinelOneServiceSettings
    public let console: SentinelOneConsole
    public let persistence: ServicePersistence<State>
    /// How long a threat's mark is kept (``defaultMarkRetention``).
    public let markRetention: Duration
    /// Now, by Trawl's clock: where a read's marks stop and when an unsettled mark is read again, once
    /// ``consoleTime(at:)`` moved it back by how far the console's clock is behind.
    let now: @Sendable () -> UTCTimestamp

    /// - Parameter now: the clock; tests move it on instead of waiting out `query_lag_in_seconds`.
    public init(
        name: String,
        content: SentinelOneContentType,
        settings: SentinelOneServiceSettings,
        console: SentinelOneConsole,
        persistence: ServicePersistence<State>,
        markRetention: Duration = SentinelOneThreatChildSource.defaultMarkRetention,
        now: @escaping @Sendable () -> UTCTimestamp = { UTCTimestamp.now() }
    ) {
        self.name = name
        self.content = content
        self.settings = settings
        self.console = console
        self.persistence = persistence
        self.markRetention = markRetention
        self.now = now
    }

    public func collect(_ context: PullContext) async throws -> PullCycleStatistics {
        var statistics = PullCycleStatistics()
        var state = try await self.persistence.load() ?? State(start: try self.firstStart)
        // A state saved before marks were dropped: the threats it has passed may have children it never read.
        if state.origin == nil { state.origin = state.threats.watermark }
        var trail = SentinelOneCursorTrail(resource: "\(self.console.configuration.url)/threats")
        var cursor: String?
        repeat {
            if context.isShuttingDown { return statistics }
            let page = try await self.updatedPage(
                "/threats",
                since: state.threats,
                cursor: cursor,
                statistics: &statistics,
                logger: context.logger
            )
            let nextCursor = try trail.cursor(after: page)
            var next = state.threats
            for threat in page.records {
                let (id, updated) = try self.stamp(of: threat, from: "/threats")
                next.advance(past: id, updatedAt: updated)
                try await self.collect(
                    threat: id,
                    created: threat.field("createdAt") ?? threat.field(path: ["threatInfo", "createdAt"]),
                    state: &state,
                    statistics: &statistics,
                    context: context
                )
                if context.isShuttingDown { return statistics }
            }
            if next != state.threats {
                next.settle()
                state.threats = next
                self.dropOldMarks(&state, logger: context.logger)
                try await self.persistence.save(state)
            }
            cursor = nextCursor
        } while cursor != nil
        try await self.settle(&state, statistics: &statistics, context: context)
        if context.isShuttingDown { return statistics }
        statistics.upToDate = true
        return statistics
    }

    /// Reads once more the children of each unsettled threat whose read is `query_lag_in_seconds` old: every
    /// child it could list late is listed by then.
    private func settle(
        _ state: inout State,
        statistics: inout PullCycleStatistics,
        context: PullContext
    ) async throws {
        // A mark stops a lag before its read, so the read is a lag old once the mark is two lags before now.
        let due = self.windowEnd(at: self.windowEnd(at: self.consoleTime(at: self.now())))
        for threat in state.unsettled ?? [] {
            guard let mark = state.newest?[threat], let instant = parseUTCDatetime(mark.watermark), instant <= due
            else { continue }
            if context.isShuttingDown { return }
            try await self.collect(
                threat: threat,
                created: nil,
                state: &state,
                statistics: &statistics,
                context: context
            )
        }
    }

    /// Drops the marks older than ``markRetention`` before the threats' watermark (``State/dropMarks(olderThan:)``).
    private func dropOldMarks(_ state: inout State, logger: Logger) {
        guard let watermark = parseUTCDatetime(state.threats.watermark) else { return }
        let cutoff = UTCTimestamp(
            microsecondsSinceEpoch: watermark.microsecondsSinceEpoch - self.markRetention.components.seconds * 1_000_000
        )
        let dropped = state.dropMarks(olderThan: cutoff.sentinelOneText)
        guard dropped > 0 else { return }
        logger.info(
            "Dropped the marks of \(dropped) threat(s) whose newest child delivered is older than \(cutoff.sentinelOneText): their children created until then count as delivered",
            metadata: ["sentinelone.service": "\(self.name)"]
        )
    }

    /// Delivers the children of `threat` (created `created`) past those delivered before, a page at a time:
    /// after each page every output accepted, `state` counts them and is saved. A 404 (the threat has no
    /// children, or no longer exists) ends the list.
    private func collect(
        threat: String,
        created: String?,
        state: inout State,
        statistics: inout PullCycleStatistics,
        context: PullContext
    ) async throws {
        let path = self.content.path.replacingOccurrences(of: "{id}", with: threat)
        let kept = state.newest?[threat]
        let counted = kept == nil ? state.delivered[threat] : nil
        // A threat whose mark was dropped is placed by the floor: a mark with no ids at its instant.
        let floor = kept == nil && counted == nil ? state.floor(forThreatCreated: created) : nil
        let since = kept ?? floor.map { SentinelOneListSource.State(watermark: $0, boundaryIDs: []) }
        let skip = since == nil ? counted ?? 0 : 0
        var pass = SentinelOneThreatChildPass(
            previous: since,
            settled: self.windowEnd(at: self.consoleTime(at: self.now())).sentinelOneText
        )
        var index = 0
        var cursor: String?
        var trail = SentinelOneCursorTrail(resource: "\(self.console.configuration.url)\(path)")
        repeat {
            var query = [("limit", "\(self.settings.pageSize)"), ("sortBy", "createdAt"), ("sortOrder", "asc")]
            if let cursor { query.append(("cursor", cursor)) }
            statistics.requests += 1
            let answer: ByteBuffer
            do {
                answer = try await self.console.get(path, query: query, logger: context.logger)
            } catch let error as TrawlError where error.code == .sentinelOneNotFound {
                // No children (any more): nothing to read again. (A list cut short keeps its place there.)
                if index == 0 { state.unsettled?.removeAll { $0 == threat } }
                return
            }
            let page = try SentinelOnePage(answer, resource: "\(self.console.configuration.url)\(path)")
            let nextCursor = try trail.cursor(after: page)
            statistics.received += page.records.count
            var events: [Event] = []
            for record in page.records {
                index += 1
                let stamp = record.creation
                let delivered = pass.wasDelivered(stamp, index: index, skip: skip)
                if let (id, created) = stamp { pass.read(id: id, created: created) }
                if delivered {
                    statistics.duplicatesFilteredOut += 1
                    continue
                }
                events.append(
                    Event(
                        tag: self.tag,
                        body: record.withMessageClass(
                            self.content.messageClass,
                            extra: record.field("threatId") == nil ? "\"threatId\":\"\(threat)\"" : nil
                        ),
                        metadata: self.metadata(
                            threat: threat,
                            stamp: stamp,
                            index: index,
                            counted: since == nil,
                            context
                        )
                    )
                )
            }
            let mark = pass.mark(complete: nextCursor == nil)
            if !events.isEmpty {
                try await self.deliver(events, unit: "\(self.name) threat \(threat)@\(index)", context: context)
                statistics.sent += events.count
            }
            // A threat placed by the floor gets a mark once a child of its is delivered, as before.
            let moved = mark != nil && mark != state.newest?[threat] && (kept != nil || !events.isEmpty)
            if let mark, moved {
                // The mark skips from now on; the count is no longer read.
                state.newest = (state.newest ?? [:]).merging([threat: mark]) { $1 }
                state.delivered[threat] = nil
            } else if mark == nil, since == nil, !events.isEmpty {
                state.delivered[threat] = index
            }
            var listed = false
            if nextCursor == nil {
                let before = state.unsettled
                var unsettled = before ?? []
                unsettled.removeAll { $0 == threat }
                if !pass.settles, state.newest?[threat] != nil { unsettled.append(threat) }
                state.unsettled = unsettled.isEmpty ? nil : unsettled
                listed = state.unsettled != before
            }
            // Saved after each page delivered, and at the end of a list that moved the mark on without
            // delivering (the children it named settled, or were deleted), so the state shrinks as it can.
            if !events.isEmpty || (nextCursor == nil && (moved || listed)) {
                try await self.persistence.save(state)
            }
            if context.isShuttingDown { return }
            cursor = nextCursor
        } while cursor != nil
    }

    /// What names a child to the outputs, the same in every run that sends it (the file output's journal
    /// drops what it has written under the same name): its id, or, while a threat is still skipped by count,
    /// its place in the list as before marks were kept. A place would name a new child like the one a
    /// deletion moved out of it.
    private func metadata(
        threat: String,
        stamp: (id: String, created: String)?,
        index: Int,
        counted: Bool,
        _ context: PullContext
    ) -> EventMetadata {
        let base = "\(self.content.service) \(threat)"
        let (unit, offset) =
            switch (counted, stamp) {
            case (true, _): (base, index - 1)
            case (false, let stamp?): ("\(base) \(stamp.id)", 0)
            case (false, nil): ("\(base) without id", index - 1)
            }
        return EventMetadata(source: self.name, unit: unit, offset: Int64(offset), pullingID: context.pullingID)
    }
}

extension SentinelOneThreatChildSource.State {
    /// A state with nothing delivered yet, starting at `start`, where dropping marks begins too.
    init(start: String) {
        self.init(threats: .init(watermark: start, boundaryIDs: []), delivered: [:], origin: start)
    }
}
