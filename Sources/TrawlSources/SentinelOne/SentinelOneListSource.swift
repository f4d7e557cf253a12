import Foundation
import Logging
import NIOCore
import TrawlCore
import TrawlFormats

/// Collects one SentinelOne content type that the API lists (agents, threats, cloud detection alerts,
/// rogues): every record created or updated since the last run, oldest first, page by page.
///
/// The window is `updatedAt >= watermark`, sorted on `updatedAt`, paged by cursor only. The inclusive
/// bound repeats the records at the watermark, so the state keeps their ids and skips them: nothing at the
/// boundary is lost (as a strict `>` could lose records stamped in the same microsecond) and nothing is sent
/// twice. The state is saved after each page was accepted by every output; a run stopped or killed in the
/// middle starts again from the last saved page. A record updated later is sent again: a new version.
public final class SentinelOneListSource: SentinelOneConsoleSource {
    /// The saved position: the newest `updatedAt` delivered and the ids delivered at exactly that instant.
    public struct State: Codable, Sendable, Equatable {
        public var watermark: String
        public var boundaryIDs: [String]

        enum CodingKeys: String, CodingKey {
            case watermark
            case boundaryIDs = "boundary_ids"
        }

        /// Moves the window past a record delivered: a newer `updatedAt` starts a new boundary.
        mutating func advance(past id: String, updatedAt: String) {
            switch Self.order(updatedAt, self.watermark) {
            case .orderedDescending: self = State(watermark: updatedAt, boundaryIDs: [id])
            case .orderedSame: self.boundaryIDs.append(id)
            case .orderedAscending: break
            }
        }

        /// Puts the boundary ids as they are saved: each once, sorted, so one mark is always written alike.
        mutating func settle() {
            self.boundaryIDs = Array(Set(self.boundaryIDs)).sorted()
        }

        /// Whether the record `id` stamped `instant` is one this mark has passed: older than the mark, or at
        /// its instant and among its ids.
        func covers(id: String, at instant: String) -> Bool {
            switch Self.order(instant, self.watermark) {
            case .orderedAscending: true
            case .orderedSame: self.boundaryIDs.contains(id)
            case .orderedDescending: false
            }
        }

        /// Whether the record at `index` (from 1) stamped `stamp` (its id and time) was delivered before: by
        /// `mark` when there is one, else by the count delivered (`skip`, a state saved before marks were kept).
        /// A record without a stamp cannot be placed against a mark, so it is sent (at least once rather than
        /// never).
        static func wasDelivered(
            _ stamp: (id: String, created: String)?,
            index: Int,
            mark: State?,
            skip: Int
        ) -> Bool {
            guard let mark else { return index <= skip }
            guard let stamp else { return false }
            return mark.covers(id: stamp.id, at: stamp.created)
        }

        /// How two `updatedAt` compare as instants: the console's text and the configured start may write
        /// fractions of a second with different numbers of digits, which a text comparison misorders within
        /// a second. Text that is not a date compares as text.
        static func order(_ left: String, _ right: String) -> ComparisonResult {
            guard let a = parseUTCDatetime(left), let b = parseUTCDatetime(right) else {
                return left == right ? .orderedSame : left < right ? .orderedAscending : .orderedDescending
            }
            return a == b ? .orderedSame : a < b ? .orderedAscending : .orderedDescending
        }
    }

    /// `<input>/<service>`, the events' source.
    public let name: String
    public let content: SentinelOneContentType
    public let settings: SentinelOneServiceSettings
    public let console: SentinelOneConsole
    public let persistence: ServicePersistence<State>
    /// How many bytes of records a newest-first cycle holds in memory before it holds the rest in a temporary
    /// file (``SentinelOneHeldRecords``).
    let heldMemoryBudget: Int

    /// - Parameter heldMemoryBudget: 32 MiB but in tests.
    public init(
        name: String,
        content: SentinelOneContentType,
        settings: SentinelOneServiceSettings,
        console: SentinelOneConsole,
        persistence: ServicePersistence<State>,
        heldMemoryBudget: Int = 32 << 20
    ) {
        self.name = name
        self.content = content
        self.settings = settings
        self.console = console
        self.persistence = persistence
        self.heldMemoryBudget = heldMemoryBudget
    }

