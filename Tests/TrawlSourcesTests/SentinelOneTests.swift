import Foundation
import Logging
import Metrics
import MetricsTestKit
import NIOCore
import Synchronization
import Testing
import TrawlCore
import TrawlTesting

@testable import TrawlSources

@Suite struct SentinelOneRequestPacerTests {
    typealias Instant = ManualClock.Instant
    static func at(_ seconds: Int) -> Instant { Instant(offset: .seconds(seconds)) }

    @Test func requestsAreSpacedToTheBudgetAcrossServices() {
        var pacer = SentinelOneRequestPacer<Instant>(configuration: .init(requestsPerMinute: 60))
        #expect(pacer.reserve(now: Self.at(0)) == Self.at(0))
        #expect(pacer.reserve(now: Self.at(0)) == Self.at(1), "a second service waits its turn")
        #expect(pacer.reserve(now: Self.at(0)) == Self.at(2))
        #expect(pacer.reserve(now: Self.at(10)) == Self.at(10), "an idle console is not owed a wait")
    }

    @Test func retryAfterPausesEveryServiceOfTheConsole() {
        var pacer = SentinelOneRequestPacer<Instant>(
            configuration: .init(requestsPerMinute: 6_000, maxDelay: .seconds(60))
        )
        _ = pacer.reserve(now: Self.at(0))
        #expect(pacer.refused(now: Self.at(0), retryAfter: .seconds(7), random: 0.5) == .seconds(7))
        #expect(pacer.reserve(now: Self.at(1)) == Self.at(7))
        #expect(pacer.reserve(now: Self.at(1)) > Self.at(7))
        #expect(pacer.refused(now: Self.at(8), retryAfter: .seconds(3_600), random: 0) == .seconds(60), "capped")
        #expect(
            pacer.refused(now: Self.at(9), retryAfter: .seconds(1), random: 0) == .seconds(59),
            "a shorter ask does not shorten the pause"
        )
    }

    @Test func refusalsWithoutRetryAfterBackOffExponentiallyWithJitterAndResetOnSuccess() {
        var pacer = SentinelOneRequestPacer<Instant>(
            configuration: .init(requestsPerMinute: 6_000, baseDelay: .seconds(2), maxDelay: .seconds(16))
        )
        var now = Self.at(0)
        var pauses: [Duration] = []
        for _ in 0..<5 {
            let pause = pacer.refused(now: now, retryAfter: nil, random: 1)
            pauses.append(pause)
            now = now.advanced(by: pause)
        }
        #expect(pauses == [.seconds(2), .seconds(4), .seconds(8), .seconds(16), .seconds(16)])
        #expect(pacer.refused(now: now, retryAfter: nil, random: 0) == .seconds(8), "half the ceiling at least")
        pacer.accepted()
        #expect(pacer.refusals == 0)
        #expect(pacer.refused(now: now.advanced(by: .seconds(100)), retryAfter: nil, random: 1) == .seconds(2))
    }
}

/// What an output holds: the events it accepted, in order, each once. Like the `file` output's journal, it
/// recognises an event sent again after a crash by its (source, unit, offset) and counts it instead.
final class DeliveredEvents: Sendable {
    private let state = Mutex<(events: [Event], seen: Set<String>, repeats: Int)>(([], [], 0))

    func add(_ more: [Event]) {
        self.state.withLock { state in
            for event in more {
                let key = "\(event.metadata.source) \(event.metadata.unit) \(event.metadata.offset)"
                if state.seen.insert(key).inserted {
                    state.events.append(event)
                } else {
                    state.repeats += 1
                }
            }
        }
    }

    var all: [Event] { self.state.withLock { $0.events } }
    /// Events sent again, which only a crash before the source saved its position may cause.
    var repeats: Int { self.state.withLock { $0.repeats } }
}

/// The SentinelOne list services against the simulator.
struct SentinelOneHarness {
    let simulator: SentinelOneSimulator
    let directory: TemporaryDirectory
    let log = RecordingLogger()
    let gate = SentinelOneRequestGate(
        configuration: .init(requestsPerMinute: 6_000, baseDelay: .milliseconds(200), maxDelay: .seconds(1))
    )

    static func make(clockStart: UTCTimestamp = SentinelOneSimulator.clockStart) async throws -> SentinelOneHarness {
        SentinelOneHarness(
            simulator: try await SentinelOneSimulator(clockStart: clockStart),
            directory: try TemporaryDirectory()
        )
    }

    /// A harness whose console's clock starts a minute before now: the children it stamps are within
    /// `query_lag_in_seconds` of a read, as a new threat's are.
    static func withAFreshConsole() async throws -> SentinelOneHarness {
        let now = UTCTimestamp.now().microsecondsSinceEpoch
        return try await Self.make(clockStart: UTCTimestamp(microsecondsSinceEpoch: now - 60_000_000))
    }

    /// Adds a note to `threat` stamped a millisecond after `note`, so the console lists it after newer ones;
    /// its id.
    func addLateNote(to threat: String, after note: [String: Any]) async throws -> String {
        let text = try #require(note["createdAt"] as? String)
        let created = try #require(parseUTCDatetime(text))
        return try await self.simulator.addChild(
            "threat-notes",
            to: threat,
            createdAt: UTCTimestamp(microsecondsSinceEpoch: created.microsecondsSinceEpoch + 1_000).sentinelOneText
        )
    }

    func remove() {
        self.simulator.stop()
        self.directory.remove()
    }

    /// A harness whose console holds `count` agents, which a first pull of `agents` delivered into the events
    /// returned.
    static func withAgentsDelivered(_ count: Int) async throws -> (SentinelOneHarness, DeliveredEvents) {
        let harness = try await SentinelOneHarness.make()
        do {
            try await harness.simulator.add("agents", count: count)
            let delivered = DeliveredEvents()
            _ = try await harness.pull(try harness.source("agents"), into: delivered)
            return (harness, delivered)
        } catch {
            harness.remove()
            throw error
        }
    }

    /// A fresh source for `service`, as after a restart: only the state store carries over.
    func source(
        _ service: String,
        content: SentinelOneContentType? = nil,
        token: String = SentinelOneSimulator.viewerToken,
        start: String = SentinelOneSimulator.historicalStart,
        extra: String = "",
        heldMemoryBudget: Int = 32 << 20,
        maxAnswerBytes: Int = 64 << 20
    ) throws -> SentinelOneListSource {
        let settings = try SettingsFixture.valid(
            SentinelOneServiceSettings.self,
            yaml: "{page_size: 7, historical_poll_datetime: \"\(start)\"\(extra)}"
        )
        let store = try FileStateStore(directory: "\(self.directory.path)/state")
        return SentinelOneListSource(
            name: "s1/\(service)",
            content: try content ?? #require(SentinelOneContentType.listed.first { $0.service == service }),
            settings: settings,
            console: SentinelOneConsole(
                configuration: .init(url: self.simulator.url + "/", token: token, maxAnswerBytes: maxAnswerBytes),
                gate: self.gate
            ),
            persistence: ServicePersistence(
                store: store,
                key: StateKey(collectorID: "c", input: "1", service: service),
                resetPersistenceAuth: "",
                logger: self.log.logger
            ),
            heldMemoryBudget: heldMemoryBudget
        )
    }

    /// A fresh `threat_events` or `threat_notes` source, as after a restart.
    func threatChildren(
        _ service: String,
        pageSize: Int = 4,
        start: String = SentinelOneSimulator.historicalStart,
        markRetention: Duration = SentinelOneThreatChildSource.defaultMarkRetention,
        now: @escaping @Sendable () -> UTCTimestamp = { UTCTimestamp.now() }
    ) throws -> SentinelOneThreatChildSource {
        SentinelOneThreatChildSource(
            name: "s1/\(service)",
            content: try #require(SentinelOneThreatChildSource.contents.first { $0.service == service }),
            settings: try SettingsFixture.valid(
                SentinelOneServiceSettings.self,
                yaml:
                    "{page_size: \(pageSize), historical_poll_datetime: \"\(start)\"}"
            ),
            console: SentinelOneConsole(
                configuration: .init(url: self.simulator.url, token: SentinelOneSimulator.viewerToken),
                gate: self.gate
            ),
            persistence: ServicePersistence(
                store: try FileStateStore(directory: "\(self.directory.path)/state"),
                key: StateKey(collectorID: "c", input: "1", service: service),
                resetPersistenceAuth: "",
                logger: self.log.logger
            ),
            markRetention: markRetention,
            now: now
        )
    }

    /// A threat given three notes (one per update), which a first pull of `threat_notes` (two a page)
    /// delivered; the notes as the console holds them.
    func threatWithItsNotesDelivered() async throws -> (
        threat: String, delivered: DeliveredEvents, notes: [[String: Any]]
    ) {
        let threat = try #require(try await self.simulator.add("threats", count: 1).first?["id"] as? String)
        for _ in 0..<3 { _ = try await self.simulator.update("threats", ids: [threat], addChildren: true) }
        let delivered = DeliveredEvents()
        _ = try await self.pull(try self.threatChildren("threat_notes", pageSize: 2), into: delivered)
        let notes = try #require(try await self.simulator.threatChildren("threat-notes")[threat])
        #expect(delivered.all.count == notes.count)
        return (threat, delivered, notes)
    }

