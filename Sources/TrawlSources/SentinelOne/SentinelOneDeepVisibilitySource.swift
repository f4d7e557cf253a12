import Foundation
import Logging
import NIOCore
import TrawlCore

/// Collects SentinelOne Deep Visibility events: the configured query over consecutive time windows that
/// never overlap and leave no gap (each starts where the last ended: the API takes the events created after
/// `fromDate` and before or at `toDate`), each ending `query_lag_in_seconds` before now so late events have
/// arrived, at most `max_window_in_seconds` long.
///
/// Per window: `POST /dv/init-query`, poll `/dv/query-status` until finished, page `/dv/events` by cursor,
/// oldest first, each instant's events by id (``SentinelOneInstantOrder``). The position (the window, the
/// newest `createdAt` delivered in it and the ids at that instant) is saved after each page was accepted by
/// every output; a window cut short is queried again and what its mark covers is skipped. A stop while a query runs cancels it (`/dv/cancel-query`), so the
/// console does not keep working for nothing.
public final class SentinelOneDeepVisibilitySource: SentinelOneConsoleSource {
    /// Its windows or marks end `query_lag_in_seconds` before now.
    public var readsUpToTheLag: Bool { true }

    public struct State: Codable, Sendable, Equatable {
        /// Where the next window starts.
        public var from: String
        /// The window in progress: its end, and how many of its events were delivered.
        public var to: String?
        public var delivered: Int
        /// In the window in progress, the newest `createdAt` delivered and the ids at that instant: what a
        /// query of the window again skips. Without it (a state saved before marks were kept, events without
        /// `id` or `createdAt`) the first `delivered` events are skipped, which holds only if the console
        /// lists them in the same order again.
        public var mark: SentinelOneListSource.State?

        public init(from: String, to: String?, delivered: Int, mark: SentinelOneListSource.State? = nil) {
            self.from = from
            self.to = to
            self.delivered = delivered
            self.mark = mark
        }

        enum CodingKeys: String, CodingKey {
            case from
            case to
            case delivered
            case mark
        }
    }

    public static let content = SentinelOneContentType(
        service: "deep_visibility",
        path: "/dv/events",
        messageClass: "sentinelone_deep_visibility",
        defaultTag: "edr.sentinelone.deep_visibility",
        permission: "Deep Visibility View (a Complete or STAR licence)"
    )

    public let name: String
    public let settings: SentinelOneServiceSettings
    public let console: SentinelOneConsole
    public let persistence: ServicePersistence<State>

    public init(
        name: String,
        settings: SentinelOneServiceSettings,
        console: SentinelOneConsole,
        persistence: ServicePersistence<State>
    ) {
        self.name = name
        self.settings = settings
        self.console = console
        self.persistence = persistence
    }

    public var content: SentinelOneContentType { Self.content }

    public func collect(_ context: PullContext) async throws -> PullCycleStatistics {
        var statistics = PullCycleStatistics()
        var state =
            try await self.persistence.load()
            ?? State(
                from: try self.firstStart,
                to: nil,
                delivered: 0
            )
        let latest = self.newestWindowEnd
        while !context.isShuttingDown {
            let start = try self.windowStart(state.from, of: "Deep Visibility window start")
            let to: String
            if let pending = state.to {
                to = pending
            } else {
                let end = min(
                    latest,
                    UTCTimestamp(
                        microsecondsSinceEpoch: start.microsecondsSinceEpoch
                            + Int64(self.settings.deepVisibility.maxWindowInSeconds) * 1_000_000
                    )
                )
                guard start < end else { break }
                to = end.sentinelOneText
            }
            let outcome = try await self.collect(
                window: state.from,
                to,
                state: &state,
                statistics: &statistics,
                context: context
            )
            if context.isShuttingDown { return statistics }
            if case .split(let middle) = outcome {
                state = State(from: state.from, to: middle, delivered: 0)
                continue
            }
            state = State(from: to, to: nil, delivered: 0)
            try await self.persistence.save(state)
        }
        statistics.upToDate = !context.isShuttingDown
        if statistics.upToDate {
            context.logger.info("Deep Visibility is up to date: events before \(state.from) collected")
        }
        return statistics
    }

