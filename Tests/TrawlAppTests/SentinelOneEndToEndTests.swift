import Foundation
import Testing
import TrawlTesting

/// `trawl run` with the sentinelone input against the console simulator, as a user runs it: the token from
/// the environment, the file output, and SIGKILL at random points while the console keeps changing.
@Suite struct SentinelOneEndToEndTests {
    static func configuration(url: String, pageSize: Int = 10) -> String {
        """
        globals: {id: s1-test, hostname: vm, persistence: {directory: ./state}}
        inputs:
          s1:
            id: 7
            type: sentinelone
            credentials: {console_url: "\(url)/", api_token: "${S1_API_TOKEN}"}
            settings: {requests_per_minute: 6000}
            services:
              agents: {page_size: \(pageSize), historical_poll_datetime: "\(SentinelOneSimulator.historicalStart)"}
              threats: {page_size: \(pageSize), historical_poll_datetime: "\(SentinelOneSimulator.historicalStart)"}
        outputs:
          out: {type: file, settings: {path: ./out.log}}

        """
    }

    /// The records of the file output per tag, parsed, in the order written.
    static func delivered(_ directory: TemporaryDirectory) throws -> [(tag: String, record: [String: Any])] {
        let text = (try? String(contentsOfFile: "\(directory.path)/out.log", encoding: .utf8)) ?? ""
        return try text.split(separator: "\n").map { line in
            let header = line.prefix { $0 != "{" }
            let tag = String(header.split(separator: " ").last?.dropLast() ?? "")
            let json = Data(line.dropFirst(header.count).utf8)
            return (tag, try JSONSerialization.jsonObject(with: json) as? [String: Any] ?? [:])
        }
    }

    /// Every service of the connector at once, in the configuration a user writes, and a second input that
    /// reads `vulnerabilities` from the risks endpoint into its own table.
    static func allServices(url: String) -> String {
        let common = "page_size: 10, historical_poll_datetime: \"\(SentinelOneSimulator.historicalStart)\""
        let risks = """
              s1risks:
                id: 8
                type: sentinelone
                credentials: {console_url: "\(url)/", api_token: "${S1_API_TOKEN}"}
                settings: {requests_per_minute: 6000}
                services:
                  vulnerabilities: {\(common), vulnerabilities_source: risks, query_lag_in_seconds: 0, tag: edr.sentinelone.risks}
            outputs:
            """
        return Self.configuration(url: url).replacingOccurrences(of: "outputs:", with: risks).replacingOccurrences(
            of:
                "      threats: {page_size: 10, historical_poll_datetime: \"\(SentinelOneSimulator.historicalStart)\"}\n",
            with: """
                      threats: {\(common)}
                      cloud_detection_alerts: {\(common)}
                      rogues: {\(common)}
                      vulnerabilities: {\(common)}
                      threat_events: {\(common)}
                      threat_notes: {\(common)}
                      deep_visibility: {\(common), query_poll_interval_in_seconds: 0, max_window_in_seconds: 2592000}

                """
        )
    }

