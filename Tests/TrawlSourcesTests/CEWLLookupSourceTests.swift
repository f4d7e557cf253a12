import Foundation
import NIOCore
import Testing
import TrawlCore
import TrawlFormats
import TrawlTesting

@testable import TrawlSources

/// The CEWL collector against the simulated CTCI API: after every poll, the lookup table that the updates
/// Trawl sent would build equals the API's list; nothing is sent when nothing changed.
@Suite struct CEWLLookupSourceTests {
    struct Harness {
        let simulator: CEWLSimulator
        let directory: TemporaryDirectory
        let log = RecordingLogger()

        func source(
            token: String = CEWLSimulator.token,
            reset: String = "",
            extra: String = ""
        ) throws
            -> CEWLLookupSource
        {
            let settings = try SettingsFixture.valid(
                CEWLSettings.self,
                yaml: "{api_base_url: \"\(self.simulator.url)/\", reset_persistence_auth: \"\(reset)\"\(extra)}"
            )
            return CEWLLookupSource(
                name: "ctci/cewl",
                settings: settings,
                token: token,
                persistence: ServicePersistence(
                    store: try FileStateStore(directory: "\(self.directory.path)/state"),
                    key: StateKey(collectorID: "c", input: "1", service: "cewl"),
                    resetPersistenceAuth: reset,
                    logger: self.log.logger
                )
            )
        }