    enum WindowOutcome {
        case done
        /// The window holds more events than one query returns: query `(from, middle]` first.
        case split(middle: String)
    }

    /// Runs the query over `(from, to]` and delivers its events, skipping those delivered before.
    private func collect(
        window from: String,
        _ to: String,
        state: inout State,
        statistics: inout PullCycleStatistics,
        context: PullContext
    ) async throws -> WindowOutcome {
        let logger = context.logger
        let body: [String: Any] = [
            "query": self.settings.deepVisibility.query, "fromDate": from, "toDate": to,
            "limit": self.settings.deepVisibility.maxEvents,
        ]
        statistics.requests += 1
        let started = try await self.console.post(
            "/dv/init-query",
            json: Array(try JSONSerialization.data(withJSONObject: body, options: [.sortedKeys])),
            logger: logger
        )
        guard
            let object = try? JSONSerialization.jsonObject(with: Data(started.readableBytesView)) as? [String: Any],
            let queryID = (object["data"] as? [String: Any])?["queryId"] as? String
        else {
            throw TrawlError(
                .sentinelOneAnswerUnreadable,
                "/dv/init-query answered no queryId: \(String(buffer: started).prefix(200))",
                location: self.console.configuration.url
            )
        }
        logger.info("Deep Visibility query \(queryID) started for (\(from), \(to)]")
        do {
            try await self.waitUntilFinished(queryID, statistics: &statistics, context: context)
            if context.isShuttingDown {
                try await self.cancel(queryID, logger: logger)
                return .done
            }
            let resumed = state.to == to && state.delivered > 0
            let since = resumed ? state.mark : nil
            let skip = resumed && since == nil ? state.delivered : 0
            var mark = since ?? SentinelOneListSource.State(watermark: "", boundaryIDs: [])
            var index = 0
            var order = SentinelOneInstantOrder()
            var trail = SentinelOneCursorTrail(resource: "\(self.console.configuration.url)/dv/events")
            var cursor: String?
            repeat {
                // Oldest first, so that a mark says which events of the window were delivered: without a
                // sort the console's order is its own, and may differ from one query of the window to the next.
                var query = [
                    ("queryId", queryID), ("limit", "\(self.settings.pageSize)"), ("sortBy", "createdAt"),
                    ("sortOrder", "asc"),
                ]
                if let cursor { query.append(("cursor", cursor)) }
                statistics.requests += 1
                let answer = try await self.console.get("/dv/events", query: query, logger: logger)
                let page = try SentinelOnePage(answer, resource: "\(self.console.configuration.url)/dv/events")
                let nextCursor = try trail.cursor(after: page)
                if cursor == nil, !resumed, let total = page.totalItems,
                    total >= self.settings.deepVisibility.maxEvents,
                    let middle = Self.middle(from, to)
                {
                    logger.warning(
                        "Deep Visibility window (\(from), \(to)] reached the \(self.settings.deepVisibility.maxEvents) events one query returns: querying its halves"
                    )
                    try await self.cancel(queryID, logger: logger, because: "its window is queried in halves")
                    return .split(middle: middle)
                }
                statistics.received += page.records.count
                var events: [Event] = []
                for (record, stamp) in order.take(page.records, isLast: nextCursor == nil) {
                    index += 1
                    if let (id, created) = stamp { mark.advance(past: id, updatedAt: created) }
                    if SentinelOneListSource.State.wasDelivered(stamp, index: index, mark: since, skip: skip) {
                        statistics.duplicatesFilteredOut += 1
                        continue
                    }
                    events.append(
                        Event(
                            tag: self.tag,
                            body: record.withMessageClass(Self.content.messageClass),
                            metadata: EventMetadata(
                                source: self.name,
                                unit: "deep_visibility \(from)/\(to)",
                                offset: Int64(index - 1),
                                pullingID: context.pullingID
                            )
                        )
                    )
                }
                if !events.isEmpty {
                    try await self.deliver(events, unit: "\(self.name) (\(from), \(to)]@\(index)", context: context)
                    statistics.sent += events.count
                    mark.settle()
                    state = State(from: from, to: to, delivered: index, mark: mark.watermark.isEmpty ? nil : mark)
                    try await self.persistence.save(state)
                }
                cursor = nextCursor
                if context.isShuttingDown { return .done }
            } while cursor != nil
            return .done
        } catch is CancellationError {
            try? await self.cancel(queryID, logger: logger)
            throw CancellationError()
        }
    }