    /// All eight services (and `vulnerabilities` from the risks endpoint, in a second input) run while
    /// `trawl run` is SIGKILLed at random points and the console keeps adding
    /// and updating records (threats gaining events and notes): afterwards the file output holds every
    /// record's newest version, every Deep Visibility event and every threat's events and notes, each once.
    @Test func sigkillAtRandomPointsWhileTheConsoleChangesLosesAndDuplicatesNothing() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let simulator = try await SentinelOneSimulator()
        defer { simulator.stop() }
        let listed = [
            ("agents", "agents", 1_500), ("threats", "threats", 400), ("alerts", "cloud_detection_alerts", 300),
            ("rogues", "rogues", 300), ("applications", "vulnerabilities", 300), ("risks", "risks", 300),
        ]
        for (type, _, count) in listed { try await simulator.add(type, count: count) }
        let deepVisibility = try await simulator.addDeepVisibilityEvents(1_500)
        try directory.write("config.yaml", Self.allServices(url: simulator.url))
        let environment = ["S1_API_TOKEN": SentinelOneSimulator.viewerToken]
        var generator = SystemRandomNumberGenerator()
        var kills = 0
        for run in 0..<8 {
            let trawl = try BuiltExecutable(
                "trawl",
                arguments: ["run", "--once", "--config", "config.yaml"],
                workingDirectory: directory.path,
                environment: environment
            )
            if run < 5 {
                try await Task.sleep(for: .milliseconds(Int.random(in: 150...1_200, using: &generator)))
                if trawl.process.isRunning {
                    trawl.signal(SIGKILL)
                    kills += 1
                }
            }
            let status = await trawl.waitForExit(timeout: .seconds(300))
            if run >= 5 { #expect(status == 0, "\(trawl.standardError.suffix(2_000))") }
            #expect(!trawl.standardError.contains(SentinelOneSimulator.viewerToken), "the token was logged")
            if run < 6 {
                for (type, _, _) in listed {
                    try await simulator.add(type, count: Int.random(in: 0...20, using: &generator))
                    let ids = try await simulator.records(type).map { Self.stamp($0, of: type).id }.shuffled()
                    try await simulator.update(
                        type,
                        ids: Array(ids.prefix(Int.random(in: 0...15, using: &generator))),
                        addChildren: type == "threats"
                    )
                }
            }
        }
        #expect(kills >= 1)
        let delivered = try Self.delivered(directory)
        func records(_ service: String) -> [[String: Any]] {
            delivered.filter { $0.tag == "edr.sentinelone.\(service)" }.map(\.record)
        }
        for (type, service, _) in listed {
            try await Self.expectNewestVersionsOnce(records(service), of: type, as: service, in: simulator)
        }
        let events = records("deep_visibility").compactMap { $0["id"] as? String }
        #expect(events.count == deepVisibility.count)
        #expect(Set(events) == Set(deepVisibility.compactMap { $0["id"] as? String }))
        for (service, kind) in [("threat_events", "threat-events"), ("threat_notes", "threat-notes")] {
            let got = records(service).map { "\($0["threatId"] as? String ?? "") \($0["id"] as? String ?? "")" }
            let console = try await simulator.threatChildren(kind)
            let expected = console.flatMap { threat, children in
                children.map { "\(threat) \($0["id"] as? String ?? "")" }
            }
            #expect(got.count == expected.count, "\(service): \(got.count) delivered of \(expected.count)")
            #expect(Set(got) == Set(expected), "\(service)")
        }
        print("SentinelOne crash test: \(kills) SIGKILLs, \(delivered.count) records delivered by eight services")
    }

    /// A record's id and the time it is followed by, where the API keeps them for `type`: alerts in
    /// `alertInfo` (by creation), rogues by `lastSeen`, risks by `lastScanDate`, the others by `updatedAt`.
    static func stamp(_ record: [String: Any], of type: String) -> (id: String, time: String) {
        switch type {
        case "alerts":
            let info = record["alertInfo"] as? [String: Any] ?? [:]
            return (info["alertId"] as? String ?? "", info["createdAt"] as? String ?? "")
        case "rogues": return (record["id"] as? String ?? "", record["lastSeen"] as? String ?? "")
        // Risks do not show when they last changed; the simulator moves lastScanDate with each change.
        case "risks": return (record["id"] as? String ?? "", record["lastScanDate"] as? String ?? "")
        default: return (record["id"] as? String ?? "", record["updatedAt"] as? String ?? "")
        }
    }