    public func collect(_ context: PullContext) async throws -> PullCycleStatistics {
        var statistics = PullCycleStatistics()
        var state =
            try await self.persistence.load()
            ?? State(
                watermark: try self.firstStart,
                boundaryIDs: []
            )
        let position = self.content.position
        context.logger.info(
            "Pull Started. Retrieving \(self.content.service) \(position.meaning) since \(state.watermark)"
        )
        guard let filter = position.filter else {
            return try await self.collectNewestFirst(from: state, context: context)
        }
        var trail = SentinelOneCursorTrail(resource: "\(self.console.configuration.url)\(self.content.path)")
        var cursor: String?
        var stale = 0
        let start = state.watermark
        defer {
            if stale > 0 {
                context.logger.warning(
                    "\(self.console.configuration.url)\(self.content.path) answered \(stale) record(s) \(position.meaning) before \(start), which the request's \(filter)__gte excludes: skipped as delivered before"
                )
            }
        }
        repeat {
            if context.isShuttingDown { return statistics }
            let (page, nextCursor) = try await self.listPage(
                since: state,
                after: cursor,
                trail: &trail,
                statistics: &statistics,
                logger: context.logger
            )
            let boundary = Set(state.boundaryIDs)
            var fresh: [Listed] = []
            for record in page.records {
                let (id, updated) = try self.stamp(of: record, from: self.content.path, by: position)
                if State.order(updated, start) == .orderedAscending {
                    // Delivered before (or before the configured start): the console ignored the filter.
                    statistics.duplicatesFilteredOut += 1
                    stale += 1
                    continue
                }
                if State.order(updated, state.watermark) == .orderedSame, boundary.contains(id) {
                    statistics.duplicatesFilteredOut += 1
                    continue
                }
                fresh.append((record, id, updated))
            }
            try await self.deliver(fresh, moving: &state, statistics: &statistics, context: context)
            cursor = nextCursor
        } while cursor != nil
        return self.upToDate(at: state, statistics, logger: context.logger)
    }
}

extension SentinelOneListSource.State {
    enum RiskWindowKeys: String, CodingKey {
        case from
    }

    /// Reads a saved position. A `vulnerabilities` state saved while the service read the risks endpoint has
    /// instead the start of its next window (`from`): the watermark starts there, so that switching
    /// `vulnerabilities_source` goes on from where the other endpoint was read up to rather than stopping on
    /// a state it cannot read.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        if container.contains(.watermark) {
            self.init(
                watermark: try container.decode(String.self, forKey: .watermark),
                boundaryIDs: try container.decode([String].self, forKey: .boundaryIDs)
            )
        } else {
            let window = try decoder.container(keyedBy: RiskWindowKeys.self)
            self.init(watermark: try window.decode(String.self, forKey: .from), boundaryIDs: [])
        }
    }
}

extension SentinelOneListSource {
    /// For an endpoint that sorts on the time but cannot filter on it (`/installed-applications`): reads the
    /// records newest first until they reach the watermark, then delivers those past it oldest first, a page
    /// at a time, saving the watermark after each page every output accepted. What a cycle holds is what
    /// changed since the last one (in memory up to `heldMemoryBudget`, the rest in a temporary file); a stop
    /// or crash reads newest first again, down to the saved watermark.
    func collectNewestFirst(from saved: State, context: PullContext) async throws -> PullCycleStatistics {
        var statistics = PullCycleStatistics()
        var state = saved
        let boundary = Set(state.boundaryIDs)
        var newer = SentinelOneHeldRecords(memoryBudget: self.heldMemoryBudget)
        var trail = SentinelOneCursorTrail(resource: "\(self.console.configuration.url)\(self.content.path)")
        var cursor: String?
        reading: repeat {
            if context.isShuttingDown { return statistics }
            let (page, nextCursor) = try await self.listPage(
                since: state,
                newestFirst: true,
                after: cursor,
                trail: &trail,
                statistics: &statistics,
                logger: context.logger
            )
            for record in page.records {
                let (id, updated) = try self.stamp(of: record, from: self.content.path, by: self.content.position)
                switch State.order(updated, state.watermark) {
                case .orderedAscending:
                    break reading
                case .orderedSame where boundary.contains(id):
                    statistics.duplicatesFilteredOut += 1
                case .orderedSame, .orderedDescending:
                    newer.append(record, logger: context.logger)
                }
            }
            cursor = nextCursor
        } while cursor != nil
        if newer.spilled > 0 {
            context.logger.info(
                "\(newer.count) \(self.content.service) changed since \(state.watermark): \(newer.spilled) of them are held in a temporary file until they are delivered"
            )
        }
        while !newer.isEmpty {
            if context.isShuttingDown { return statistics }
            let page = try newer.takeOldest(self.settings.pageSize).map { record in
                let (id, updated) = try self.stamp(of: record, from: self.content.path, by: self.content.position)
                return (record, id, updated)
            }
            try await self.deliver(page, moving: &state, statistics: &statistics, context: context)
        }
        return self.upToDate(at: state, statistics, logger: context.logger)
    }