    /// A fresh `vulnerabilities` source reading `/application-management/risks`, as after a restart.
    func risks() throws -> SentinelOneApplicationRiskSource {
        SentinelOneApplicationRiskSource(
            name: "s1/vulnerabilities",
            settings: try SettingsFixture.valid(
                SentinelOneServiceSettings.self,
                yaml:
                    "{page_size: 7, historical_poll_datetime: \"\(SentinelOneSimulator.historicalStart)\", vulnerabilities_source: risks, query_lag_in_seconds: 0}"
            ),
            console: SentinelOneConsole(
                configuration: .init(url: self.simulator.url, token: SentinelOneSimulator.viewerToken),
                gate: self.gate
            ),
            persistence: ServicePersistence(
                store: try FileStateStore(directory: "\(self.directory.path)/state"),
                key: StateKey(collectorID: "c", input: "1", service: "vulnerabilities"),
                resetPersistenceAuth: "",
                logger: self.log.logger
            )
        )
    }

    /// A fresh Deep Visibility source, as after a restart.
    func deepVisibility(extra: String = "") throws -> SentinelOneDeepVisibilitySource {
        let settings = try SettingsFixture.valid(
            SentinelOneServiceSettings.self,
            yaml:
                "{page_size: 7, historical_poll_datetime: \"\(SentinelOneSimulator.historicalStart)\", max_window_in_seconds: 86400, query_poll_interval_in_seconds: 0, max_events_per_query: 20\(extra)}"
        )
        return SentinelOneDeepVisibilitySource(
            name: "s1/deep_visibility",
            settings: settings,
            console: SentinelOneConsole(
                configuration: .init(url: self.simulator.url, token: SentinelOneSimulator.viewerToken),
                gate: self.gate
            ),
            persistence: ServicePersistence(
                store: try FileStateStore(directory: "\(self.directory.path)/state"),
                key: StateKey(collectorID: "c", input: "1", service: "deep_visibility"),
                resetPersistenceAuth: "",
                logger: self.log.logger
            )
        )
    }

    /// One pull cycle into `delivered`; with `crashAfter`, the output fails every batch after that many,
    /// as if Trawl died before writing them, so the cycle ends in an error.
    func pull(
        _ source: any PullingSource,
        into delivered: DeliveredEvents,
        crashAfter: Int? = nil
    ) async throws -> PullCycleStatistics {
        let queue = BoundedEventQueue(maxBufferedEvents: 1_000)
        let dispatcher = EventDispatcher(queues: [queue], maxBatchEvents: 3)
        var statistics = PullCycleStatistics()
        try await source.withResources {
            statistics = try await withThrowingTaskGroup(of: Void.self) { group in
                let batches = try queue.takeBatches()
                group.addTask {
                    var taken = 0
                    for await batch in batches {
                        taken += 1
                        if let crashAfter, taken > crashAfter {
                            batch.acknowledgement.reject(TrawlError(.sinkWriteFailed, "the test output died"))
                            continue
                        }
                        delivered.add(batch.events)
                        batch.acknowledgement.release()
                    }
                }
                defer { group.cancelAll() }
                return try await source.pull(
                    PullContext(pullingID: PullingID.now(), dispatcher: dispatcher, logger: self.log.logger)
                )
            }
        }
        return statistics
    }
}

@Suite struct SentinelOneFirstPullStartTests {
    /// A historical_poll_datetime that has aged past a year stops only a service that would start from it
    /// (SetupError 9): one with saved state goes on from where it was, where the date refused at start-up
    /// stopped the whole collector a year after it was written.
    @Test func aStartOlderThanAYearStopsOnlyAServiceWithNoSavedState() async throws {
        let (harness, delivered) = try await SentinelOneHarness.withAgentsDelivered(3)
        defer { harness.remove() }
        #expect(delivered.all.count == 3)
        try await harness.simulator.add("agents", count: 2)
        let aged = "2020-01-01T00:00:00Z"
        let resumed = try await harness.pull(try harness.source("agents", start: aged), into: delivered)
        #expect(resumed.upToDate)
        #expect(delivered.all.count == 5 && delivered.repeats == 0)
        try await harness.simulator.add("threats", count: 1)
        _ = try await harness.pull(try harness.threatChildren("threat_notes"), into: DeliveredEvents())
        let notes = try await harness.pull(try harness.threatChildren("threat_notes", start: aged), into: delivered)
        #expect(notes.upToDate, "threat_notes with saved state goes on too")
        let error = await #expect(throws: TrawlError.self) {
            _ = try await harness.pull(try harness.source("threats", start: aged), into: DeliveredEvents())
        }
        #expect(error?.code == .historicalPollTooOld)
        #expect(error?.message.hasSuffix("where s1/threats would start as it has no saved state") == true)
    }
}

@Suite struct SentinelOneInstantOrderTests {
    static func records(_ json: String) throws -> [SentinelOnePage.Record] {
        try SentinelOnePage(ByteBuffer(string: #"{"data":\#(json)}"#), resource: "https://c/dv/events").records
    }

    static func ids(_ placed: [SentinelOneInstantOrder.Placed]) -> [String] {
        placed.map { $0.stamp?.id ?? ($0.record.field("id") ?? "-") }
    }

    /// A page's last instant waits for the next page, each instant goes out by id (numeric ids as numbers),
    /// and an event that cannot be placed goes out at once, after the instant held before it.
    @Test func instantsGoOutWholeByIdAndTheLastOneWaitsForTheNextPage() throws {
        var order = SentinelOneInstantOrder()
        let first = try Self.records(
            #"[{"id":"9","createdAt":"2026-11-01T00:00:00.001Z"},{"id":"10","createdAt":"2026-11-01T00:00:00.002Z"},{"id":"3","createdAt":"2026-11-01T00:00:00.002000Z"}]"#
        )
        #expect(Self.ids(order.take(first, isLast: false)) == ["9"])
        let second = try Self.records(
            #"[{"id":"2","createdAt":"2026-11-01T00:00:00.002Z"},{"note":"no id"},{"id":"1","createdAt":"2026-11-01T00:00:00.003Z"}]"#
        )
        #expect(Self.ids(order.take(second, isLast: false)) == ["2", "3", "10", "-"])
        #expect(Self.ids(order.take([], isLast: true)) == ["1"])
        #expect(order.take([], isLast: true).isEmpty)
    }
}

@Suite struct SentinelOneDeepVisibilityTests {
    /// Windows follow each other without overlap or gap, a window with more events than one query returns
    /// is halved, and a run that dies mid-window resumes it after what was delivered: every event arrives
    /// once.
    @Test func windowsNeitherOverlapNorLeaveGapsAndACrashResumesTheWindow() async throws {
        let harness = try await SentinelOneHarness.make()
        defer { harness.remove() }
        let created = try await harness.simulator.addDeepVisibilityEvents(57)
        let delivered = DeliveredEvents()
        await #expect(throws: AcknowledgementRejected.self) {
            _ = try await harness.pull(try harness.deepVisibility(), into: delivered, crashAfter: 4)
        }
        let statistics = try await harness.pull(try harness.deepVisibility(), into: delivered)
        #expect(statistics.upToDate)
        // Each page's last instant waits for the next page: the first page delivers 6 events (2 batches), the
        // second 7 (3 batches), of which the output took 2 before it died.
        #expect(
            statistics.duplicatesFilteredOut == 6,
            "the resumed window skipped its first page, saved before the crash"
        )
        let ids = delivered.all.compactMap { event in
            (try? JSONSerialization.jsonObject(with: Data(event.body.readableBytesView)) as? [String: Any])?["id"]
                as? String
        }
        #expect(ids.count == created.count && Set(ids) == Set(created.compactMap { $0["id"] as? String }))
        #expect(delivered.repeats == 6, "only what the output took after the last saved page came again")
        #expect(
            delivered.all.allSatisfy {
                String(buffer: $0.body).hasPrefix("{\"msg_class\":\"sentinelone_deep_visibility\",")
            }
        )