    /// Expects `delivered` (one service's records) to hold every record version at most once and, per id,
    /// the newest version equal to what the console has now: nothing lost, nothing twice. Alerts, which the
    /// API filters only by creation, are expected once each as they were created, whatever changed since.
    static func expectNewestVersionsOnce(
        _ delivered: [[String: Any]],
        of type: String,
        as service: String,
        in simulator: SentinelOneSimulator
    ) async throws {
        let versions = delivered.map { Self.stamp($0, of: type) }.map { "\($0.id) \($0.time)" }
        let repeated = Dictionary(grouping: versions, by: { $0 }).filter { $0.value.count > 1 }
        #expect(repeated.isEmpty, "\(service): \(repeated.count) versions delivered more than once")
        var newest: [String: [String: Any]] = [:]
        for var record in delivered {
            for added in ["msg_class", "alert", "cves"] { record.removeValue(forKey: added) }
            let (id, time) = Self.stamp(record, of: type)
            if let known = newest[id], Self.stamp(known, of: type).time > time { continue }
            newest[id] = record
        }
        let console = try await simulator.records(type)
        #expect(newest.count == console.count, "\(service): \(newest.count) delivered of \(console.count)")
        if type == "alerts" {
            #expect(Set(newest.keys) == Set(console.map { Self.stamp($0, of: type).id }), "\(service)")
            return
        }
        let differing = console.filter { record in
            newest[Self.stamp(record, of: type).id].map { NSDictionary(dictionary: $0) }
                != NSDictionary(dictionary: record)
        }
        #expect(differing.isEmpty, "\(service): \(differing.count) records not delivered as the console has them")
    }