    /// The next page of the listing after `cursor` (from `state`'s watermark on, or with `newestFirst` all of
    /// it newest first), counted, its cursor checked against the pages read before.
    func listPage(
        since state: State,
        newestFirst: Bool = false,
        after cursor: String?,
        trail: inout SentinelOneCursorTrail,
        statistics: inout PullCycleStatistics,
        logger: Logger
    ) async throws -> (page: SentinelOnePage, next: String?) {
        let page = try await self.updatedPage(
            self.content.path,
            since: state,
            by: self.content.position,
            newestFirst: newestFirst,
            cursor: cursor,
            statistics: &statistics,
            logger: logger
        )
        statistics.received += page.records.count
        return (page, try trail.cursor(after: page))
    }

    /// A listed record with its id and time.
    typealias Listed = (record: SentinelOnePage.Record, id: String, updated: String)

    /// Delivers `records` (past the watermark, oldest first), then saves the position past them once every
    /// output accepted them.
    func deliver(
        _ records: [Listed],
        moving state: inout State,
        statistics: inout PullCycleStatistics,
        context: PullContext
    ) async throws {
        var next = state
        var events: [Event] = []
        for (record, id, updated) in records {
            next.advance(past: id, updatedAt: updated)
            events.append(
                try await self.event(for: record, id: id, updated: updated, statistics: &statistics, context: context)
            )
        }
        if !events.isEmpty {
            try await self.deliver(events, unit: "\(self.name) page after \(state.watermark)", context: context)
            statistics.sent += events.count
        }
        guard next != state else { return }
        next.settle()
        try await self.persistence.save(next)
        state = next
    }

    /// `statistics` of a cycle that read the listing to its end, and the log line saying so.
    func upToDate(at state: State, _ statistics: PullCycleStatistics, logger: Logger) -> PullCycleStatistics {
        var statistics = statistics
        statistics.upToDate = true
        logger.info(
            "\(self.content.service) are up to date: last \(self.content.position.timePath.joined(separator: ".")) \(state.watermark)"
        )
        return statistics
    }

    /// The event for a listed record: its bytes with `msg_class` first, the threat's `alert` or the
    /// application's `cves` added, named by the record's id and time (each version is its own unit).
    func event(
        for record: SentinelOnePage.Record,
        id: String,
        updated: String,
        statistics: inout PullCycleStatistics,
        context: PullContext
    ) async throws -> Event {
        var extra = self.content.mapsAlerts ? SentinelOneThreatAlert.member(for: record.bytes) : nil
        if let enrichment = self.content.enrichment {
            extra = try await self.enrichment(enrichment, of: id, statistics: &statistics, logger: context.logger)
        }
        return Event(
            tag: self.tag,
            body: record.withMessageClass(self.content.messageClass, extra: extra),
            metadata: EventMetadata(
                source: self.name,
                unit: "\(self.content.service) \(id)@\(updated)",
                offset: 0,
                pullingID: context.pullingID
            )
        )
    }

    /// `"<field>":[...]`: every record of the enrichment's list for record `id`, as the console wrote them
    /// (an empty list when the console answers 404).
    func enrichment(
        _ enrichment: SentinelOneContentType.Enrichment,
        of id: String,
        statistics: inout PullCycleStatistics,
        logger: Logger
    ) async throws -> String {
        let path = enrichment.path.replacingOccurrences(of: "{id}", with: id)
        var items: [String] = []
        var trail = SentinelOneCursorTrail(resource: "\(self.console.configuration.url)\(path)")
        var cursor: String?
        repeat {
            var query = [("limit", "1000")]
            if let cursor { query.append(("cursor", cursor)) }
            statistics.requests += 1
            let answer: ByteBuffer
            do {
                answer = try await self.console.get(path, query: query, logger: logger)
            } catch let error as TrawlError where error.code == .sentinelOneNotFound {
                break
            }
            let page = try SentinelOnePage(answer, resource: "\(self.console.configuration.url)\(path)")
            let nextCursor = try trail.cursor(after: page)
            items += page.records.map { String(buffer: $0.bytes) }
            cursor = nextCursor
        } while cursor != nil
        return "\"\(enrichment.field)\":[\(items.joined(separator: ","))]"
    }
}