        let requests = try await harness.simulator.requests()
        let windows = requests.filter { ($0["path"] as? String)?.hasSuffix("/dv/init-query") == true }
            .compactMap { $0["body"] as? [String: Any] }
            .map { (from: $0["fromDate"] as? String ?? "", to: $0["toDate"] as? String ?? "") }
        let cancelled = requests.filter { ($0["path"] as? String)?.hasSuffix("/dv/cancel-query") == true }.count
        #expect(cancelled > 0, "a window past the limit was cancelled and halved")
        let start = SentinelOneSimulator.historicalStart.replacingOccurrences(of: "Z", with: ".000000Z")
        #expect(windows.first?.from == start)
        #expect(windows.allSatisfy { $0.from < $0.to })
        // Each window starts where the last one ended, or (after a halving or a crash) where it started.
        for (previous, next) in zip(windows, windows.dropFirst()) {
            #expect(next.from == previous.to || next.from == previous.from, "\(previous) then \(next)")
        }
        let finished = windows.reduce(into: [String: String]()) { $0[$1.from] = $1.to }
        var edge = start
        while let next = finished[edge] { edge = next }
        #expect(edge == windows.last?.to, "the windows chain from the start to the last end without a gap")
    }

    /// A window's events listed in another order when it is queried again (the console's shards answer
    /// events of one `createdAt` in any order): the resumed window skips the events its mark names and gives
    /// the others the places they had, where skipping the first ones by count delivered some twice and lost
    /// as many, and places taken from the console's order named other events than before.
    @Test func aResumedWindowSkipsWhatItsMarkNamesWhateverOrderTheConsoleListsItIn() async throws {
        let harness = try await SentinelOneHarness.make()
        defer { harness.remove() }
        var created: [[String: Any]] = []
        for _ in 0..<3 { created += try await harness.simulator.addDeepVisibilityEvents(5, atOneInstant: true) }
        let delivered = DeliveredEvents()
        // Pages of 7 hold the first instant and part of the second, then the rest of the second and part of
        // the third: each instant goes out whole, in batches of 3, and the output dies after 3 batches.
        await #expect(throws: AcknowledgementRejected.self) {
            _ = try await harness.pull(try harness.deepVisibility(), into: delivered, crashAfter: 3)
        }
        #expect(delivered.all.count == 8, "the first instant's 5 events and one batch of the second's")
        let statistics = try await harness.pull(try harness.deepVisibility(), into: delivered)
        #expect(statistics.upToDate)
        #expect(statistics.duplicatesFilteredOut == 5, "the first instant, which the saved mark names")
        #expect(delivered.repeats == 3, "the batch taken after the last saved page, under the places it had")
        let ids = delivered.all.compactMap { event in
            (try? JSONSerialization.jsonObject(with: Data(event.body.readableBytesView)) as? [String: Any])?["id"]
                as? String
        }
        #expect(ids.count == 15 && Set(ids) == Set(created.compactMap { $0["id"] as? String }), "\(ids.sorted())")
        let requests = try await harness.simulator.requests()
        let pages = requests.filter { ($0["path"] as? String)?.hasSuffix("/dv/events") == true }
        #expect(
            pages.allSatisfy { ($0["query"] as? String)?.contains("sortBy=createdAt&sortOrder=asc") == true },
            "events are asked for oldest first"
        )
    }

    /// A query the console never finishes is cancelled after query_timeout_in_seconds and fails the cycle:
    /// the service polled it without end, logging nothing.
    @Test func aQueryThatNeverFinishesIsCancelledAfterItsTimeout() async throws {
        let harness = try await SentinelOneHarness.make()
        defer { harness.remove() }
        _ = try await harness.simulator.addDeepVisibilityEvents(3)
        try await harness.simulator.fail(
            status: 200,
            count: 100_000,
            path: "/web/api/v2.1/dv/query-status",
            body: #"{"data":{"progressStatus":99,"responseState":"RUNNING"}}"#
        )
        let error = await #expect(throws: TrawlError.self) {
            _ = try await harness.pull(
                try harness.deepVisibility(extra: ", query_timeout_in_seconds: 1"),
                into: DeliveredEvents()
            )
        }
        #expect(error?.code == .sentinelOneServerError)
        #expect(
            error?.message.contains("was still running (progress 99%, RUNNING) 1 seconds after it started: cancelled")
                == true,
            "\(String(describing: error))"
        )
        #expect(error?.fix.contains("raise query_timeout_in_seconds") == true)
        let requests = try await harness.simulator.requests()
        #expect(requests.filter { ($0["path"] as? String)?.hasSuffix("/dv/cancel-query") == true }.count == 1)
        #expect(
            harness.log.messages(containing: "cancelled: it did not finish within query_timeout_in_seconds").count == 1
        )
    }

    /// A query-status answer that is not the API's JSON (a proxy's page) is ApiError 446 at once: it was read
    /// as "still running" and polled without end.
    @Test func anUnreadableQueryStatusIsAnErrorNotAQueryStillRunning() async throws {
        let harness = try await SentinelOneHarness.make()
        defer { harness.remove() }
        _ = try await harness.simulator.addDeepVisibilityEvents(3)
        let path = "/web/api/v2.1/dv/query-status"
        try await harness.simulator.fail(status: 200, count: 40, path: path, body: "<html>a proxy's page</html>")
        let delivered = DeliveredEvents()
        let error = await #expect(throws: TrawlError.self) {
            _ = try await harness.pull(try harness.deepVisibility(), into: delivered)
        }
        #expect(error?.code == .sentinelOneAnswerUnreadable)
        #expect(error?.location == "\(harness.simulator.url)/dv/query-status")
        #expect(error?.message.contains(#"is not a JSON object with a data object; it starts with "<html>"#) == true)
        let polls = try await harness.simulator.requests().filter { ($0["path"] as? String) == path }
        #expect(polls.count == 1)
        #expect(delivered.all.isEmpty)
    }
}

@Suite struct SentinelOneVulnerabilityTests {
    /// Installed applications arrive each with its CVEs; on newer consoles the risks endpoint is read. Both
    /// keep their position under the one `vulnerabilities` state, so switching `vulnerabilities_source` goes
    /// on from where the other endpoint was read up to, either way, where the other's state stopped the
    /// service (PersistenceError 200).
    @Test func applicationsCarryTheirCVEsAndRisksAreListed() async throws {
        let harness = try await SentinelOneHarness.make()
        defer { harness.remove() }
        try await harness.simulator.add("applications", count: 9)
        try await harness.simulator.add("risks", count: 5)
        let applications = DeliveredEvents()
        _ = try await harness.pull(
            try harness.source("vulnerabilities", content: .installedApplications),
            into: applications
        )
        let cves = try await harness.simulator.threatChildren("cves")
        #expect(applications.all.count == 9)
        for event in applications.all {
            let record = try JSONSerialization.jsonObject(with: Data(event.body.readableBytesView)) as? [String: Any]
            let id = record?["id"] as? String ?? ""
            let delivered = (record?["cves"] as? [[String: Any]] ?? []).compactMap { $0["cveId"] as? String }
            #expect(
                delivered.sorted() == (cves[id] ?? []).compactMap { $0["cveId"] as? String }.sorted(),
                "application \(id)"
            )
            #expect(record?["msg_class"] as? String == "sentinelone_vulnerabilities")
            #expect(event.tag == "edr.sentinelone.vulnerabilities")
        }
        let risks = DeliveredEvents()
        _ = try await harness.pull(try harness.risks(), into: risks)
        #expect(risks.all.count == 5)
        // The simulator stamps applications by its own clock, weeks back, and risks by the real one: nothing
        // changed since the risks' window ended.
        let back = try await harness.pull(
            try harness.source("vulnerabilities", content: .installedApplications),
            into: applications
        )
        #expect(back.upToDate && back.sent == 0)
    }

    /// `/application-management/risks` filters on `riskUpdatedDate` (the API v2.1 reference recommends it for
    /// changes) but neither shows it nor sorts on it, and offers no `updatedAt__gte`: the risks are read in
    /// windows of it, by id, removals included. Each change arrives once, also across a crash mid-window,
    /// where the source asked for `updatedAt__gte`, which the console refuses.
    @Test func risksAreReadInWindowsOfTheirSignificantChangesEachOnceAcrossACrash() async throws {
        let harness = try await SentinelOneHarness.make()
        defer { harness.remove() }
        let added = try await harness.simulator.add("risks", count: 30)
        let delivered = DeliveredEvents()
        await #expect(throws: AcknowledgementRejected.self) {
            _ = try await harness.pull(try harness.risks(), into: delivered, crashAfter: 4)
        }
        // A risk of the saved first page changes before the window is read again: it leaves the window, and
        // the risks after it move up a place.
        let left = try #require(added.first?["id"] as? String)
        try await harness.simulator.update("risks", ids: [left])
        let resumed = try await harness.pull(try harness.risks(), into: delivered)
        #expect(resumed.upToDate)
        #expect(resumed.duplicatesFilteredOut == 6, "the window read again skipped what is left of its first page")
        #expect(delivered.repeats == 3, "only what the output took after the last saved page came again")
        let ids = try delivered.all.map { try SentinelOneListSourceTests.json($0)["id"] as? String ?? "" }
        #expect(ids == added.compactMap { $0["id"] as? String }, "every risk once, by id")
        #expect(harness.log.messages(containing: "although asked for ascending ids").isEmpty)

        let changed = added.compactMap { $0["id"] as? String }.dropFirst().shuffled().prefix(3)
        try await harness.simulator.update("risks", ids: Array(changed))
        let second = try await harness.pull(try harness.risks(), into: delivered)
        #expect(second.sent == 4 && delivered.repeats == 3)
        let console = try await harness.simulator.records("risks")
        let sent = try delivered.all.suffix(4).map { try SentinelOneListSourceTests.json($0) }
        #expect(sent.compactMap { $0["id"] as? String } == (changed + [left]).sorted(), "what changed, by id")
        for var risk in sent {
            risk.removeValue(forKey: "msg_class")
            let now = console.first { $0["id"] as? String == risk["id"] as? String } ?? [:]
            #expect(NSDictionary(dictionary: risk) == NSDictionary(dictionary: now), "as the console has it now")
        }
        let third = try await harness.pull(try harness.risks(), into: delivered)
        #expect(third.sent == 0 && third.upToDate)

        let queries = try await harness.simulator.requests()
            .filter { ($0["path"] as? String)?.hasSuffix("/application-management/risks") == true }
            .compactMap { $0["query"] as? String }
        #expect(!queries.isEmpty)
        for query in queries {
            #expect(query.contains("riskUpdatedDate__gt=") && query.contains("riskUpdatedDate__lte="), "\(query)")
            #expect(query.contains("sortBy=id&sortOrder=asc") && query.contains("includeRemovals=true"), "\(query)")
            #expect(!query.contains("updatedAt__gte"), "\(query)")
        }
    }

    /// A console that lists a window out of ascending id order (here by id as text: 100…109 before 90…99) is
    /// warned about, and a window cut short is still resumed exactly while it lists it alike: by the risks'
    /// places in the list, not by the greatest id delivered alone (which would skip 90…99).
    @Test func risksListedOutOfIdOrderAreResumedByTheirPlaceAndGreatestID() async throws {
        let harness = try await SentinelOneHarness.make()
        defer { harness.remove() }
        let records: [[String: Any]] = (90..<110).map {
            ["id": "\($0)", "cveId": "CVE-2026-\(1000 + $0)", "siteId": "225494730938493804", "status": "Detected"]
        }
        try await harness.simulator.add("risks", records: records)
        let delivered = DeliveredEvents()
        await #expect(throws: AcknowledgementRejected.self) {
            _ = try await harness.pull(try harness.risks(), into: delivered, crashAfter: 4)
        }
        let resumed = try await harness.pull(try harness.risks(), into: delivered)
        #expect(resumed.upToDate)
        #expect(resumed.duplicatesFilteredOut == 7)
        let ids = try delivered.all.map { try SentinelOneListSourceTests.json($0)["id"] as? String ?? "" }
        #expect(ids.count == 20 && Set(ids) == Set(records.compactMap { $0["id"] as? String }), "\(ids)")
        #expect(
            harness.log.messages(containing: "listed risk 90 after 109 although asked for ascending ids").count == 2,
            "warned once per reading: \(harness.log.messages)"
        )
    }

    /// Ids are compared as the numbers they are: the console's are 18 or 19 digits, and text order would put
    /// a 19-digit id before a smaller 18-digit one.
    @Test func riskIdsAscendAsNumbers() {
        #expect(SentinelOneApplicationRiskSource.precedes("225494730938493804", "1000000000000000001"))
        #expect(!SentinelOneApplicationRiskSource.precedes("1000000000000000001", "225494730938493804"))
        #expect(!SentinelOneApplicationRiskSource.precedes("7", "7"))
        #expect(SentinelOneApplicationRiskSource.precedes("abc", "abd"))
    }

    /// Applications changed past the memory budget are held in a temporary file and delivered as those held
    /// in memory are: oldest first, each once, and a second cycle sends only what changed since.
    @Test func applicationsChangedPastTheMemoryBudgetAreHeldInAFileAndDeliveredOldestFirst() async throws {
        let harness = try await SentinelOneHarness.make()
        defer { harness.remove() }
        let added = try await harness.simulator.add("applications", count: 30)
        let delivered = DeliveredEvents()
        let source = {
            try harness.source("vulnerabilities", content: .installedApplications, heldMemoryBudget: 600)
        }
        let first = try await harness.pull(try source(), into: delivered)
        #expect(first.sent == 30 && first.upToDate)
        let ids = try delivered.all.map { try SentinelOneListSourceTests.json($0)["id"] as? String ?? "" }
        #expect(ids == added.compactMap { $0["id"] as? String }, "oldest first, each once")
        let held = harness.log.messages(containing: "30 vulnerabilities changed since")
        #expect(held.count == 1 && held.first?.contains("of them are held in a temporary file") == true, "\(held)")
        let updated = added.compactMap { $0["id"] as? String }.suffix(2)
        try await harness.simulator.update("applications", ids: Array(updated))
        let second = try await harness.pull(try source(), into: delivered)
        #expect(second.sent == 2 && delivered.repeats == 0)
    }

    /// `/installed-applications` sorts on `updatedAt` but has no `updatedAt__gte` (the API reference lists
    /// none, and the console refuses it): the applications are read newest first, only down to the last
    /// delivered, and what changed is delivered oldest first. The filter was asked for, and refused.
    @Test func applicationsAreReadNewestFirstDownToTheWatermarkWithoutAFilter() async throws {
        let harness = try await SentinelOneHarness.make()
        defer { harness.remove() }
        let added = try await harness.simulator.add("applications", count: 30)
        let delivered = DeliveredEvents()
        let source = { try harness.source("vulnerabilities", content: .installedApplications) }
        let first = try await harness.pull(try source(), into: delivered)
        #expect(first.sent == 30 && first.upToDate)
        let updated = added.compactMap { $0["id"] as? String }.prefix(2)
        try await harness.simulator.update("applications", ids: Array(updated))
        let before = try await harness.simulator.requests().count
        let second = try await harness.pull(try source(), into: delivered)
        #expect(second.sent == 2 && delivered.repeats == 0)
        let sent = try delivered.all.suffix(2).map { try SentinelOneListSourceTests.json($0)["id"] as? String }
        #expect(sent == Array(updated), "what changed, oldest first")
        let pages = try await harness.simulator.requests().dropFirst(before).filter {
            ($0["path"] as? String)?.hasSuffix("/installed-applications") == true
        }
        #expect(pages.count == 1, "one page of 7 reaches the watermark: \(pages.count) read")
        #expect(pages.allSatisfy { ($0["query"] as? String)?.contains("sortBy=updatedAt&sortOrder=desc") == true })
        #expect(pages.allSatisfy { ($0["query"] as? String)?.contains("updatedAt__gte") == false })
    }
}

