import Logging
import NIOCore
import Synchronization
import TrawlCore

/// What the SentinelOne services share: a console whose connection pool lives as long as the service runs,
/// a content type, and their settings.
public protocol SentinelOneConsoleSource: PullingSource {
    /// `<input>/<service>`, the events' source.
    var name: String { get }
    var console: SentinelOneConsole { get }
    var content: SentinelOneContentType { get }
    var settings: SentinelOneServiceSettings { get }
    /// One cycle of the service's own work; ``pull(_:)`` runs it, then the input's daily token check.
    func collect(_ context: PullContext) async throws -> PullCycleStatistics
    /// Whether the service takes what the console stamped up to `query_lag_in_seconds` before now as
    /// complete (time windows, settled marks), and so misses records when the console's clock is behind by
    /// more than that and Trawl does not know it.
    var readsUpToTheLag: Bool { get }
}

extension SentinelOneConsoleSource {
    /// The Devo table: the configured `tag`, else the content type's.
    var tag: String { self.settings.tag ?? self.content.defaultTag }

    /// The input's name, from `<input>/<service>`.
    var input: String { String(self.name.prefix { $0 != "/" }) }

    /// Where the service starts when it has no saved state (`historical_poll_datetime`), as the console
    /// writes times.
    ///
    /// - Throws: SetupError 9 when that date is more than a year back.
    var firstStart: String {
        get throws {
            try firstPullStart(from: self.settings.historicalPollDatetime, service: self.name).sentinelOneText
        }
    }

    /// The service's cycle, then (once a day for the input) the check of when its API token expires.
    public func pull(_ context: PullContext) async throws -> PullCycleStatistics {
        let url = self.console.configuration.url
        if sendsInCleartext(url), self.console.gate.cleartextWarned.claim() {
            context.logger.warning(
                "console_url \(url) is http://: the API token and what the console answers cross the network unencrypted; use https://"
            )
        }
        if self.readsUpToTheLag, self.console.secondsBehindThisHost == nil {
            // Where this cycle reads up to depends on the console's clock, which only an answer shows: the
            // daily token check, due in the first cycle anyway, is asked first.
            await self.console.gate.checkTokenExpiry(self.console, input: self.input, logger: context.logger)
        }
        let statistics = try await self.collect(context)
        self.warnOfAConsoleClockBehind(logger: context.logger)
        await self.console.gate.checkTokenExpiry(self.console, input: self.input, logger: context.logger)
        return statistics
    }

    public var readsUpToTheLag: Bool { false }

    /// Says, once an hour while it lasts, that the console's clock is far behind this host's: the service
    /// reads up to its lag before the console's time instead (``consoleTime(at:)``), but a clock drifting
    /// further is seen only at the next answer, and a console that did not answer the token check before a
    /// first read leaves that read to this host's clock.
    func warnOfAConsoleClockBehind(logger: Logger) {
        guard self.readsUpToTheLag else { return }
        let lag = self.settings.deepVisibility.lagInSeconds
        guard
            let behind = self.console.gate.consoleClock.withLock({
                $0.warning(for: self.name, lag: lag, now: .now)
            })
        else { return }
        logger.warning(
            "The clock of SentinelOne console \(self.console.configuration.url) is \(behind) s behind this host's (the Date of its answers): \(self.name) reads up to query_lag_in_seconds (\(lag) s) before the console's time instead of this host's, but a read after the clock drifted further may miss records the console stamps then. Sync both clocks (NTP)",
            metadata: ["sentinelone.console.seconds_behind": "\(behind)"]
        )
    }

    /// Runs the service's cycles, then closes the console's connections.
    public func withResources(_ body: () async throws -> Void) async throws {
        try await closing(self.console.shutdown, after: body)
    }

    /// The `siteIds` and `accountIds` filters the service is configured with, as query parameters.
    var scope: [(String, String)] {
        var query: [(String, String)] = []
        if !self.settings.siteIDs.isEmpty { query.append(("siteIds", self.settings.siteIDs.joined(separator: ","))) }
        if !self.settings.accountIDs.isEmpty {
            query.append(("accountIds", self.settings.accountIDs.joined(separator: ",")))
        }
        return query
    }