    /// Two `trawl run` with the same configuration and state: one polls, the other waits; SIGKILL the one
    /// polling and the other takes over within its lease retry, from the saved cursors. The console keeps
    /// changing throughout; the shared output ends with every record's newest version, none twice.
    @Test(arguments: ["filesystem", "postgres"])
    func aSecondInstanceTakesOverTheServicesWhenThePollingOneIsKilled(backend: String) async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let simulator = try await SentinelOneSimulator()
        defer { simulator.stop() }
        let database = backend == "postgres" ? try await PostgresServer.start() : nil
        defer { database?.stop() }
        let listed = [("agents", "agents"), ("threats", "threats")]
        for (type, _) in listed { try await simulator.add(type, count: 300) }
        try directory.write(
            "config.yaml",
            Self.configuration(url: simulator.url)
                .replacingOccurrences(of: "{id: s1-test,", with: "{id: s1-test, instance: \"${TRAWL_INSTANCE}\",")
                .replacingOccurrences(of: "{page_size: 10,", with: "{page_size: 10, request_period_in_seconds: 1,")
                .replacingOccurrences(
                    of: "persistence: {directory: ./state}",
                    with: "persistence: \(database?.persistenceSettings() ?? "{directory: ./state}")"
                )
        )
        func start(_ instance: String) throws -> BuiltExecutable {
            try BuiltExecutable(
                "trawl",
                arguments: ["run", "--config", "config.yaml"],
                workingDirectory: directory.path,
                environment: ["S1_API_TOKEN": SentinelOneSimulator.viewerToken, "TRAWL_INSTANCE": instance]
            )
        }
        func waitFor(_ text: String, in instance: BuiltExecutable, count: Int = 1) async -> Bool {
            let deadline = ContinuousClock.now + .seconds(60)
            while ContinuousClock.now < deadline {
                if instance.standardError.components(separatedBy: text).count > count { return true }
                try? await Task.sleep(for: .milliseconds(100))
            }
            return false
        }
        let leader = try start("a")
        #expect(await waitFor("Statistics for this pull cycle", in: leader, count: 2))
        let standby = try start("b")
        defer { standby.signal(SIGKILL) }
        #expect(
            await waitFor("this instance takes over if it stops", in: standby, count: 2),
            "\(standby.standardError)"
        )
        #expect(standby.standardError.contains("instance a (pid \(leader.process.processIdentifier)"))
        #expect(!standby.standardError.contains("Statistics for this pull cycle"), "the standby does not poll")

        var generator = SystemRandomNumberGenerator()
        for (type, _) in listed {
            try await simulator.add(type, count: 40)
            let ids = try await simulator.records(type).compactMap { $0["id"] as? String }.shuffled()
            try await simulator.update(type, ids: Array(ids.prefix(25)), addChildren: false)
        }
        try await Task.sleep(for: .milliseconds(Int.random(in: 200...1_500, using: &generator)))
        // Timed from the kill: the leader's exit can be seen late (it is polled), and a CI run timed from
        // then printed a takeover of 0.0001 s, the standby having taken over before the exit was seen.
        let killed = ContinuousClock.now
        leader.signal(SIGKILL)
        _ = await leader.waitForExit()
        #expect(await waitFor("This instance now polls s1/", in: standby, count: 2), "\(standby.standardError)")
        let takeover = killed.duration(to: .now)
        // The standby tries every 5 s: it takes over at its next try, later only by what a loaded machine
        // delays it (10.7 s seen in a CI run with the multi-instance and crash tests beside it).
        #expect(takeover < .seconds(20), "took over after \(takeover)")
        for (type, _) in listed {
            try await simulator.add(type, count: 40)
            let ids = try await simulator.records(type).compactMap { $0["id"] as? String }.shuffled()
            try await simulator.update(type, ids: Array(ids.prefix(25)), addChildren: false)
        }
        // Until the standby has polled twice more since the last change, so it has seen all of it.
        let cycles = standby.standardError.components(separatedBy: "Statistics for this pull cycle").count
        #expect(await waitFor("Statistics for this pull cycle", in: standby, count: cycles + 3))
        standby.signal(SIGTERM)
        #expect(await standby.waitForExit() == 0, "\(standby.standardError.suffix(2_000))")
        let delivered = try Self.delivered(directory)
        for (type, service) in listed {
            let records = delivered.filter { $0.tag == "edr.sentinelone.\(service)" }.map(\.record)
            try await Self.expectNewestVersionsOnce(records, of: type, as: service, in: simulator)
        }
        if database != nil {
            #expect(leader.standardError.contains("Service state, ledgers and leases are kept in postgres://"))
            #expect(!FileManager.default.fileExists(atPath: "\(directory.path)/state/s1-test/7/agents.json"))
        }
        print("SentinelOne takeover test (\(backend)): the standby took over \(takeover) after the leader was killed")
    }

    /// SIGTERM while a Deep Visibility query runs: Trawl cancels the query on the console, saves nothing of
    /// the window and exits 0; the next run queries the window again and delivers its events.
    @Test func aStopWhileADeepVisibilityQueryRunsCancelsIt() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let simulator = try await SentinelOneSimulator()
        defer { simulator.stop() }
        let events = try await simulator.addDeepVisibilityEvents(12)
        let configuration = Self.configuration(url: simulator.url).replacingOccurrences(
            of:
                "      threats: {page_size: 10, historical_poll_datetime: \"\(SentinelOneSimulator.historicalStart)\"}\n",
            with: ""
        ).replacingOccurrences(
            of: "agents: {page_size: 10,",
            with: "deep_visibility: {query_poll_interval_in_seconds: 30, max_window_in_seconds: 2592000, page_size: 10,"
        )
        try directory.write("config.yaml", configuration)
        let environment = ["S1_API_TOKEN": SentinelOneSimulator.viewerToken]
        let trawl = try BuiltExecutable(
            "trawl",
            arguments: ["run", "--config", "config.yaml"],
            workingDirectory: directory.path,
            environment: environment
        )
        let started = await eventually(timeout: .seconds(30)) {
            (try? await simulator.requests().contains { ($0["path"] as? String)?.hasSuffix("/dv/query-status") == true })
                ?? false
        }
        #expect(started, "\(trawl.standardError)")
        trawl.signal(SIGTERM)
        #expect(await trawl.waitForExit(timeout: .seconds(60)) == 0, "\(trawl.standardError)")
        let cancels = try await simulator.requests().filter {
            ($0["path"] as? String)?.hasSuffix("/dv/cancel-query") == true
        }
        #expect(cancels.count == 1)
        #expect(trawl.standardError.contains("cancelled: Trawl is stopping"))
        #expect(try Self.delivered(directory).isEmpty)

        try directory.write(
            "config.yaml",
            configuration.replacingOccurrences(
                of: "query_poll_interval_in_seconds: 30",
                with: "query_poll_interval_in_seconds: 0"
            )
        )
        let rest = try BuiltExecutable(
            "trawl",
            arguments: ["run", "--once", "--config", "config.yaml"],
            workingDirectory: directory.path,
            environment: environment
        )
        #expect(await rest.waitForExit(timeout: .seconds(120)) == 0, "\(rest.standardError)")
        let delivered = try Self.delivered(directory)
        #expect(
            Set(delivered.compactMap { $0.record["id"] as? String }) == Set(events.compactMap { $0["id"] as? String })
        )
        #expect(delivered.count == events.count)
    }

    /// A stop while the console cannot be reached waited for the connect timeout and each backoff until the
    /// 30 s shutdown timeout cancelled the run; with `--once`, also for the cycle to end on its own.
    @Test(arguments: [["run"], ["run", "--once"]])
    func aStopWhileTheConsoleIsUnreachableIsNotHeldByItsRetries(command: [String]) async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        try directory.write(
            "config.yaml",
            Self.configuration(url: "http://127.0.0.1:\(try PeerProcess.refusingPort())")
        )
        let trawl = try BuiltExecutable(
            "trawl",
            arguments: command + ["--config", "config.yaml"],
            workingDirectory: directory.path,
            environment: ["S1_API_TOKEN": SentinelOneSimulator.viewerToken]
        )
        let pulling = await eventually { trawl.standardError.contains("Pull Started") }
        #expect(pulling, "\(trawl.standardError)")
        try await Task.sleep(for: .milliseconds(500))
        let (status, took) = await trawl.stop()
        #expect(status == 0, "\(trawl.standardError)")
        // Waiting for the retries would take the 30 s shutdown timeout from the signal: a bound just under it
        // tells that apart and leaves the rest to a machine loaded by the suite's start.
        #expect(took < .seconds(28), "the stop took \(took)")
        #expect(trawl.standardError.contains("Trawl stopped"))
        #expect(trawl.standardError.contains("Pull stopped while it waited for an answer"), "\(trawl.standardError)")
        #expect(!trawl.standardError.contains("uncommitted work will be pulled again"))
        #expect(try Self.delivered(directory).isEmpty)
    }

    @Test func validateNamesEveryMistakeInTheConnectorsSettings() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        try directory.write(
            "config.yaml",
            Self.configuration(url: "ftp://console.example")
                .replacingOccurrences(of: "api_token: \"${S1_API_TOKEN}\"", with: "api_token: \"\"")
                .replacingOccurrences(of: "page_size: 10, historical", with: "page_size: 5000, historical")
        )
        let (status, _, log) = try await BuiltExecutable.run(
            "trawl",
            arguments: ["validate", "--config", "config.yaml"],
            workingDirectory: directory.path
        )
        #expect(status != 0)
        #expect(log.contains("inputs.s1.credentials.console_url"))
        #expect(log.contains("inputs.s1.credentials.api_token"))
        #expect(log.contains("inputs.s1.services.agents.page_size"))
    }
}