@Suite struct SentinelOneHeldRecordsTests {
    static func records(_ range: Range<Int>) -> [SentinelOnePage.Record] {
        range.map { SentinelOnePage.Record(bytes: ByteBuffer(string: #"{"id":"\#($0)","name":"app \#($0)"}"#)) }
    }

    static func names(_ records: [SentinelOnePage.Record]) -> [String] {
        records.map { $0.field("id") ?? "?" }
    }

    /// Past the memory budget, records go to a temporary file, and all come back oldest first (the reverse
    /// of the newest-first listing), byte for byte, whatever part of them was in memory.
    @Test func recordsPastTheBudgetGoToAFileAndComeBackOldestFirst() throws {
        let log = RecordingLogger()
        var held = SentinelOneHeldRecords(memoryBudget: 200)
        let listed = Self.records(0..<50)
        for record in listed { held.append(record, logger: log.logger) }
        #expect(held.count == 50)
        #expect(held.spilled > 40, "about 6 records fit in 200 bytes: \(held.spilled) went to the file")
        var taken: [SentinelOnePage.Record] = []
        while !held.isEmpty { taken += try held.takeOldest(7) }
        #expect(Self.names(taken) == Self.names(listed.reversed()))
        #expect(taken.map { String(buffer: $0.bytes) } == listed.reversed().map { String(buffer: $0.bytes) })
        #expect(log.lines.isEmpty, "\(log.lines)")
    }

    /// A directory where no file can be made is warned about once, and the records stay in memory, in order.
    @Test func recordsStayInMemoryInOrderWhenNoFileCanBeMade() throws {
        let log = RecordingLogger()
        var held = SentinelOneHeldRecords(memoryBudget: 200, directory: "/nonexistent-trawl-directory")
        let listed = Self.records(0..<20)
        for record in listed { held.append(record, logger: log.logger) }
        #expect(held.spilled == 0 && held.count == 20)
        #expect(Self.names(try held.takeOldest(100)) == Self.names(listed.reversed()))
        #expect(log.messages(containing: "no temporary file can be made in /nonexistent-trawl-directory").count == 1)
    }
}

@Suite struct SentinelOneThreatChildTests {
    /// The events and notes of threats created or updated since the last run arrive once each, with their
    /// threat's id, across a crash and while threats gain new events and notes; threats without events (404)
    /// are no error.
    @Test(arguments: [
        ("threat_events", "threat-events", "sentinelone_threat_events"),
        ("threat_notes", "threat-notes", "sentinelone_threat_notes"),
    ])
    func childrenOfNewAndUpdatedThreatsArriveOnceEach(service: String, kind: String, messageClass: String) async throws
    {
        let harness = try await SentinelOneHarness.make()
        defer { harness.remove() }
        let simulator = harness.simulator
        try await simulator.add("threats", count: 14)
        let delivered = DeliveredEvents()
        await #expect(throws: AcknowledgementRejected.self) {
            _ = try await harness.pull(try harness.threatChildren(service), into: delivered, crashAfter: 3)
        }
        _ = try await harness.pull(try harness.threatChildren(service), into: delivered)
        let threats = try await simulator.records("threats").compactMap { $0["id"] as? String }
        try await simulator.update("threats", ids: Array(threats.shuffled().prefix(5)), addChildren: true)
        try await simulator.add("threats", count: 4)
        let statistics = try await harness.pull(try harness.threatChildren(service), into: delivered)
        #expect(statistics.upToDate)
        let repeats = delivered.repeats
        _ = try await harness.pull(try harness.threatChildren(service), into: delivered)
        #expect(delivered.repeats == repeats, "nothing is sent again once up to date")

        let console = try await simulator.threatChildren(kind)
        let expected = Set(
            console.flatMap { threat, children in children.map { "\(threat) \($0["id"] as? String ?? "")" } }
        )
        let got = try delivered.all.map { event -> String in
            let record = try JSONSerialization.jsonObject(with: Data(event.body.readableBytesView)) as? [String: Any]
            #expect(record?["msg_class"] as? String == messageClass)
            return "\(record?["threatId"] as? String ?? "") \(record?["id"] as? String ?? "")"
        }
        #expect(got.count == expected.count && Set(got) == expected)
        #expect(delivered.all.allSatisfy { $0.tag == "edr.sentinelone.\(service)" })
    }

    /// A note an analyst deleted does not make the next new note be skipped: the count of children
    /// delivered skipped as many new ones as were deleted.
    @Test func aDeletedChildDoesNotMakeANewOneBeSkipped() async throws {
        let harness = try await SentinelOneHarness.make()
        defer { harness.remove() }
        let simulator = harness.simulator
        let (threat, delivered, before) = try await harness.threatWithItsNotesDelivered()

        try await simulator.deleteChild("threat-notes", of: threat)
        _ = try await simulator.update("threats", ids: [threat], addChildren: true)
        let statistics = try await harness.pull(
            try harness.threatChildren("threat_notes", pageSize: 2),
            into: delivered
        )
        let after = try #require(try await simulator.threatChildren("threat-notes")[threat])
        #expect(statistics.duplicatesFilteredOut == after.count - 1, "the notes delivered before were skipped")
        let ids = delivered.all.compactMap { event in
            (try? JSONSerialization.jsonObject(with: Data(event.body.readableBytesView)) as? [String: Any])?["id"]
                as? String
        }
        #expect(ids.last == after.last?["id"] as? String, "the new note arrived")
        #expect(ids.count == before.count + 1 && delivered.repeats == 0)
    }

    /// The state keeps a mark only for threats with a child delivered within the retention: older marks are
    /// dropped, and a threat that lost its mark gets only its children created after the floor they were
    /// dropped at, while a threat created after that floor gets all of its children.
    @Test func marksPastTheirRetentionAreDroppedAndEveryChildStillArrivesOnce() async throws {
        let harness = try await SentinelOneHarness.make()
        defer { harness.remove() }
        let simulator = harness.simulator
        let threats = try await simulator.add("threats", count: 3).compactMap { $0["id"] as? String }
        _ = try await simulator.update("threats", ids: threats, addChildren: true)
        let source = { try harness.threatChildren("threat_notes", pageSize: 2, markRetention: .seconds(30)) }
        let delivered = DeliveredEvents()
        _ = try await harness.pull(try source(), into: delivered)
        let first = try await simulator.threatChildren("threat-notes")
        #expect(delivered.all.count == first.values.map(\.count).reduce(0, +))
        #expect(try await source().persistence.load()?.newest?.count == 3)

        // The console's clock moves on by each record it stamps (0.45 s on average).
        _ = try await simulator.add("agents", count: 400)
        _ = try await simulator.update("threats", ids: [threats[1]], addChildren: true)
        _ = try await harness.pull(try source(), into: delivered)
        let state = try #require(try await source().persistence.load())
        #expect(state.newest.map { Array($0.keys) } == [threats[1]], "only the mark of the threat updated is kept")
        #expect(
            state.floor != nil
                && state.origin.flatMap(parseUTCDatetime) == parseUTCDatetime(SentinelOneSimulator.historicalStart)
        )
        #expect(harness.log.messages(containing: "Dropped the marks of 2 threat(s)").count == 1)

        _ = try await simulator.update("threats", ids: [threats[0]], addChildren: true)
        let late = try #require(try await simulator.add("threats", count: 1).first?["id"] as? String)
        let statistics = try await harness.pull(try source(), into: delivered)
        let console = try await simulator.threatChildren("threat-notes")
        // The threat at the watermark is listed again, and its notes skipped by its mark.
        #expect(
            statistics.duplicatesFilteredOut == (first[threats[0]]?.count ?? 0) + (console[threats[1]]?.count ?? 0),
            "the notes of the threat that lost its mark delivered before were skipped by the floor"
        )
        #expect(statistics.sent == 1 + (console[late]?.count ?? 0), "its new note and every note of the new threat")
        let got = delivered.all.compactMap { event in
            (try? JSONSerialization.jsonObject(with: Data(event.body.readableBytesView)) as? [String: Any])?["id"]
                as? String
        }
        #expect(Set(got) == Set(console.values.flatMap { $0.compactMap { $0["id"] as? String } }))
        #expect(got.count == Set(got).count && delivered.repeats == 0)
    }