/// One answer of a SentinelOne list endpoint: its records, byte for byte, and the next page's cursor.
struct SentinelOnePage {
    struct Record {
        var bytes: ByteBuffer

        /// A top-level string field.
        func field(_ name: String) -> String? {
            self.field(path: [name])
        }

        /// Its `id` and `createdAt`, where a child of a threat or a Deep Visibility event is placed; nil when
        /// it lacks either.
        var creation: (id: String, created: String)? {
            self.field("id").flatMap { id in self.field("createdAt").map { (id, $0) } }
        }

        /// The string field at `path`, through nested objects (`["alertInfo", "alertId"]`).
        func field(path: [String]) -> String? {
            guard let last = path.last else { return nil }
            return self.bytes.withUnsafeReadableBytes { raw in
                var object = raw
                for name in path.dropLast() {
                    guard let range = JSONFieldReader.value(of: Array(name.utf8), in: object) else { return nil }
                    object = UnsafeRawBufferPointer(rebasing: object[range])
                }
                return JSONFieldReader.stringValue(of: Array(last.utf8), in: object).map {
                    String(decoding: UnsafeRawBufferPointer(rebasing: object[$0]), as: UTF8.self)
                }
            }
        }

        /// The record with `"msg_class":"<class>"` as its first field (and `extra`, a JSON member, next), the
        /// rest untouched.
        func withMessageClass(_ messageClass: String, extra: String? = nil) -> ByteBuffer {
            var out = ByteBuffer()
            out.reserveCapacity(self.bytes.readableBytes + messageClass.utf8.count + (extra?.utf8.count ?? 0) + 16)
            out.writeString("{\"msg_class\":\"\(messageClass)\"")
            if let extra { out.writeString(",\(extra)") }
            var rest = self.bytes
            while let first = rest.readableBytesView.first, first != UInt8(ascii: "{") {
                rest.moveReaderIndex(forwardBy: 1)
            }
            rest.moveReaderIndex(forwardBy: min(1, rest.readableBytes))
            let body = rest.readableBytesView.drop { $0 == 0x20 || $0 == 0x09 || $0 == 0x0a || $0 == 0x0d }
            if body.first != UInt8(ascii: "}") { out.writeInteger(UInt8(ascii: ",")) }
            out.writeBytes(body)
            return out
        }
    }

    var records: [Record]
    var nextCursor: String?
    /// `pagination.totalItems`, when the console says.
    var totalItems: Int?

    /// - Throws: ApiError 446 when the answer is not the API's envelope.
    init(_ answer: ByteBuffer, resource: String) throws {
        func unreadable(_ why: String) -> TrawlError {
            TrawlError(
                .sentinelOneAnswerUnreadable,
                "the answer of \(resource) \(why); it starts with \(String(buffer: answer).prefix(120).debugDescription)",
                location: resource
            )
        }
        guard let envelope = try? JSONSerialization.jsonObject(with: Data(answer.readableBytesView)) as? [String: Any],
            let data = envelope["data"] as? [Any]
        else { throw unreadable("is not a JSON object with a data list") }
        if let index = data.firstIndex(where: { !($0 is [String: Any]) }) {
            // Each record is sent as a JSON object with msg_class first: anything else would go out mangled.
            throw unreadable("has a data item \(index + 1) that is not a JSON object")
        }
        let pagination = envelope["pagination"] as? [String: Any]
        let cursor = pagination?["nextCursor"]
        guard cursor == nil || cursor is String || cursor is NSNull else {
            // Read as "no next page", it would end the listing with pages still unread.
            throw unreadable("has a pagination.nextCursor that is neither a string nor null")
        }
        self.nextCursor = (cursor as? String).flatMap { $0.isEmpty ? nil : $0 }
        self.totalItems = pagination?["totalItems"] as? Int
        var splitter = RecordFormat.jsonDocument(listField: "data").makeSplitter()
        var records: [ByteBuffer] = []
        do {
            try splitter.consume(answer, into: &records)
            try splitter.finish(into: &records)
        } catch {
            throw unreadable("cannot be split into records: \(error)")
        }
        guard records.count == data.count else {
            throw unreadable("holds \(records.count) records where its data list has \(data.count)")
        }
        self.records = records.map { Record(bytes: $0) }
    }
}