    /// The instant halfway between `from` and `to`, or nil when they are less than a second apart.
    static func middle(_ from: String, _ to: String) -> String? {
        guard let start = parseUTCDatetime(from), let end = parseUTCDatetime(to),
            end.microsecondsSinceEpoch - start.microsecondsSinceEpoch >= 2_000_000
        else { return nil }
        return UTCTimestamp(
            microsecondsSinceEpoch: start.microsecondsSinceEpoch
                + (end.microsecondsSinceEpoch - start.microsecondsSinceEpoch) / 2
        ).sentinelOneText
    }

    private func waitUntilFinished(
        _ queryID: String,
        statistics: inout PullCycleStatistics,
        context: PullContext
    ) async throws {
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: .seconds(self.settings.deepVisibility.timeoutInSeconds))
        while !context.isShuttingDown {
            statistics.requests += 1
            let answer = try await self.console.get(
                "/dv/query-status",
                query: [("queryId", queryID)],
                logger: context.logger
            )
            let envelope = try? JSONSerialization.jsonObject(with: Data(answer.readableBytesView)) as? [String: Any]
            guard let data = envelope?["data"] as? [String: Any] else {
                let resource = "\(self.console.configuration.url)/dv/query-status"
                throw TrawlError(
                    .sentinelOneAnswerUnreadable,
                    "the answer of \(resource) about Deep Visibility query \(queryID) is not a JSON object with a data object; it starts with \(String(buffer: answer).prefix(120).debugDescription)",
                    location: resource
                )
            }
            let progress = data["progressStatus"] as? Int ?? 0
            let status = data["responseState"] as? String ?? ""
            if status == "FAILED" || status == "CANCELLED" || status == "TIMED_OUT" {
                throw TrawlError(
                    .sentinelOneBadRequest,
                    "Deep Visibility query \(queryID) ended \(status): \(data["responseError"] as? String ?? "no reason given")",
                    location: self.console.configuration.url,
                    fix:
                        "Check the service's query (the console's Deep Visibility query language) and the window's size."
                )
            }
            if progress >= 100 || status == "FINISHED" { return }
            if clock.now >= deadline {
                try await self.cancel(
                    queryID,
                    logger: context.logger,
                    because: "it did not finish within query_timeout_in_seconds"
                )
                throw TrawlError(
                    .sentinelOneServerError,
                    "Deep Visibility query \(queryID) was still running (progress \(progress)%\(status.isEmpty ? "" : ", \(status)")) \(self.settings.deepVisibility.timeoutInSeconds) seconds after it started: cancelled; its window is queried again at the next interval",
                    location: self.console.configuration.url,
                    fix:
                        "If the console is only slow, raise query_timeout_in_seconds or lower max_window_in_seconds; check SentinelOne's status page if queries never finish."
                )
            }
            await context.pause(for: .seconds(self.settings.deepVisibility.pollIntervalInSeconds))
        }
    }

    private func cancel(
        _ queryID: String,
        logger: Logger,
        because reason: String = "Trawl is stopping; its window is queried again next time"
    ) async throws {
        _ = try await self.console.post(
            "/dv/cancel-query",
            json: Array("{\"queryId\":\(jsonString(queryID))}".utf8),
            logger: logger
        )
        logger.info("Deep Visibility query \(queryID) cancelled: \(reason)")
    }
}