    /// A child the console lists after children created later than it (within `query_lag_in_seconds` of
    /// the read) is still sent, once: the mark names the children of that last stretch by id instead of
    /// skipping everything older than the newest child delivered.
    @Test func aChildListedAfterNewerOnesIsSentOnceWhenItsThreatIsReadAgain() async throws {
        let harness = try await SentinelOneHarness.withAFreshConsole()
        defer { harness.remove() }
        let simulator = harness.simulator
        let (threat, delivered, before) = try await harness.threatWithItsNotesDelivered()
        let mark = try #require(try await harness.threatChildren("threat_notes").persistence.load()?.newest?[threat])
        #expect(Set(mark.boundaryIDs) == Set(before.compactMap { $0["id"] as? String }), "named by id")

        let late = try await harness.addLateNote(to: threat, after: try #require(before.first))
        _ = try await simulator.update("threats", ids: [threat])
        let statistics = try await harness.pull(
            try harness.threatChildren("threat_notes", pageSize: 2),
            into: delivered
        )
        #expect(statistics.sent == 1 && statistics.duplicatesFilteredOut == before.count)
        let ids = delivered.all.compactMap { event in
            (try? JSONSerialization.jsonObject(with: Data(event.body.readableBytesView)) as? [String: Any])?["id"]
                as? String
        }
        #expect(ids.last == late && ids.count == before.count + 1 && delivered.repeats == 0)
    }

    /// A threat read within `query_lag_in_seconds` of its children's creation is read once more when that
    /// lag has passed, though it was not updated: a child listed late meanwhile is sent, and the mark is left
    /// at the newest child instead of naming every child of that last stretch.
    @Test func aThreatReadWhileItsChildrenWereFreshIsReadOnceMoreWhenTheLagHasPassed() async throws {
        let harness = try await SentinelOneHarness.withAFreshConsole()
        defer { harness.remove() }
        let simulator = harness.simulator
        let (older, delivered, notes) = try await harness.threatWithItsNotesDelivered()
        // A newer threat, which each cycle lists again (the threats' watermark is at it).
        let newer = try #require(try await simulator.add("threats", count: 1).first?["id"] as? String)
        _ = try await simulator.update("threats", ids: [newer], addChildren: true)
        _ = try await harness.pull(try harness.threatChildren("threat_notes", pageSize: 2), into: delivered)
        let fresh = try #require(try await harness.threatChildren("threat_notes").persistence.load())
        #expect(Set(fresh.unsettled ?? []) == [older, newer])
        #expect(fresh.newest?[older]?.boundaryIDs.count == notes.count, "every note of the older one named")

        let late = try await harness.addLateNote(to: older, after: try #require(notes.first))
        // Before the lag has passed, the older threat is not read; ten minutes on, it is (without an update).
        let early = try await harness.pull(try harness.threatChildren("threat_notes", pageSize: 2), into: delivered)
        #expect(early.sent == 0)
        let later: @Sendable () -> UTCTimestamp = {
            UTCTimestamp(microsecondsSinceEpoch: UTCTimestamp.now().microsecondsSinceEpoch + 600_000_000)
        }
        let settling = try await harness.pull(
            try harness.threatChildren("threat_notes", pageSize: 2, now: later),
            into: delivered
        )
        #expect(settling.sent == 1)
        let settled = try #require(try await harness.threatChildren("threat_notes").persistence.load())
        #expect(settled.unsettled == nil)
        let console = try await simulator.threatChildren("threat-notes")
        let newest = try #require(notes.last?["id"] as? String)
        #expect(settled.newest?[older]?.boundaryIDs == [newest], "the mark is at the newest note alone")
        let ids = delivered.all.compactMap { event in
            (try? JSONSerialization.jsonObject(with: Data(event.body.readableBytesView)) as? [String: Any])?["id"]
                as? String
        }
        #expect(ids.last == late && delivered.repeats == 0)
        #expect(Set(ids) == Set(console.values.flatMap { $0.compactMap { $0["id"] as? String } }))
    }

    /// The mark of a read stops at the settled instant (`query_lag_in_seconds` before the read) and names the
    /// children from there on, at most a thousand; it never moves back, and ids of a mark not met again
    /// are kept until the list was read to its end.
    @Test func aReadsMarkStopsWhereTheConsoleHasSettledAndNamesWhatFollows() {
        let at = { (second: Int) in "2026-06-01T00:00:\(second < 10 ? "0" : "")\(second).000000Z" }
        var pass = SentinelOneThreatChildPass(previous: nil, settled: at(30))
        #expect(pass.mark(complete: false) == nil, "nothing read, nothing marked")
        pass.read(id: "1", created: at(10))
        pass.read(id: "2", created: at(20))
        pass.read(id: "3", created: at(20))
        #expect(pass.mark(complete: false) == .init(watermark: at(20), boundaryIDs: ["2", "3"]))
        pass.read(id: "4", created: at(31))
        pass.read(id: "5", created: at(40))
        let mark = pass.mark(complete: true)
        #expect(mark == .init(watermark: at(30), boundaryIDs: ["4", "5"]))

        // The next read: older than the mark is delivered, after it only what the mark names.
        var next = SentinelOneThreatChildPass(previous: mark, settled: at(5))
        #expect(next.settled == at(30), "a settled instant before the previous mark's is not taken")
        #expect(next.wasDelivered(("9", at(29)), index: 1, skip: 0))
        #expect(next.wasDelivered(("4", at(31)), index: 2, skip: 0))
        #expect(!next.wasDelivered(("8", at(35)), index: 3, skip: 0), "a child listed late")
        #expect(!next.wasDelivered(nil, index: 4, skip: 0), "a child without a stamp is sent")
        next.read(id: "9", created: at(29))
        #expect(
            next.mark(complete: false) == .init(watermark: at(30), boundaryIDs: ["4", "5"]),
            "not back before the previous mark, whose ids stay until they are met or the list ends"
        )
        #expect(next.mark(complete: true) == .init(watermark: at(30), boundaryIDs: []), "4 and 5 were deleted")

        let micro = { (n: Int) in "2026-06-01T00:01:00.\(String(repeating: "0", count: 6 - "\(n)".count))\(n)Z" }
        var burst = SentinelOneThreatChildPass(previous: nil, settled: at(0))
        let limit = SentinelOneThreatChildPass.idLimit
        for id in 0..<(limit + 10) { burst.read(id: "\(id)", created: micro(id)) }
        let limited = burst.mark(complete: true)
        #expect(limited?.watermark == micro(10) && limited?.boundaryIDs.count == limit, "the newest thousand")
        #expect(limited?.boundaryIDs.contains("10") == true && limited?.boundaryIDs.contains("9") == false)

        // A long read keeps only the newest thousand as it goes; the mark then begins where they do.
        var long = SentinelOneThreatChildPass(previous: nil, settled: at(0))
        for id in 0..<(2 * limit) { long.read(id: "\(id)", created: micro(id)) }
        let trimmed = long.mark(complete: true)
        #expect(trimmed?.watermark == micro(limit) && trimmed?.boundaryIDs.count == limit)
        #expect(
            trimmed?.boundaryIDs.contains("\(limit)") == true && trimmed?.boundaryIDs.contains("\(limit - 1)") == false
        )
    }