/// `trawl sentinelone test-connection` and `respond` against the simulator.
@Suite struct SentinelOneCommandTests {
    static func run(
        _ arguments: [String],
        token: String,
        simulator: SentinelOneSimulator,
        in directory: TemporaryDirectory,
        environment: [String: String] = [:],
        configuration: String? = nil
    ) async throws -> (status: Int32, output: String, log: String) {
        try directory.write("config.yaml", configuration ?? SentinelOneEndToEndTests.configuration(url: simulator.url))
        let (status, output, log) = try await BuiltExecutable.run(
            "trawl",
            arguments: ["sentinelone"] + arguments + ["--config", "config.yaml", "--input", "s1"],
            workingDirectory: directory.path,
            environment: ["S1_API_TOKEN": token].merging(environment) { $1 }
        )
        return (status, output, log)
    }

    @Test func behindAnEgressProxyTheConsoleIsReachedThroughIt() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let simulator = try await SentinelOneSimulator()
        defer { simulator.stop() }
        let proxy = try await ForwardProxy(directory: directory.path)
        defer { proxy.stop() }
        let result = try await Self.run(
            ["test-connection"],
            token: SentinelOneSimulator.viewerToken,
            simulator: simulator,
            in: directory,
            environment: ["HTTP_PROXY": proxy.url]
        )
        #expect(result.status == 0, "\(result.log)")
        #expect(result.output.contains("agents (/agents): readable"))
        #expect(Set(proxy.tunnels) == [String(simulator.url.dropFirst("http://".count))])
    }

    @Test func testConnectionTellsPerContentTypeWhetherTheTokenCanReadIt() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let simulator = try await SentinelOneSimulator()
        defer { simulator.stop() }
        let good = try await Self.run(
            ["test-connection"],
            token: SentinelOneSimulator.viewerToken,
            simulator: simulator,
            in: directory
        )
        #expect(good.status == 0, "\(good.log)")
        #expect(good.output.contains("agents (/agents): readable"))
        #expect(good.output.contains("rogues (/rogues/table-view): readable"))
        #expect(good.output.contains("vulnerabilities (/installed-applications): readable"))
        // The simulator's tokens expire in 180 days.
        #expect(good.output.contains("  API token: expires on "), "\(good.output)")
        #expect(good.output.contains(" UTC (in 179 day(s))\n"), "\(good.output)")
        #expect(good.output.contains("  Console clock: not behind this host's (within 5 s)\n"), "\(good.output)")

        try await simulator.setDateSkew(seconds: -600)
        let behind = try await Self.run(
            ["test-connection"],
            token: SentinelOneSimulator.viewerToken,
            simulator: simulator,
            in: directory
        )
        #expect(behind.status == 0, "a clock behind is a warning, not a failure: \(behind.log)")
        #expect(
            behind.output.contains("  Console clock: WARNING: 599 s behind this host's")
                || behind.output.contains("  Console clock: WARNING: 600 s behind this host's"),
            "\(behind.output)"
        )
        try await simulator.setDateSkew(seconds: 0)

        try await simulator.fail(status: 403, count: 1, path: "/web/api/v2.1/rogues")
        let partial = try await Self.run(
            ["test-connection"],
            token: SentinelOneSimulator.viewerToken,
            simulator: simulator,
            in: directory
        )
        #expect(partial.status == 1)
        #expect(partial.output.contains("threats (/threats): readable"))
        #expect(partial.output.contains("rogues (/rogues/table-view): NOT readable: ApiError 441"))
        #expect(partial.output.contains("needs Rogues View"))

        let asked = try await simulator.requests().count
        let refused = try await Self.run(["test-connection"], token: "wrong", simulator: simulator, in: directory)
        #expect(refused.status == 1)
        #expect(refused.output.contains("agents (/agents): NOT readable: ApiError 440"))
        #expect(refused.output.contains("rogues (/rogues/table-view): NOT readable: ApiError 440"))
        #expect(
            try await simulator.requests().count == asked + 1,
            "a refused token is not asked again per content type"
        )
        #expect(refused.output.contains("  API token: expiry not checked (the console refused it)\n"))
        #expect(!refused.output.contains("ApiToken") && !refused.log.contains("ApiToken"), "the token is never shown")

        // An input that reads vulnerabilities from the risks endpoint has that endpoint checked.
        let risks = try await Self.run(
            ["test-connection"],
            token: SentinelOneSimulator.viewerToken,
            simulator: simulator,
            in: directory,
            configuration: SentinelOneEndToEndTests.configuration(url: simulator.url).replacingOccurrences(
                of: "    services:\n",
                with: "    services:\n      vulnerabilities: {vulnerabilities_source: risks}\n"
            )
        )
        #expect(risks.status == 0, "\(risks.log)")
        #expect(risks.output.contains("vulnerabilities (/application-management/risks): readable"), "\(risks.output)")
        #expect(!risks.output.contains("/installed-applications"))
    }

    /// A console nothing listens at took 33 s to report (three attempts, each trying to connect again until
    /// the 10 s connect timeout), then said the console "did not say" when the token expires, as if it had
    /// been asked. What proves the attempts no longer wait out the connect timeout is the time between the
    /// two retry warnings, stamped by the command itself: the 1 s backoff plus one attempt, at least 11 s if
    /// an attempt waited. The whole run is bounded only below that path's 33 s, because starting the process
    /// alone has taken 9 s when the suite starts dozens of peers at once.
    @Test func anUnreachableConsoleIsReportedWithinSecondsAndTheTokenIsNotClaimedChecked() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let port = try PeerProcess.refusingPort()
        try directory.write("config.yaml", SentinelOneEndToEndTests.configuration(url: "http://127.0.0.1:\(port)"))
        let started = ContinuousClock.now
        let (status, output, log) = try await BuiltExecutable.run(
            "trawl",
            arguments: ["sentinelone", "test-connection", "--config", "config.yaml", "--input", "s1"],
            workingDirectory: directory.path,
            environment: ["S1_API_TOKEN": SentinelOneSimulator.viewerToken]
        )
        let took = ContinuousClock.now - started
        #expect(status == 1, "\(output)\(log)")
        #expect(took < .seconds(30), "the check took \(took)")
        let retries = log.split(separator: "\n").filter { $0.contains("retrying in") }
        #expect(retries.count == 2, "\(log)")
        #expect(retries.first?.hasSuffix("retrying in 1.0 seconds") == true, "\(log)")
        let stamps = retries.compactMap { Self.secondOfDay(stampedOn: $0) }
        #expect(stamps.count == 2, "\(log)")
        if stamps.count == 2 {
            let between = (stamps[1] - stamps[0] + 86_400).truncatingRemainder(dividingBy: 86_400)
            #expect(between < 6, "the second attempt failed \(between) s after the first: \(log)")
        }
        #expect(output.contains("agents (/agents): NOT readable: ApiError 447"), "\(output)")
        #expect(output.contains("connection refused"), "\(output)")
        #expect(output.contains("  API token: expiry not checked (no answer)\n"), "\(output)")
        #expect(!output.contains("Console clock"), "nothing answered to measure it by: \(output)")
        #expect(!output.contains("port 443"), "the console's port is \(port): \(output)")
    }

    /// The second of the day a log line is stamped with (`2026-12-06T23:26:21.785  WARNING …`).
    static func secondOfDay(stampedOn line: Substring) -> Double? {
        guard let time = line.split(separator: " ").first?.split(separator: "T").last else { return nil }
        let parts = time.split(separator: ":").compactMap { Double($0) }
        guard parts.count == 3 else { return nil }
        return parts[0] * 3_600 + parts[1] * 60 + parts[2]
    }

    @Test func actionsAreSentWithTheirBodiesRemediateFallsBackToQuarantineAndAllIsAudited() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let simulator = try await SentinelOneSimulator()
        defer { simulator.stop() }
        let agents = try await simulator.add("agents", count: 6)
        let threats = try await simulator.add("threats", count: 12)
        let agentIDs = agents.prefix(2).compactMap { $0["id"] as? String }
        let disconnect = try await Self.run(
            ["respond", "disconnect", "--ids", agentIDs.joined(separator: ","), "--requester", "alice"],
            token: SentinelOneSimulator.adminToken,
            simulator: simulator,
            in: directory
        )
        #expect(disconnect.status == 0, "\(disconnect.log)")
        #expect(disconnect.output.contains("POST /web/api/v2.1/agents/actions/disconnect"))
        #expect(disconnect.output.contains("affected 2"))

        let scan = try await Self.run(
            ["respond", "initiate-scan", "--ids", agentIDs[0]],
            token: SentinelOneSimulator.adminToken,
            simulator: simulator,
            in: directory
        )
        #expect(scan.status == 0, "\(scan.log)")

        let system = { (threat: [String: Any]) in
            ((threat["agentRealtimeInfo"] as? [String: Any])?["agentOsType"] as? String) ?? ""
        }
        let threatIDs = threats.compactMap { $0["id"] as? String }
        let remediable = Set(
            threats.filter { ["windows", "macos"].contains(system($0)) }.compactMap { $0["id"] as? String }
        )
        let dry = try await Self.run(
            ["respond", "remediate", "--ids", threatIDs.joined(separator: ","), "--dry-run"],
            token: SentinelOneSimulator.adminToken,
            simulator: simulator,
            in: directory
        )
        #expect(dry.status == 0, "\(dry.log)")
        #expect(dry.output.contains("dry run, not sent"))
        let remediate = try await Self.run(
            ["respond", "remediate", "--ids", threatIDs.joined(separator: ",")],
            token: SentinelOneSimulator.adminToken,
            simulator: simulator,
            in: directory
        )
        #expect(remediate.status == 0, "\(remediate.log)")

        let viewer = try await Self.run(
            ["respond", "kill", "--ids", threatIDs[0]],
            token: SentinelOneSimulator.viewerToken,
            simulator: simulator,
            in: directory
        )
        #expect(viewer.status == 1)
        #expect(viewer.log.contains("ApiError 441"))
        #expect(viewer.log.contains("need a token of the Admin role"))

        let posts = try await simulator.requests().filter { ($0["method"] as? String) == "POST" }
        func ids(_ request: [String: Any]) -> Set<String> {
            Set((((request["body"] as? [String: Any])?["filter"] as? [String: Any])?["ids"] as? [String]) ?? [])
        }
        let paths = posts.compactMap { $0["path"] as? String }
        var expected = ["/agents/actions/disconnect", "/agents/actions/initiate-scan"]
        if !remediable.isEmpty { expected.append("/threats/mitigate/remediate") }
        if remediable.count < threatIDs.count { expected.append("/threats/mitigate/quarantine") }
        expected.append("/threats/mitigate/kill")
        #expect(paths == expected.map { "/web/api/v2.1\($0)" })
        #expect(ids(posts[0]) == Set(agentIDs))
        #expect((posts[1]["body"] as? [String: Any])?["data"] is [String: Any], "initiate-scan sends data: {}")
        let remediated = posts.first { ($0["path"] as? String)?.hasSuffix("/remediate") == true }.map(ids) ?? []
        let quarantined = posts.first { ($0["path"] as? String)?.hasSuffix("/quarantine") == true }.map(ids) ?? []
        #expect(remediated == remediable)
        #expect(quarantined == Set(threatIDs).subtracting(remediable))

        let audit = try String(contentsOfFile: "\(directory.path)/trawl-sentinelone-audit.log", encoding: .utf8)
            .split(separator: "\n").compactMap {
                try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
            }
        let results = audit.map { "\($0["action"] ?? "") \($0["result"] ?? "")" }
        #expect(audit.first?["requester"] as? String == "alice")
        #expect(results.first == "disconnect affected 2")
        #expect(results.contains { $0.hasSuffix("dry run: not sent") })
        #expect(results.last?.hasPrefix("kill failed: ApiError 441") == true)
        #expect(audit.allSatisfy { $0["time"] is String && $0["ids"] is [String] && $0["console"] is String })

        try await simulator.fail(
            status: 200,
            count: 1,
            path: "/web/api/v2.1/threats/mitigate/kill",
            body: "<html>a proxy's page</html>"
        )
        let unreadable = try await Self.run(
            ["respond", "kill", "--ids", threatIDs[0]],
            token: SentinelOneSimulator.adminToken,
            simulator: simulator,
            in: directory
        )
        #expect(unreadable.status == 1)
        #expect(unreadable.log.contains("ApiError 446"), "\(unreadable.log)")
        #expect(unreadable.log.contains("was sent, but its answer does not say how many were affected"))
        #expect(unreadable.log.contains("activity log before repeating it"))
        let last =
            try String(contentsOfFile: "\(directory.path)/trawl-sentinelone-audit.log", encoding: .utf8)
            .split(separator: "\n").last.map(String.init) ?? ""
        #expect(last.contains(#""result":"failed: ApiError 446: POST"#), "\(last)")
        #expect(last.contains("was sent, but its answer does not say how many were affected"))
    }
}
