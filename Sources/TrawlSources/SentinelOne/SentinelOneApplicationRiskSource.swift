import Logging
import NIOCore
import TrawlCore

/// Collects `vulnerabilities` from `/application-management/risks` (consoles with application management):
/// each CVE of an application on an endpoint whose risk changed significantly since the last run, removed
/// ones included (`includeRemovals`), so the SIEM also learns when a vulnerability is gone.
///
/// The endpoint filters on `riskUpdatedDate`, which the API v2.1 reference recommends for reading changes,
/// but neither shows it in its rows nor sorts on it: no watermark can be read from what it returns. So the
/// service reads consecutive windows of it, as Deep Visibility does: `(from, to]` (`riskUpdatedDate__gt` and
/// `__lte`), each starting where the last ended and ending `query_lag_in_seconds` before now, so that a change
/// falls in exactly one window. A window is read sorted by id; its position (the window, how many of its
/// risks were passed and the greatest id delivered) is saved after each page every output accepted, and a
/// window cut short by a stop or crash is read again, skipping a risk when it was among the risks passed and
/// its id is not above the greatest delivered. So a resume is exact when the console lists ids in ascending
/// order, even if risks left the window meanwhile; in another stable order it is exact while none left (a
/// warning says when the console's order is not ascending). A risk that changes again while its window is
/// read moves to the next window, and is sent again there, as its new state.
public final class SentinelOneApplicationRiskSource: SentinelOneConsoleSource {
    /// Its windows or marks end `query_lag_in_seconds` before now.
    public var readsUpToTheLag: Bool { true }

    public struct State: Codable, Sendable, Equatable {
        /// Where the next window starts.
        public var from: String
        /// The window in progress: its end, and how many of its risks (as the console listed them) were passed.
        public var to: String?
        public var passed: Int
        /// The greatest id (by ``SentinelOneApplicationRiskSource/precedes(_:_:)``) delivered in the window in
        /// progress: a window read again skips a risk among the first `passed` only when its id is not above it,
        /// so a risk that moved up in the list because others left the window is still sent.
        public var greatestID: String?

        public init(from: String, to: String? = nil, passed: Int = 0, greatestID: String? = nil) {
            self.from = from
            self.to = to
            self.passed = passed
            self.greatestID = greatestID
        }

        enum CodingKeys: String, CodingKey {
            case from
            case to
            case passed
            case greatestID = "greatest_id"
        }

        enum ListKeys: String, CodingKey {
            case watermark
        }