    /// The floor places only threats created after the origin (every one of them was listed since) and up to
    /// the floor; marks are dropped only past the origin.
    @Test func theFloorPlacesOnlyThreatsCreatedBetweenTheOriginAndItself() {
        let mark = { (watermark: String) in SentinelOneListSource.State(watermark: watermark, boundaryIDs: ["1"]) }
        var state = SentinelOneThreatChildSource.State(
            threats: mark("2026-06-01T00:00:00.000000Z"),
            delivered: [:],
            newest: ["old": mark("2026-01-20T00:00:00Z"), "new": mark("2026-05-01T00:00:00.5Z")],
            origin: "2026-02-01T00:00:00Z"
        )
        #expect(state.dropMarks(olderThan: "2026-01-31T00:00:00Z") == 0, "nothing is dropped before the origin")
        #expect(state.floor == nil && state.newest?.count == 2)
        #expect(state.dropMarks(olderThan: "2026-03-01T00:00:00Z") == 1)
        #expect(state.newest.map { Array($0.keys) } == ["new"] && state.floor == "2026-03-01T00:00:00Z")
        #expect(state.floor(forThreatCreated: "2026-01-15T00:00:00Z") == nil, "created before the origin")
        #expect(state.floor(forThreatCreated: "2026-02-10T00:00:00.000001Z") == "2026-03-01T00:00:00Z")
        #expect(state.floor(forThreatCreated: "2026-03-01T00:00:00.000000Z") == "2026-03-01T00:00:00Z")
        #expect(state.floor(forThreatCreated: "2026-03-01T00:00:00.001Z") == nil, "created after the floor")
        #expect(state.floor(forThreatCreated: nil) == nil)
    }

    /// A threat whose events vanish (404) after their first page keeps that page delivered and counted, and
    /// the next run delivers the rest once they are back: the events were held until the list ended, so the
    /// 404 dropped them while counting them as delivered.
    @Test func childrenReadBeforeTheirListEndsEarlyAreDeliveredAndTheRestFollowLater() async throws {
        let harness = try await SentinelOneHarness.make()
        defer { harness.remove() }
        let simulator = harness.simulator
        let threat = try #require(try await simulator.add("threats", count: 1).first?["id"] as? String)
        for _ in 0..<5 { _ = try await simulator.update("threats", ids: [threat], addChildren: true) }
        let console = try #require(try await simulator.threatChildren("threat-events")[threat])
        #expect(console.count >= 5)
        try await simulator.fail(status: 404, count: 1, after: 1, path: "/web/api/v2.1/threats/\(threat)/")
        let delivered = DeliveredEvents()
        let first = try await harness.pull(try harness.threatChildren("threat_events", pageSize: 2), into: delivered)
        #expect(first.sent == 2 && delivered.all.count == 2, "the first page was delivered before the 404")

        let statistics = try await harness.pull(
            try harness.threatChildren("threat_events", pageSize: 2),
            into: delivered
        )
        #expect(statistics.duplicatesFilteredOut == 2, "the next run skipped the page delivered before")
        let ids = delivered.all.compactMap { event in
            (try? JSONSerialization.jsonObject(with: Data(event.body.readableBytesView)) as? [String: Any])?["id"]
                as? String
        }
        #expect(ids == console.compactMap { $0["id"] as? String }, "every event once, in the console's order")
        #expect(delivered.repeats == 0)
    }
}