        /// One poll; the events it sent.
        func poll(_ source: CEWLLookupSource) async throws -> [Event] {
            let queue = BoundedEventQueue(maxBufferedEvents: 100)
            let dispatcher = EventDispatcher(queues: [queue], maxBatchEvents: 10)
            let sent = DeliveredEvents()
            try await source.withResources {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    let batches = try queue.takeBatches()
                    group.addTask {
                        for await batch in batches {
                            sent.add(batch.events)
                            batch.acknowledgement.release()
                        }
                    }
                    defer { group.cancelAll() }
                    _ = try await source.pull(
                        PullContext(pullingID: .now(), dispatcher: dispatcher, logger: self.log.logger)
                    )
                }
            }
            return sent.all
        }
    }

    /// A lookup table as Devo would hold it after the updates, rows by key, values as text.
    struct Table {
        var rows: [String: [String: String]] = [:]
        var updates: [LookupUpdate] = []

        static func text(_ value: LookupUpdate.Value) -> String {
            switch value {
            case .string(let text): text
            case .int(let number): "\(number)"
            case .float(let number): "\(number)"
            }
        }

        mutating func apply(_ events: [Event]) throws {
            for event in events where event.kind == .lookup {
                let update = try LookupUpdate(decoding: event.body)
                self.updates.append(update)
                if update.mode == .full { self.rows = [:] }
                for row in update.rows {
                    let values = Dictionary(
                        uniqueKeysWithValues: zip(update.columns.map(\.name), row.map(Self.text))
                    )
                    self.rows[values["cve"] ?? ""] = values
                }
                for deletion in update.deletions { self.rows[deletion.first.map(Self.text) ?? ""] = nil }
            }
        }

        /// Whether the table holds exactly `records` (those with a cve).
        func equals(_ records: [[String: Any]]) -> Bool {
            let keyed = records.filter { ($0["cve"] as? String)?.isEmpty == false }
            guard keyed.count == self.rows.count else { return false }
            for record in keyed {
                guard let row = self.rows[record["cve"] as? String ?? ""] else { return false }
                for (field, value) in record {
                    let expected =
                        value is String
                        ? value as! String
                        : (field == "year_"
                            ? "\((value as! NSNumber).int64Value)" : "\((value as! NSNumber).doubleValue)")
                    if row[field] != expected { return false }
                }
            }
            return true
        }
    }

    /// docs/errors.md lists exactly the CEWL ApiErrors defined in code; the test below produces each.
    @Test func docsListExactlyTheCEWLCodesWithTheSameWords() throws {
        let rows = try ErrorCatalogueDocument.rows(kinds: ["ApiError (CTCI CEWL)"])
        #expect(Set(rows.keys) == Set(TrawlError.Code.cewlCatalogue.map(\.id)))
        for code in TrawlError.Code.cewlCatalogue {
            #expect(rows[code.id] == [code.title, code.cause, code.fix], "docs/errors.md row \(code.id)")
        }
    }

    static func record(_ number: Int, score: Double = 7.5) -> [String: Any] {
        [
            "cve": "CVE-2026-\(10_000 + number)", "year_": 2026, "base_score": score, "base_severity": "HIGH",
            "cve_date": "2026-11-0\(number % 9 + 1)", "vendor": "vendor\(number % 3)", "product": "product \(number)",
            "description": "A \"quoted\" flaw, number \(number)", "honeypot": "2026-11-20",
        ]
    }

    @Test func theLookupFollowsTheListThroughAdditionsChangesRemovalsFaultsAndResets() async throws {
        let harness = Harness(simulator: try await CEWLSimulator(), directory: try TemporaryDirectory())
        defer {
            harness.simulator.stop()
            harness.directory.remove()
        }
        var table = Table()
        var list = (0..<20).map { Self.record($0) }
        list.append(["base_score": 5.0, "description": "no cve: reported, not sent"])
        var repeated = Self.record(3, score: 1.0)
        repeated["description"] = "a first copy of record 3"
        try await harness.simulator.serve([repeated] + list)
        try table.apply(try await harness.poll(try harness.source()))
        #expect(
            harness.log.messages(
                containing: "CEWL record 4 repeats cve CVE-2026-10003 of record 0: the lookup keeps record 4"
            )
            .count == 1
        )
        #expect(table.updates.last?.mode == .full)
        #expect(table.updates.last?.columns.first == LookupUpdate.Column("cve", type: "str"))
        #expect(table.updates.last?.columns.contains(LookupUpdate.Column("base_score", type: "float")) == true)
        #expect(table.equals(list))
        #expect(!harness.log.messages(containing: "has no cve: reported, not sent").isEmpty)

        #expect(try await harness.poll(try harness.source()).isEmpty, "nothing is sent when nothing changed")

        list.removeSubrange(0..<4)
        list[5] = Self.record(9, score: 9.8)
        list[6]["base_severity"] = "CRITICAL"
        list += (20..<23).map { Self.record($0) }
        try await harness.simulator.serve(list)
        try table.apply(try await harness.poll(try harness.source()))
        let incremental = try #require(table.updates.last)
        #expect(incremental.mode == .incremental)
        #expect(incremental.rows.count == 5 && incremental.deletions.count == 4)
        #expect(table.equals(list))

        try await harness.simulator.fail(status: 500)
        let failure = await #expect(throws: TrawlError.self) { _ = try await harness.poll(try harness.source()) }
        #expect(failure?.code == .cewlUnexpectedStatus)
        #expect(failure?.message.contains("500") == true)
        #expect(try await harness.poll(try harness.source()).isEmpty, "the snapshot outlived the failure")

        try await harness.simulator.fail(status: 308, location: "https://api.ctci.example/api/v1/cewl")
        let redirected = await #expect(throws: TrawlError.self) { _ = try await harness.poll(try harness.source()) }
        #expect(redirected?.code == .cewlUnexpectedStatus)
        #expect(
            redirected?.message.contains(#"answered 308, redirecting to "https://api.ctci.example/api/v1/cewl""#)
                == true
        )
        #expect(redirected?.fix.hasPrefix("If that address is the CTCI API, set api_base_url to it") == true)

        let refused = await #expect(throws: TrawlError.self) {
            _ = try await harness.poll(try harness.source(token: "stolen"))
        }
        #expect(refused?.code == .cewlTokenRefused)

        try await harness.simulator.fail(status: 200, body: "<html>login</html>")
        let unreadable = await #expect(throws: TrawlError.self) { _ = try await harness.poll(try harness.source()) }
        #expect(unreadable?.code == .cewlAnswerUnreadable)

        try await harness.simulator.serve([["description": "no cve"]])
        let emptied = await #expect(throws: TrawlError.self) { _ = try await harness.poll(try harness.source()) }
        #expect(emptied?.code == .cewlListEmptied)
        let message = emptied?.message ?? ""
        #expect(message.hasSuffix("answered 1 record(s) and no CVE where the lookup cewl holds 19: nothing is removed"))
        try await harness.simulator.serve(list)
        #expect(try await harness.poll(try harness.source()).isEmpty, "the table was kept as it was")

        try table.apply(try await harness.poll(try harness.source(reset: "again")))
        #expect(table.updates.last?.mode == .full, "a persistence reset deploys the whole table")
        #expect(table.equals(list))

        list[0]["exploited_in_the_wild"] = "yes"
        try await harness.simulator.serve(list)
        let events = try await harness.poll(
            try harness.source(reset: "again", extra: ", event_tag: my.app.cewl.changes")
        )
        try table.apply(events)
        #expect(table.updates.last?.mode == .full, "a new column redeploys the table")
        #expect(table.updates.last?.columns.last == LookupUpdate.Column("exploited_in_the_wild", type: "str"))
        #expect(table.equals(list))
        #expect(events.filter { $0.tag == "my.app.cewl.changes" }.count == list.count - 1)
    }

    /// The seed allows source events obfuscation: the rules hide fields of the lookup's rows and of the
    /// change events alike, a column whose values become text is a `str` column, and taking rules away
    /// deploys the table again in full.
    @Test func obfuscateRulesHideFieldsInTheLookupAndItsEvents() async throws {
        let harness = Harness(simulator: try await CEWLSimulator(), directory: try TemporaryDirectory())
        defer {
            harness.simulator.stop()
            harness.directory.remove()
        }
        var list = (0..<6).map { Self.record($0) }
        list[0]["intel"] = ["source": "forum-42", "confidence": "high"]
        try await harness.simulator.serve(list)
        let rules = """
            , event_tag: my.app.cewl.changes, obfuscation_key: "0123456789abcdef",
              obfuscate: [{path: vendor, action: hash}, {path: base_score, action: mask},
                          {path: description, action: drop}, {path: intel.source, action: mask, mask: hidden}]
            """
        var table = Table()
        let events = try await harness.poll(try harness.source(extra: rules))
        try table.apply(events)
        let update = try #require(table.updates.last)
        #expect(update.mode == .full)
        #expect(update.columns.contains(LookupUpdate.Column("base_score", type: "str")))
        #expect(update.columns.contains(LookupUpdate.Column("year_", type: "int4")))
        #expect(table.rows.count == 6)
        for (cve, row) in table.rows {
            #expect(row["base_score"] == "***", "\(cve)")
            #expect(row["description"] == "", "\(cve)")
            #expect(row["vendor"]?.hasPrefix("hmac-sha256:") == true && row["vendor"]?.count == 44, "\(cve)")
        }
        #expect(table.rows["CVE-2026-10000"]?["vendor"] == table.rows["CVE-2026-10003"]?["vendor"])
        #expect(table.rows["CVE-2026-10000"]?["vendor"] != table.rows["CVE-2026-10001"]?["vendor"])
        #expect(table.rows["CVE-2026-10000"]?["intel"] == #"{"confidence":"high","source":"hidden"}"#)
        let changes = events.filter { $0.tag == "my.app.cewl.changes" }.map { String(buffer: $0.body) }
        #expect(changes.count == 6)
        #expect(changes.allSatisfy { !$0.contains("flaw") && !$0.contains("vendor0") && !$0.contains("7.5") })
        #expect(changes.contains { $0.contains("forum-42") } == false)

        #expect(try await harness.poll(try harness.source(extra: rules)).isEmpty, "the hidden rows are stable")
        try table.apply(try await harness.poll(try harness.source()))
        #expect(table.updates.last?.mode == .full, "base_score is a float column again: deployed in full")
        #expect(table.equals(list.map { $0.filter { $0.key != "intel" } }))
    }

    /// A record the rules cannot follow (nested past the obfuscator's depth along a rule's path) fails the
    /// poll with SourceError 305: nothing is sent, so nothing leaks, and the next poll tries again.
    @Test func aRecordTheRulesCannotFollowFailsThePollAndNothingIsSent() async throws {
        let harness = Harness(simulator: try await CEWLSimulator(), directory: try TemporaryDirectory())
        defer {
            harness.simulator.stop()
            harness.directory.remove()
        }
        var deep: Any = ["x": "secret"]
        for _ in 0..<70 { deep = [deep] }
        var record = Self.record(1)
        record["intel"] = deep
        try await harness.simulator.serve([Self.record(0), record])
        let source = try harness.source(extra: ", obfuscate: [{path: intel.x, action: mask}]")
        let failure = await #expect(throws: TrawlError.self) { _ = try await harness.poll(source) }
        #expect(failure?.code == .recordNotObfuscatable)
        #expect(failure?.message.hasPrefix("CEWL record 1 cannot be obfuscated: ") == true)
        #expect(failure?.fix.hasPrefix("Nothing was sent and the lookup is kept as it was") == true)
        #expect(try await source.persistence.load() == nil, "no snapshot was saved")
    }

    /// A snapshot saved before the column types were kept reads as having the default types, so an
    /// upgrade without rules sends nothing new.
    @Test func aSnapshotWithoutTypesHasTheDefaultOnes() throws {
        let names = CEWLLookupSource.knownColumns.map(\.name) + ["exploited"]
        let old = try JSONSerialization.data(withJSONObject: ["columns": names, "rows": ["CVE-1": "ab"]])
        let state = try JSONDecoder().decode(CEWLLookupSource.State.self, from: old)
        #expect(state.types == nil && state.rows == ["CVE-1": "ab"])
        #expect(
            CEWLLookupSource.defaultTypes(of: state.columns)
                == CEWLLookupSource.knownColumns.map(\.type) + ["str"]
        )
    }

    @Test func rulesOnTheKeyAndHashesWithoutASecretAreRefused() {
        let path = "inputs.cewl.services.cewl"
        func errors(_ yaml: String) -> [TrawlError] {
            SettingsFixture.decode(
                CEWLSettings.self,
                yaml: "{api_base_url: \"https://api.ctci.ai\", \(yaml)}",
                path: path
            ).errors
        }
        let key = errors("obfuscate: [{path: cve, action: mask}, {path: vendor, action: mask}]")
        #expect(key.map(\.code.id) == [6])
        #expect(key.first?.location?.hasPrefix("\(path).obfuscate") == true)
        #expect(key.first?.message.contains("names cve, the lookup's key") == true)
        let secret = errors("obfuscate: [{path: vendor, action: hash}]")
        #expect(secret.map(\.code.id) == [4])
        #expect(secret.first?.location?.hasPrefix("\(path).obfuscation_key") == true)
        #expect(errors(#"obfuscation_key: "0123456789abcdef", obfuscate: [{path: vendor, action: hash}]"#).isEmpty)
    }

    /// Turning certificate checks off, or plain http:// to another host, is said once, at the first poll,
    /// with what it exposes.
    @Test func anUncheckedCertificateIsWarnedAboutOnce() async throws {
        let harness = Harness(simulator: try await CEWLSimulator(), directory: try TemporaryDirectory())
        defer {
            harness.simulator.stop()
            harness.directory.remove()
        }
        try await harness.simulator.serve([Self.record(1)])
        let source = try harness.source(extra: ", verify_host_ssl_cert: false")
        _ = try await harness.poll(source)
        _ = try await harness.poll(source)
        let warnings = harness.log.messages(containing: "verify_host_ssl_cert is false: the certificate of")
        #expect(warnings.count == 1)
        #expect(warnings.first?.contains("can read api_token and change the list") == true)
        _ = try await harness.poll(try harness.source())
        #expect(harness.log.messages(containing: "verify_host_ssl_cert is false").count == 1)
        #expect(try harness.source().exposure == nil, "https, or http to the loopback, exposes nothing")
        let plain = CEWLLookupSource(
            name: "ctci/cewl",
            settings: try SettingsFixture.valid(CEWLSettings.self, yaml: "{api_base_url: \"http://api.ctci.example\"}"),
            token: "t",
            persistence: source.persistence
        )
        #expect(
            plain.exposure?.hasPrefix("api_base_url http://api.ctci.example is http://: api_token and the list") == true
        )
    }
}