        /// Reads a saved position. A `vulnerabilities` state saved while the service read installed
        /// applications has instead the newest `updatedAt` it delivered: the next window starts there, so that
        /// switching `vulnerabilities_source` goes on from then rather than stopping on a state it cannot read.
        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            guard container.contains(.from) else {
                let list = try decoder.container(keyedBy: ListKeys.self)
                self.init(from: try list.decode(String.self, forKey: .watermark))
                return
            }
            self.init(
                from: try container.decode(String.self, forKey: .from),
                to: try container.decodeIfPresent(String.self, forKey: .to),
                passed: try container.decode(Int.self, forKey: .passed),
                greatestID: try container.decodeIfPresent(String.self, forKey: .greatestID)
            )
        }
    }

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

    public var content: SentinelOneContentType { .applicationRisks }

    public func collect(_ context: PullContext) async throws -> PullCycleStatistics {
        var statistics = PullCycleStatistics()
        var state =
            try await self.persistence.load()
            ?? State(
                from: try self.firstStart
            )
        if state.to == nil {
            let end = self.newestWindowEnd
            if try self.windowStart(state.from, of: "start of the next risks window") < end {
                // Saved before the first page, so that a run cut short reads the same window again and each
                // risk keeps its unit.
                state.to = end.sentinelOneText
                try await self.persistence.save(state)
            }
        }
        if let to = state.to {
            context.logger.info(
                "Pull Started. Retrieving vulnerabilities \(self.content.position.meaning) after \(state.from), up to \(to)"
            )
            try await self.read(window: &state, to: to, statistics: &statistics, context: context)
            if context.isShuttingDown { return statistics }
            state = State(from: to)
            try await self.persistence.save(state)
        }
        statistics.upToDate = true
        context.logger.info(
            "vulnerabilities are up to date: risks \(self.content.position.meaning) up to \(state.from) collected"
        )
        return statistics
    }

    /// Reads the window `(state.from, to]` by id from where `state` says it stopped, delivering and saving a
    /// page at a time.
    private func read(
        window state: inout State,
        to: String,
        statistics: inout PullCycleStatistics,
        context: PullContext
    ) async throws {
        let path = self.content.path
        let filter = self.content.position.filter ?? "riskUpdatedDate"
        let resource = "\(self.console.configuration.url)\(path)"
        let resumed = (passed: state.passed, greatestID: state.greatestID)
        var ordered = true
        var previous: String?
        var index = 0
        var trail = SentinelOneCursorTrail(resource: resource)
        var cursor: String?
        repeat {
            if context.isShuttingDown { return }
            var query =
                [
                    ("limit", "\(self.settings.pageSize)"), ("sortBy", self.content.position.sortBy),
                    ("sortOrder", "asc"),
                    ("\(filter)__gt", state.from), ("\(filter)__lte", to), ("includeRemovals", "true"),
                ] + self.scope
            if let cursor { query.append(("cursor", cursor)) }
            statistics.requests += 1
            let answer = try await self.console.get(path, query: query, logger: context.logger)
            let page = try SentinelOnePage(answer, resource: resource)
            let nextCursor = try trail.cursor(after: page)
            statistics.received += page.records.count
            var next = state
            var events: [Event] = []
            for record in page.records {
                index += 1
                guard let id = record.field(path: self.content.position.idPath) else {
                    throw TrawlError(
                        .sentinelOneAnswerUnreadable,
                        "a record of \(path) has no id: \(String(buffer: record.bytes).prefix(200))",
                        location: self.console.configuration.url
                    )
                }
                if ordered, let previous, !Self.precedes(previous, id) {
                    ordered = false
                    context.logger.warning(
                        "\(resource) listed risk \(id) after \(previous) although asked for ascending ids: a window cut short is resumed by its place in the list, which holds only while the console lists it alike and no risk leaves it"
                    )
                }
                previous = id
                next.passed = index
                if index <= resumed.passed, resumed.greatestID.map({ !Self.precedes($0, id) }) ?? true {
                    statistics.duplicatesFilteredOut += 1
                    continue
                }
                if next.greatestID.map({ Self.precedes($0, id) }) ?? true { next.greatestID = id }
                events.append(
                    Event(
                        tag: self.tag,
                        body: record.withMessageClass(self.content.messageClass),
                        metadata: EventMetadata(
                            source: self.name,
                            unit: "vulnerabilities \(id)@\(to)",
                            offset: 0,
                            pullingID: context.pullingID
                        )
                    )
                )
            }
            if !events.isEmpty {
                try await self.deliver(events, unit: "\(self.name) (\(state.from), \(to)]@\(index)", context: context)
                statistics.sent += events.count
                state = next
                try await self.persistence.save(state)
            }
            cursor = nextCursor
        } while cursor != nil
    }

    /// Whether id `left` comes before `right` in ascending order: as numbers when both are digits (the
    /// console's ids are 18 or 19 digits, so text order would put `1…` of 19 digits before `2…` of 18), else
    /// as text.
    static func precedes(_ left: String, _ right: String) -> Bool {
        let digits = { (text: String) in !text.isEmpty && text.utf8.allSatisfy { $0 >= 0x30 && $0 <= 0x39 } }
        guard digits(left), digits(right) else { return left < right }
        let a = left.drop { $0 == "0" }
        let b = right.drop { $0 == "0" }
        return a.count != b.count ? a.count < b.count : a < b
    }
}