@Suite struct SentinelOneListSourceTests {
    static func json(_ event: Event) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(event.body.readableBytesView)) as? [String: Any] ?? [:]
    }

    /// Alerts and rogues are followed by the times their endpoints filter and sort on (the API reference):
    /// alerts by `alertInfo.createdAt`, each sent once however it changes since, rogues by `lastSeen`, a
    /// device seen again sent again. Asked by `updatedAt`, as the agents are, the console refused both.
    @Test func alertsFollowTheirCreationAndRoguesTheirLastSightingAsTheirEndpointsFilter() async throws {
        let harness = try await SentinelOneHarness.make()
        defer { harness.remove() }
        let simulator = harness.simulator
        let alerts = try await simulator.add("alerts", count: 9)
        let rogues = try await simulator.add("rogues", count: 9)
        let alertIDs = alerts.compactMap { ($0["alertInfo"] as? [String: Any])?["alertId"] as? String }
        let rogueIDs = rogues.compactMap { $0["id"] as? String }
        let delivered = ["cloud_detection_alerts": DeliveredEvents(), "rogues": DeliveredEvents()]
        for service in ["cloud_detection_alerts", "rogues"] {
            _ = try await harness.pull(try harness.source(service), into: delivered[service]!)
        }
        try await simulator.update("alerts", ids: Array(alertIDs.prefix(3)))
        try await simulator.update("rogues", ids: Array(rogueIDs.prefix(3)))
        try await simulator.add("alerts", count: 2)
        for service in ["cloud_detection_alerts", "rogues"] {
            let statistics = try await harness.pull(try harness.source(service), into: delivered[service]!)
            #expect(statistics.upToDate)
        }
        let sentAlerts = try delivered["cloud_detection_alerts"]!.all.map {
            try Self.json($0)["alertInfo"] as? [String: Any] ?? [:]
        }
        #expect(sentAlerts.count == 11, "each alert once, as created")
        #expect(sentAlerts.allSatisfy { $0["analystVerdict"] as? String == "UNDEFINED" })
        #expect(Set(sentAlerts.compactMap { $0["alertId"] as? String }).isSuperset(of: alertIDs))
        let sentRogues = try delivered["rogues"]!.all.compactMap { try Self.json($0)["id"] as? String }
        #expect(sentRogues.count == 12, "9 devices, 3 of them seen again")
        #expect(Set(sentRogues) == Set(rogueIDs))
        let queries = try await simulator.requests().compactMap { request -> String? in
            guard let path = request["path"] as? String, !path.hasPrefix("/_sim") else { return nil }
            return "\(path)?\(request["query"] as? String ?? "")"
        }
        #expect(
            queries.contains { $0.contains("/cloud-detection/alerts?") && $0.contains("sortBy=alertInfoCreatedAt") }
        )
        #expect(queries.contains { $0.contains("/cloud-detection/alerts?") && $0.contains("createdAt__gte=") })
        #expect(queries.contains { $0.contains("/rogues/table-view?") && $0.contains("lastSeen__gte=") })
        #expect(!queries.contains { $0.contains("updatedAt") }, "\(queries)")
        #expect(harness.log.messages(containing: "Retrieving cloud_detection_alerts created since").count == 2)
    }

    /// Records keep being added and updated while the services run, restart, meet 429 and 503 answers and
    /// die mid-page; afterwards every record's newest version was delivered, in the console's own bytes with
    /// its msg_class, and no version was delivered twice.
    @Test func whatIsDeliveredEqualsTheConsoleAcrossRestartsFaultsAndUpdates() async throws {
        let harness = try await SentinelOneHarness.make()
        defer { harness.remove() }
        let simulator = harness.simulator
        try await simulator.add("agents", count: 25)
        try await simulator.add("threats", count: 12)
        let delivered = ["agents": DeliveredEvents(), "threats": DeliveredEvents()]
        var random = SystemRandomNumberGenerator()
        for round in 0..<6 {
            for (type, count) in [("agents", 9), ("threats", 5)] {
                try await simulator.add(type, count: Int.random(in: 0...count, using: &random))
                let ids = try await simulator.records(type).compactMap { $0["id"] as? String }.shuffled()
                try await simulator.update(type, ids: Array(ids.prefix(Int.random(in: 0...4, using: &random))))
            }
            if round == 1 { try await simulator.fail(status: 429, count: 2, retryAfter: 1) }
            if round == 3 { try await simulator.fail(status: 503, count: 1) }
            for service in ["agents", "threats"] {
                let crash = round % 2 == 0 ? Int.random(in: 0...4, using: &random) : nil
                let repeatsBefore = delivered[service]!.repeats
                do {
                    _ = try await harness.pull(
                        try harness.source(service),
                        into: delivered[service]!,
                        crashAfter: crash
                    )
                } catch is AcknowledgementRejected {
                    #expect(crash != nil)
                }
                if round % 2 == 0 {
                    #expect(delivered[service]!.repeats == repeatsBefore, "nothing is sent again without a crash")
                }
            }
        }
        for service in ["agents", "threats"] {
            let statistics = try await harness.pull(try harness.source(service), into: delivered[service]!)
            #expect(statistics.upToDate)
            let again = delivered[service]!.repeats
            _ = try await harness.pull(try harness.source(service), into: delivered[service]!)
            #expect(delivered[service]!.repeats == again, "an up-to-date service sends nothing again")
        }

        for (service, type, messageClass) in [
            ("agents", "agents", "sentinelone_host"), ("threats", "threats", "sentinelone_threat_detection"),
        ] {
            let events = delivered[service]!.all
            let versions = events.map { $0.metadata.unit }
            #expect(Set(versions).count == versions.count, "\(service): a version delivered twice")
            var newest: [String: [String: Any]] = [:]
            for event in events {
                #expect(event.tag == "edr.sentinelone.\(service)")
                #expect(String(buffer: event.body).hasPrefix("{\"msg_class\":\"\(messageClass)\","))
                var record = try Self.json(event)
                record.removeValue(forKey: "msg_class")
                if let alert = record.removeValue(forKey: "alert") as? [String: Any] {
                    #expect(service == "threats", "only threats carry the native-alert mapping")
                    let info = record["threatInfo"] as? [String: Any]
                    #expect(alert["classification"] as? String == info?["classification"] as? String)
                    #expect(alert["detection_type"] as? String == info?["detectionType"] as? String)
                    let mitre = alert["mitre"] as? [String: Any]
                    #expect(mitre?["tactics"] as? [String] == ["Defense Evasion"])
                    let techniques = mitre?["techniques"] as? [[String: String]]
                    #expect(techniques?.first?["id"] == "T1112" && techniques?.first?["tactic"] == "Defense Evasion")
                } else {
                    #expect(service != "threats", "a threat without its alert object")
                }
                let id = try #require(record["id"] as? String)
                if let known = newest[id],
                    (known["updatedAt"] as? String ?? "") > (record["updatedAt"] as? String ?? "")
                {
                    continue
                }
                newest[id] = record
            }
            let console = try await simulator.records(type)
            #expect(
                newest.count == console.count,
                "\(service): \(newest.count) records delivered, console has \(console.count)"
            )
            for record in console {
                let id = record["id"] as? String ?? ""
                #expect(
                    newest[id].map { NSDictionary(dictionary: $0) } == NSDictionary(dictionary: record),
                    "\(service) \(id)"
                )
            }
        }
        let requests = try await simulator.requests()
        #expect(requests.allSatisfy { ($0["token"] as? String) == SentinelOneSimulator.viewerToken })
        #expect(!harness.log.lines.joined().contains(SentinelOneSimulator.viewerToken), "the token was logged")
        #expect(!harness.log.messages(containing: "every request to it pauses").isEmpty)
    }

    /// A console whose next page's cursor leads back to a page already read stops the listing with ApiError
    /// 446 at the second such page, before its records are delivered: followed blindly, it kept the service
    /// requesting forever, held a threat's children in memory without bound and re-delivered the same Deep
    /// Visibility events.
    @Test(arguments: ["agents", "deep_visibility", "threat_events"])
    func pagingThatLoopsStopsTheListingWithoutDeliveringTheRepeatedPage(service: String) async throws {
        let harness = try await SentinelOneHarness.make()
        defer { harness.remove() }
        try await harness.simulator.add("threats", count: 1)
        _ = try await harness.simulator.addDeepVisibilityEvents(3)
        let path: String
        let source: any PullingSource
        switch service {
        case "agents":
            (path, source) = ("/web/api/v2.1/agents", try harness.source("agents"))
        case "deep_visibility":
            (path, source) = ("/web/api/v2.1/dv/events", try harness.deepVisibility())
        default:
            (path, source) = ("/web/api/v2.1/threats/", try harness.threatChildren(service))
        }
        // Updated after the configured start, whenever the tests run: a fixed date fell before it as the
        // start (36 days before the run) moved past it, and the record was then skipped as delivered before.
        let updated = SentinelOneSimulator.historicalStart.prefix(10) + "T12:00:00.000000Z"
        try await harness.simulator.fail(
            status: 200,
            count: 40,
            path: path,
            body: #"{"data":[{"id":"9","updatedAt":"\#(updated)"}],"pagination":{"nextCursor":"again"}}"#
        )
        let delivered = DeliveredEvents()
        let error = await #expect(throws: TrawlError.self) {
            _ = try await harness.pull(source, into: delivered)
        }
        #expect(error?.code == .sentinelOneAnswerUnreadable)
        #expect(
            error?.message.hasPrefix("page 2 of \(harness.simulator.url)/") == true,
            "\(String(describing: error))"
        )
        #expect(error?.message.contains(#"nextCursor "again" that led to page 2: the console's paging loops"#) == true)
        let requests = try await harness.simulator.requests().filter {
            ($0["path"] as? String)?.hasPrefix(path) == true
        }
        #expect(requests.count == 2, "the listing read the page that loops once, and stopped")
        #expect(delivered.all.count == 1, "only the first page's record was delivered")
    }

    /// Records a console answers although they were updated before the window's start (it ignored
    /// `updatedAt__gte`) are skipped as delivered and warned about: they were delivered again every cycle.
    @Test func recordsUpdatedBeforeTheWindowAreSkippedAsDeliveredBefore() async throws {
        let (harness, delivered) = try await SentinelOneHarness.withAgentsDelivered(3)
        defer { harness.remove() }
        #expect(delivered.all.count == 3)
        try await harness.simulator.fail(
            status: 200,
            count: 1,
            path: "/web/api/v2.1/agents",
            body: #"{"data":[{"id":"7","updatedAt":"2020-01-01T00:00:00Z"}],"pagination":{"nextCursor":null}}"#
        )
        let statistics = try await harness.pull(try harness.source("agents"), into: delivered)
        #expect(delivered.all.count == 3, "the stale record was not delivered")
        #expect(statistics.duplicatesFilteredOut == 1)
        #expect(
            harness.log.messages(containing: "answered 1 record(s) updated before 2026-").count == 1,
            "\(harness.log.messages)"
        )
    }

    /// A page whose nextCursor is not a string (nor null) is ApiError 446: it was read as the last page, and
    /// the pages after it were never read. So is a data item that is not an object: it went out mangled.
    @Test func aNextCursorThatIsNotAStringIsAnErrorNotTheLastPage() throws {
        let page = ByteBuffer(string: #"{"data":[{"id":"1"}],"pagination":{"nextCursor":12345,"totalItems":9}}"#)
        let error = #expect(throws: TrawlError.self) { try SentinelOnePage(page, resource: "https://c/agents") }
        #expect(error?.code == .sentinelOneAnswerUnreadable)
        #expect(
            error?.message.hasPrefix("the answer of https://c/agents has a pagination.nextCursor that is neither")
                == true
        )
        let notAnObject = #expect(throws: TrawlError.self) {
            try SentinelOnePage(ByteBuffer(string: #"{"data":[{"id":"1"},"2"]}"#), resource: "https://c/dv/events")
        }
        #expect(
            notAnObject?.message.hasPrefix("the answer of https://c/dv/events has a data item 2 that is not") == true
        )
        let last = try SentinelOnePage(
            ByteBuffer(string: #"{"data":[],"pagination":{"nextCursor":null}}"#),
            resource: "r"
        )
        #expect(last.nextCursor == nil)
        let next = try SentinelOnePage(
            ByteBuffer(string: #"{"data":[],"pagination":{"nextCursor":"n2"}}"#),
            resource: "r"
        )
        #expect(next.nextCursor == "n2")
    }

    /// `updatedAt` compare as instants: as text, `...00Z` sorts after `...00.000001Z`, a microsecond later.
    @Test func updatedAtCompareAsInstantsWhateverTheirFractionDigits() {
        typealias State = SentinelOneListSource.State
        #expect(State.order("2026-11-01T00:00:00Z", "2026-11-01T00:00:00.000001Z") == .orderedAscending)
        #expect(State.order("2026-11-01T00:00:00.5Z", "2026-11-01T00:00:00.500000Z") == .orderedSame)
        #expect(State.order("2026-11-01T00:00:01.1Z", "2026-11-01T00:00:00.999999Z") == .orderedDescending)
        var state = State(watermark: "2026-11-01T00:00:00.000001Z", boundaryIDs: ["a"])
        state.advance(past: "b", updatedAt: "2026-11-01T00:00:00Z")
        #expect(state == State(watermark: "2026-11-01T00:00:00.000001Z", boundaryIDs: ["a"]))
        state.advance(past: "c", updatedAt: "2026-11-01T00:00:00.000001000Z")
        #expect(state.boundaryIDs == ["a", "c"])
    }

    @Test func siteAndAccountFiltersReachTheConsoleAndOnlyTheirRecordsArrive() async throws {
        let harness = try await SentinelOneHarness.make()
        defer { harness.remove() }
        let agents = try await harness.simulator.add("agents", count: 30)
        let site = try #require(agents.first?["siteId"] as? String)
        let account = try #require(agents.first?["accountId"] as? String)
        let delivered = DeliveredEvents()
        _ = try await harness.pull(
            try harness.source("agents", extra: ", site_ids: [\"\(site)\"], account_ids: [\"\(account)\"]"),
            into: delivered
        )
        let expected = Set(agents.filter { $0["siteId"] as? String == site }.compactMap { $0["id"] as? String })
        let got = Set(try delivered.all.compactMap { try SentinelOneListSourceTests.json($0)["id"] as? String })
        #expect(!expected.isEmpty && expected.count < agents.count)
        #expect(got == expected)
        let queries = try await harness.simulator.requests().filter { $0["method"] as? String == "GET" }
            .compactMap { $0["query"] as? String }
        #expect(queries.allSatisfy { $0.contains("siteIds=\(site)") && $0.contains("accountIds=\(account)") })
    }

    /// SentinelOne tokens expire (six months after they are made by default), and the console then refuses
    /// everything: the console says when, and a token expiring within 30 days is warned about after a cycle,
    /// once a day for all the input's services, with the date exported for an alert.
    @Test func aTokenExpiringSoonIsWarnedAboutOnceADayAndItsExpiryIsAGauge() async throws {
        let harness = try await SentinelOneHarness.make()
        defer { harness.remove() }
        try await harness.simulator.setTokenExpiry("2026-12-05T08:30:00.000000Z")
        let metrics = TestMetrics()
        try await withMetricsFactory(metrics) {
            _ = try await harness.pull(try harness.source("agents"), into: DeliveredEvents())
            _ = try await harness.pull(try harness.source("threats"), into: DeliveredEvents())
        }
        let warnings = harness.log.messages(containing: "The API token of input s1 ")
        let now = UTCTimestamp.now()
        let expiry = CredentialExpiry(try #require(parseUTCDatetime("2026-12-05T08:30:00Z")))
        #expect(warnings.count == (expiry.isNear(now: now) ? 1 : 0), "\(warnings)")
        #expect(
            expiry.description(now: try #require(parseUTCDatetime("2026-11-25T08:30:00Z")))
                == "expires on 2026-12-05T08:30:00 UTC (in 10 day(s))"
        )
        #expect(
            expiry.description(now: try #require(parseUTCDatetime("2026-12-06T00:00:00Z")))
                == "expired on 2026-12-05T08:30:00 UTC"
        )
        let gauge = try metrics.expectGauge("trawl_sentinelone_token_expiry_timestamp_seconds", [("input", "s1")])
        #expect(gauge.lastValue == expiry.date.secondsSinceEpoch)
        let asked = try await harness.simulator.requests().filter {
            ($0["path"] as? String)?.hasSuffix("/api-token-details") == true
        }
        #expect(asked.count == 1, "asked once for both services of the input")
    }

    @Test func aBadTokenAWrongURLAndARefusingConsoleAreClearErrors() async throws {
        let harness = try await SentinelOneHarness.make()
        defer { harness.remove() }
        try await harness.simulator.add("agents", count: 3)
        func failure(_ source: SentinelOneListSource) async -> TrawlError? {
            do {
                _ = try await harness.pull(source, into: DeliveredEvents())
                return nil
            } catch let error as TrawlError {
                return error
            } catch {
                return nil
            }
        }
        let unauthorized = await failure(try harness.source("agents", token: "stolen-or-expired"))
        #expect(unauthorized?.code == .sentinelOneUnauthorized)
        #expect(unauthorized?.description.contains("stolen") == false)
        try await harness.simulator.fail(status: 429, count: 6, retryAfter: 0)
        let throttled = await failure(try harness.source("agents"))
        #expect(throttled?.code == .sentinelOneThrottled)
        #expect(throttled?.message.contains("6 times") == true)
        try await harness.simulator.fail(status: 500, count: 6)
        #expect(await failure(try harness.source("agents"))?.code == .sentinelOneServerError)
        let requests = try await harness.simulator.requests().count
        let oversized = await failure(try harness.source("agents", maxAnswerBytes: 200))
        #expect(oversized?.code == .sentinelOneAnswerUnreadable)
        #expect(oversized?.message.contains("answered more than 200 bytes") == true, "\(String(describing: oversized))")
        #expect(oversized?.fix.hasPrefix("Lower page_size") == true)
        #expect(try await harness.simulator.requests().count == requests + 1, "an answer too large is not asked again")
    }
}

/// docs/errors.md lists exactly the SentinelOne ApiErrors defined in code, with the same words, and the
/// simulator makes the connector raise each one.
@Suite struct SentinelOneErrorCatalogueTests {
    @Test func docsListExactlyTheCodesDefinedWithTheSameWords() throws {
        let rows = try ErrorCatalogueDocument.rows(kinds: ["ApiError (SentinelOne)"])
        #expect(Set(rows.keys) == Set(TrawlError.Code.sentinelOneCatalogue.map(\.id)))
        for code in TrawlError.Code.sentinelOneCatalogue {
            #expect(rows[code.id] == [code.title, code.cause, code.fix], "docs/errors.md row \(code.id)")
        }
    }

    /// How to make the console (or its absence) produce each error: a fault to inject, or another token or URL.
    static let scenarios: [Int: (fault: (status: Int, body: String?)?, token: String?, url: String?)] = [
        440: (nil, "not-a-token", nil),
        441: ((403, nil), nil, nil),
        442: ((404, nil), nil, nil),
        443: ((400, nil), nil, nil),
        444: ((429, nil), nil, nil),
        445: ((502, nil), nil, nil),
        446: ((200, "<html>a proxy's login page</html>"), nil, nil),
        447: (nil, nil, "http://127.0.0.1:9"),
        448: ((302, "<html>sign in</html>"), nil, nil),
    ]

    @Test func everyCodeHasAScenario() {
        #expect(Set(Self.scenarios.keys) == Set(TrawlError.Code.sentinelOneCatalogue.map(\.id)))
    }

    @Test(arguments: Self.scenarios.keys.sorted())
    func scenarioProducesItsError(id: Int) async throws {
        let harness = try await SentinelOneHarness.make()
        defer { harness.remove() }
        try await harness.simulator.add("agents", count: 2)
        let scenario = Self.scenarios[id]!
        if let fault = scenario.fault {
            try await harness.simulator.fail(
                status: fault.status,
                count: 6,
                location: "https://sso.example.com/login",
                detail: "injected for \(id)",
                body: fault.body
            )
        }
        var source = try harness.source("agents", token: scenario.token ?? SentinelOneSimulator.viewerToken)
        if let url = scenario.url {
            source = SentinelOneListSource(
                name: source.name,
                content: source.content,
                settings: source.settings,
                console: SentinelOneConsole(
                    configuration: .init(url: url, token: "t", connectTimeout: .milliseconds(300)),
                    gate: harness.gate
                ),
                persistence: source.persistence
            )
        }
        let error = await #expect(throws: TrawlError.self) {
            _ = try await harness.pull(source, into: DeliveredEvents())
        }
        #expect(error?.code.id == id, "\(String(describing: error))")
        if id == 448 {
            #expect(
                error?.message
                    == #"GET /web/api/v2.1/agents answered 302, redirecting to "https://sso.example.com/login""#
            )
            let requests = try await harness.simulator.requests()
            #expect(requests.count == 1, "a redirect is not retried, nor followed")
        }
    }
}

