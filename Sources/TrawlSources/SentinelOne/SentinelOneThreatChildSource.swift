import Foundation
import Logging
import NIOCore
import TrawlCore

/// Collects what hangs off each threat (its events, or its notes) for the threats created or updated since
/// the last run: the threats are followed like the `threats` service (an `updatedAt` watermark with the
/// boundary's ids), and for each the child list is read oldest first, skipping the children delivered
/// before (their count per threat is kept). 404 for a threat's events means it has none. Each child gets
/// its threat's id as `threatId` when it does not carry it.
///
/// The position is saved after each page of children every output accepted, so a crash repeats at most the
/// page in hand, and children read before a threat's list ends early (a 404 on a later page) are delivered.
public final class SentinelOneThreatChildSource: SentinelOneConsoleSource {
    public struct State: Codable, Sendable, Equatable {
        public var threats: SentinelOneListSource.State
        /// Children delivered per threat id.
        public var delivered: [String: Int]
    }

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

    public init(
        name: String,
        content: SentinelOneContentType,
        settings: SentinelOneServiceSettings,
        console: SentinelOneConsole,
        persistence: ServicePersistence<State>
    ) {
        self.name = name
        self.content = content
        self.settings = settings
        self.console = console
        self.persistence = persistence
    }

    public func collect(_ context: PullContext) async throws -> PullCycleStatistics {
        var statistics = PullCycleStatistics()
        var state =
            try await self.persistence.load()
            ?? State(
                threats: .init(watermark: self.settings.historicalPollDatetime.sentinelOneText, boundaryIDs: []),
                delivered: [:]
            )
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
                try await self.collect(threat: id, state: &state, statistics: &statistics, context: context)
                if context.isShuttingDown { return statistics }
            }
            if next != state.threats {
                next.boundaryIDs = Array(Set(next.boundaryIDs)).sorted()
                state.threats = next
                try await self.persistence.save(state)
            }
            cursor = nextCursor
        } while cursor != nil
        statistics.upToDate = true
        return statistics
    }

    /// Delivers the children of `threat` past those delivered before, a page at a time: after each page every
    /// output accepted, `state` counts them and is saved. A 404 (the threat has no children, or no longer
    /// exists) ends the list.
    private func collect(
        threat: String,
        state: inout State,
        statistics: inout PullCycleStatistics,
        context: PullContext
    ) async throws {
        let path = self.content.path.replacingOccurrences(of: "{id}", with: threat)
        let skip = state.delivered[threat] ?? 0
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
                return
            }
            let page = try SentinelOnePage(answer, resource: "\(self.console.configuration.url)\(path)")
            let nextCursor = try trail.cursor(after: page)
            statistics.received += page.records.count
            var events: [Event] = []
            for record in page.records {
                index += 1
                if index <= skip {
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
                        metadata: EventMetadata(
                            source: self.name,
                            unit: "\(self.content.service) \(threat)",
                            offset: Int64(index - 1),
                            pullingID: context.pullingID
                        )
                    )
                )
            }
            if !events.isEmpty {
                try await self.deliver(events, unit: "\(self.name) threat \(threat)@\(index)", context: context)
                statistics.sent += events.count
                state.delivered[threat] = index
                try await self.persistence.save(state)
            }
            if context.isShuttingDown { return }
            cursor = nextCursor
        } while cursor != nil
    }
}