    /// Where the newest window of a service read in time windows ends: `query_lag_in_seconds` before now by
    /// the console's clock, so that what the console stamps a little before it shows it is in the window.
    var newestWindowEnd: UTCTimestamp { self.windowEnd(at: self.consoleTime(at: UTCTimestamp.now())) }

    /// `now` (this host's clock) as the console's clock reads it, so far as its latest answer showed that
    /// clock behind: what it stamps from then on is after the windows and marks that end by this time.
    /// Never later than `now`: a console ahead only delays what is read, and an answer with a wrong `Date`
    /// can delay reads, not skip records.
    func consoleTime(at now: UTCTimestamp) -> UTCTimestamp {
        let behind = self.console.secondsBehindThisHost ?? 0
        return UTCTimestamp(microsecondsSinceEpoch: now.microsecondsSinceEpoch - behind * 1_000_000)
    }

    /// `query_lag_in_seconds` before `now`: what the console stamped before it is taken to be listed.
    func windowEnd(at now: UTCTimestamp) -> UTCTimestamp {
        UTCTimestamp(
            microsecondsSinceEpoch: now.microsecondsSinceEpoch - Int64(self.settings.deepVisibility.lagInSeconds)
                * 1_000_000
        )
    }

    /// A saved window start (`what` names it in the error) as an instant.
    ///
    /// - Throws: PersistenceError 200 when it is not a date.
    func windowStart(_ text: String, of what: String) throws -> UTCTimestamp {
        guard let start = parseUTCDatetime(text) else {
            throw TrawlError(.stateUnreadable, "the saved \(what) \(text) is not a date", location: self.name)
        }
        return start
    }

    /// One page of the records of `path` whose time (`position`'s) is at or after `window`'s watermark,
    /// oldest first; with `newestFirst`, of all records newest first (for an endpoint that cannot filter on
    /// the time).
    func updatedPage(
        _ path: String,
        since window: SentinelOneListSource.State,
        by position: SentinelOneContentType.Position = .updated,
        newestFirst: Bool = false,
        cursor: String?,
        statistics: inout PullCycleStatistics,
        logger: Logger
    ) async throws -> SentinelOnePage {
        var query = [
            ("limit", "\(self.settings.pageSize)"), ("sortBy", position.sortBy),
            ("sortOrder", newestFirst ? "desc" : "asc"),
        ]
        if let filter = position.filter, !newestFirst { query.append(("\(filter)__gte", window.watermark)) }
        query += self.scope
        if let cursor { query.append(("cursor", cursor)) }
        statistics.requests += 1
        let answer = try await self.console.get(path, query: query, logger: logger)
        return try SentinelOnePage(answer, resource: "\(self.console.configuration.url)\(path)")
    }

    /// A listed record's id and the time it is followed by (`updatedAt` unless `position` says otherwise).
    ///
    /// - Throws: ApiError 446 when it lacks either.
    func stamp(
        of record: SentinelOnePage.Record,
        from path: String,
        by position: SentinelOneContentType.Position = .updated
    ) throws -> (id: String, updated: String) {
        guard let id = record.field(path: position.idPath), let updated = record.field(path: position.timePath) else {
            let names = [position.idPath, position.timePath].map { $0.joined(separator: ".") }
            throw TrawlError(
                .sentinelOneAnswerUnreadable,
                "a record of \(path) has no \(names[0]) or \(names[1]): \(String(buffer: record.bytes).prefix(200))",
                location: self.console.configuration.url
            )
        }
        return (id, updated)
    }

    /// Publishes `events` and waits until every output accepted them, so the caller may then save its
    /// position.
    func deliver(_ events: [Event], unit: String, context: PullContext) async throws {
        let acknowledgement = Acknowledgement(unit: unit)
        try await context.dispatcher.publish(events, acknowledgement: acknowledgement)
        acknowledgement.seal()
        try await acknowledgement.delivered()
    }
}