@Suite struct SentinelOneConnectionCheckTests {
    /// Each content type waited out the connect timeout and every retry: minutes for a wrong console_url.
    @Test func anUnreachableConsoleIsTriedOnceAndEveryContentTypeReportsIt() async throws {
        let log = RecordingLogger()
        let console = SentinelOneConsole(
            configuration: .init(
                url: "http://127.0.0.1:\(try PeerProcess.refusingPort())",
                token: "t",
                connectTimeout: .milliseconds(300)
            ),
            gate: SentinelOneRequestGate(configuration: .init(maxAttempts: 2, baseDelay: .milliseconds(10)))
        )
        let results = await SentinelOneConnectionCheck.run(console: console, logger: log.logger)
        try await console.shutdown()
        #expect(results.count == SentinelOneContentType.listed.count + 1)
        #expect(results.allSatisfy { $0.error?.code == .sentinelOneUnreachable }, "\(results.map(\.line))")
        #expect(log.messages(containing: "; retrying in").count == 1, "\(log.messages)")
        #expect(results.last?.line.contains("connection refused") == true, "\(results.last?.line ?? "")")
    }
}

extension SentinelOneConnectionCheckTests {
    /// A console_url that redirects (http:// to https://, a sign-in page) is asked once and named for every
    /// content type with where it redirects, instead of "answered 301" under the 400 answer's advice.
    @Test func aRedirectingConsoleIsAskedOnceAndEveryContentTypeSaysWhereItLeads() async throws {
        let harness = try await SentinelOneHarness.make()
        defer { harness.remove() }
        try await harness.simulator.fail(status: 301, count: 50, location: "https://console.example.net/")
        let console = SentinelOneConsole(
            configuration: .init(url: harness.simulator.url, token: SentinelOneSimulator.viewerToken),
            gate: harness.gate
        )
        let results = await SentinelOneConnectionCheck.run(console: console, logger: harness.log.logger)
        try await console.shutdown()
        #expect(results.count == SentinelOneContentType.listed.count + 1)
        #expect(results.allSatisfy { $0.error?.code == .sentinelOneRedirected }, "\(results.map(\.line))")
        #expect(results.last?.line.contains(#"redirecting to "https://console.example.net/""#) == true)
        #expect(try await harness.simulator.requests().count == 1)
    }
}

extension SentinelOneConnectionCheckTests {
    /// A console_url of plain http:// to another host is said once per input, at its first cycle: the token
    /// crosses the network readable.
    @Test func aPlainHTTPConsoleIsWarnedAboutOncePerInput() async throws {
        let harness = try await SentinelOneHarness.make()
        defer { harness.remove() }
        let gate = SentinelOneRequestGate(configuration: .init(maxAttempts: 1, baseDelay: .milliseconds(10)))
        let base = try harness.source("agents")
        for _ in 0..<2 {
            let source = SentinelOneListSource(
                name: base.name,
                content: base.content,
                settings: base.settings,
                console: SentinelOneConsole(
                    configuration: .init(
                        url: "http://sentinelone.invalid:9",
                        token: "t",
                        connectTimeout: .milliseconds(300)
                    ),
                    gate: gate
                ),
                persistence: base.persistence
            )
            await #expect(throws: TrawlError.self) { _ = try await harness.pull(source, into: DeliveredEvents()) }
        }
        let warnings = harness.log.messages(containing: "console_url http://sentinelone.invalid:9 is http://")
        #expect(warnings.count == 1, "\(harness.log.messages)")
        _ = try await harness.pull(try harness.source("agents"), into: DeliveredEvents())
        #expect(harness.log.messages(containing: "is http://").count == 1, "a loopback simulator is not warned about")
    }
}
