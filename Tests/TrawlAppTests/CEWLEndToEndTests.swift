import Foundation
import NIOCore
import Testing
import TrawlTesting

/// `trawl run --once` with the ctci_cewl input and the `devo_lookups` output (Devo's Lookups REST API, a
/// recording server here): after every poll, the table the API calls build equals the CEWL list.
@Suite struct CEWLEndToEndTests {
    /// A lookup table rebuilt from Lookups API calls: a deploy replaces it, an append upserts rows by key, a
    /// `del` contribution removes keys.
    struct RebuiltTable {
        var rows: [String: [String: String]] = [:]

        mutating func apply(_ request: RecordingHTTPServer.Request) {
            let parts = multipartParts(request.body, contentType: request.header("Content-Type") ?? "")
            let config = parts["deploy-config"]?.content ?? ""
            let lines = (parts["csv"]?.content ?? "").split(separator: "\r\n")
            guard let header = lines.first.map({ quotedFields($0) }) else { return }
            let rows = lines.dropFirst().map { Dictionary(uniqueKeysWithValues: zip(header, quotedFields($0))) }
            if config.contains(#""contribution":{"type":"del"}"#) {
                for row in rows { self.rows[row[header[0]] ?? ""] = nil }
                return
            }
            if config.contains(#""append":false"#) { self.rows = [:] }
            for row in rows { self.rows[row[header[0]] ?? ""] = row }
        }
    }

    static func record(_ number: Int, score: Double = 7.5) -> [String: Any] {
        [
            "cve": "HR-CVE-2026-\(10_000 + number)", "year_": 2026, "base_score": score, "base_severity": "HIGH",
            "vendor": "vendor, inc. \(number % 3)", "description": "A \"quoted\" flaw\nover two lines \(number)",
        ]
    }

    /// The rows the table should hold for `list`, values as the CSV carries them.
    static func expected(_ list: [[String: Any]]) -> [String: [String: String]] {
        var rows: [String: [String: String]] = [:]
        for record in list {
            guard let cve = record["cve"] as? String else { continue }
            rows[cve] = [
                "cve": cve, "year_": "\(record["year_"] as? Int ?? 0)",
                "base_score": "\(record["base_score"] as? Double ?? 0)",
                "base_severity": record["base_severity"] as? String ?? "", "cve_date": "",
                "vendor": record["vendor"] as? String ?? "", "product": "",
                "description": record["description"] as? String ?? "", "honeypot": "", "intel": "", "research": "",
            ]
        }
        return rows
    }

    /// The `ctci` input polling the simulator at `url` (the token from `CTCI_API_TOKEN`), with `outputs` (YAML
    /// lines indented two spaces) and more `globals` settings (`, key: value`).
    static func configuration(url: String, globals: String = "", outputs: String) -> String {
        """
        globals: {id: cewl-test, hostname: vm, persistence: {directory: ./state}\(globals)}
        inputs:
          ctci:
            id: 9
            type: ctci_cewl
            credentials: {api_token: "${CTCI_API_TOKEN}"}
            services:
              cewl: {api_base_url: "\(url)"}
        outputs:
        \(outputs)

        """
    }

    @Test func theLookupsAPICallsRebuildTheListAfterEveryPollAndNothingIsSentWhenUnchanged() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let simulator = try await CEWLSimulator()
        defer { simulator.stop() }
        let server = try await RecordingHTTPServer()
        try directory.write(
            "config.yaml",
            Self.configuration(
                url: simulator.url,
                outputs:
                    #"  lookups: {type: devo_lookups, settings: {url: "\#(server.url)/lookup-api", domain: mydomain, token: devo-token}}"#
            )
        )
        // The list is fetched and the lookups are deployed through an egress proxy.
        let proxy = try await ForwardProxy(directory: directory.path)
        defer { proxy.stop() }
        var table = RebuiltTable()
        var seen = 0
        func poll() async throws -> Int {
            let (status, _, log) = try await BuiltExecutable.run(
                "trawl",
                arguments: ["run", "--once", "--config", "config.yaml"],
                workingDirectory: directory.path,
                environment: ["CTCI_API_TOKEN": CEWLSimulator.token, "HTTP_PROXY": proxy.url]
            )
            #expect(status == 0, "\(log.suffix(2_000))")
            #expect(!log.contains(CEWLSimulator.token), "the token was logged")
            let requests = server.requests
            let new = requests.dropFirst(seen).filter { $0.uri == "/lookup-api/lookup/mydomain/cewl/deploy-csv" }
            seen = requests.count
            for request in new where request.method == "PUT" || request.method == "POST" { table.apply(request) }
            return new.count
        }
        var list = (0..<12).map { Self.record($0) }
        try await simulator.serve(list)
        #expect(try await poll() > 0)
        #expect(table.rows == Self.expected(list))

        #expect(try await poll() == 0, "nothing is sent when nothing changed")

        list.removeSubrange(0..<3)
        list[2] = Self.record(5, score: 9.8)
        list += [Self.record(40), Self.record(41)]
        list.append(["description": "a record without cve"])
        try await simulator.serve(list)
        #expect(try await poll() == 2, "one append of the changed rows, one deletion of the removed keys")
        #expect(table.rows == Self.expected(list))
        #expect(Set(proxy.tunnels) == Set([simulator.url, server.url].map { String($0.dropFirst("http://".count)) }))
    }
}

extension CEWLEndToEndTests {
    /// A stop while the list was being fetched waited for the request (up to its 60 s timeout, cut by the
    /// 30 s shutdown timeout) and logged the cancelled request as ApiError 451.
    @Test func aStopWhileTheListIsFetchedEndsAtOnceWithoutAnError() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let simulator = try await CEWLSimulator()
        defer { simulator.stop() }
        try await simulator.fail(status: 503, delay: 45)
        try directory.write(
            "config.yaml",
            Self.configuration(
                url: simulator.url,
                outputs: "  out: {type: file, settings: {path: ./out.log, lookups: syslog}}"
            )
        )
        let trawl = try BuiltExecutable(
            "trawl",
            arguments: ["run", "--config", "config.yaml"],
            workingDirectory: directory.path,
            environment: ["CTCI_API_TOKEN": CEWLSimulator.token]
        )
        let fetching = await eventually { (try? await simulator.requests()) == 1 }
        #expect(fetching, "\(trawl.standardError)")
        let (status, took) = await trawl.stop()
        #expect(status == 0, "\(trawl.standardError)")
        // Waiting for the request would take the 30 s shutdown timeout from the signal: a bound just under it
        // tells that apart and leaves the rest to a machine loaded by the suite's start.
        #expect(took < .seconds(28), "the stop took \(took)")
        #expect(!trawl.standardError.contains("ApiError"), "\(trawl.standardError)")
        #expect(!trawl.standardError.contains("WARNING"), "nothing was held, so nothing to warn of")
    }

    /// The seed's setup errors that apply to this collector, each named with its setting by `trawl validate`
    /// (a YAML scalar reads as text, so a wrong type is a list or a mapping where text belongs).
    @Test func validateReportsTheSeedsSetupErrorsWithTheirSettings() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        try directory.write(
            "config.yaml",
            """
            globals: {id: cewl-test, hostname: vm, persistence: {directory: ./state}}
            inputs:
              missing:
                id: 1
                type: ctci_cewl
                credentials: {}
                services:
                  cewl: {verify_host_ssl_cert: "yes", reset_persistence_auth: [7]}
              typed:
                id: 2
                type: ctci_cewl
                credentials: {api_token: t}
                services:
                  cewl: {api_base_url: [42], historical_poll_datetime: "yesterday"}
              formats:
                id: 3
                type: ctci_cewl
                credentials: {api_token: t}
                services:
                  cewl: {api_base_url: "ftp://api.ctci.ai", historical_poll_datetime: "2020-01-01"}
              future:
                id: 4
                type: ctci_cewl
                credentials: {api_token: t}
                services:
                  cewl: {api_base_url: "https://api.ctci.ai:8443/", historical_poll_datetime: "2099-01-01"}
            outputs:
              lookups: {type: devo_lookups, settings: {domain: d, token: t}}

            """
        )
        let (status, _, log) = try await BuiltExecutable.run(
            "trawl",
            arguments: ["validate", "--config", "config.yaml"],
            workingDirectory: directory.path
        )
        #expect(status == 2)
        for (id, setting) in [
            (4, "inputs.missing.services.cewl.api_base_url"), (4, "inputs.missing.credentials.api_token"),
            (5, "inputs.missing.services.cewl.verify_host_ssl_cert"),
            (5, "inputs.missing.services.cewl.reset_persistence_auth"), (5, "inputs.typed.services.cewl.api_base_url"),
            (6, "inputs.typed.services.cewl.historical_poll_datetime"),
            (6, "inputs.formats.services.cewl.api_base_url"),
            (10, "inputs.future.services.cewl.historical_poll_datetime"),
        ] {
            #expect(log.contains("SetupError \(id) at \(setting)"), "SetupError \(id) at \(setting)")
        }
        // A date older than a year is refused only where a service with no saved state would start from it
        // (SetupError 9 then): a configuration that has run for a year still validates.
        #expect(!log.contains("SetupError 9"), "\(log)")
    }
}

extension CEWLEndToEndTests {
    /// A lookup table rebuilt from the legacy protocol's syslog lines (`my.lookup.control` / `my.lookup.data`).
    struct SyslogRebuiltTable {
        var rows: [String: [String: String]] = [:]
        var columns: [String] = []
        var uploads = 0

        mutating func apply(_ line: Substring) throws {
            guard let colon = line.range(of: ": ") else { return }
            let tag = String(line[..<colon.lowerBound].split(separator: " ").last ?? "")
            let body = line[colon.upperBound...]
            let parts = body.split(separator: "|", maxSplits: 2, omittingEmptySubsequences: false)
            if tag.hasPrefix("my.lookup.control.cewl.") {
                guard parts.count == 3, parts[1] == "START" else {
                    if parts.count == 3, parts[1] == "END" { self.uploads += 1 }
                    return
                }
                let headers = try JSONSerialization.jsonObject(with: Data(parts[2].utf8)) as? [[String: Any]] ?? []
                self.columns = headers.compactMap(\.keys.first)
                if tag.hasSuffix(".FULL") { self.rows = [:] }
            } else if tag == "my.lookup.data.cewl", parts.count >= 2 {
                let values = quotedFields(body[parts[1].startIndex...], newlineEscape: true)
                self.rows[values.first ?? ""] = Dictionary(uniqueKeysWithValues: zip(self.columns, values))
            } else if tag == "my.lookup.data.cewl.DELETE", parts.count >= 2 {
                self.rows[quotedFields(body[parts[1].startIndex...], newlineEscape: true).first ?? ""] = nil
            }
        }
    }

    @Test func theLegacySyslogLookupProtocolRebuildsTheListAfterEveryPoll() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let simulator = try await CEWLSimulator()
        defer { simulator.stop() }
        let certificates = try await TestCertificates.make(in: directory.path)
        let rsyslog = try await RsyslogServer(directory: directory.path, certificates: certificates)
        defer { rsyslog.stop() }
        try directory.write(
            "config.yaml",
            Self.configuration(
                url: simulator.url,
                globals: ", shutdown_timeout_in_seconds: 5",
                outputs: """
                      devo:
                        type: devo
                        settings:
                          address: localhost
                          port: \(rsyslog.port)
                          chain_filename: \(certificates.path("ca.crt"))
                          cert_filename: \(certificates.path("client.crt"))
                          key_filename: \(certificates.path("client.key"))
                          lookups: syslog
                    """
            )
        )
        func poll(expectingUploads uploads: Int) async throws -> SyslogRebuiltTable {
            let (status, _, log) = try await BuiltExecutable.run(
                "trawl",
                arguments: ["run", "--once", "--config", "config.yaml"],
                workingDirectory: directory.path,
                environment: ["CTCI_API_TOKEN": CEWLSimulator.token]
            )
            #expect(status == 0, "\(log.suffix(2_000))")
            var table = SyslogRebuiltTable()
            _ = await eventually {
                table = SyslogRebuiltTable()
                for line in String(decoding: rsyslog.received, as: UTF8.self).split(separator: "\n") {
                    try? table.apply(line)
                }
                return table.uploads >= uploads
            }
            return table
        }
        var list = (0..<12).map { Self.record($0) }
        try await simulator.serve(list)
        var table = try await poll(expectingUploads: 1)
        #expect(table.uploads == 1)
        #expect(table.rows == Self.expected(list))

        table = try await poll(expectingUploads: 1)
        #expect(table.uploads == 1, "nothing is sent when nothing changed")

        list.removeSubrange(0..<3)
        list[2] = Self.record(5, score: 9.8)
        list += [Self.record(40), Self.record(41)]
        try await simulator.serve(list)
        table = try await poll(expectingUploads: 2)
        #expect(table.uploads == 2)
        #expect(table.rows == Self.expected(list))
    }
}

/// The fields of a comma-separated line, quoted fields with `""` for a quote (RFC 4180, as the Lookups API's
/// CSV has them); with `newlineEscape`, `\n` inside quotes is a newline (the legacy syslog protocol's data
/// lines, whose numbers also go unquoted).
func quotedFields(_ text: Substring, newlineEscape: Bool = false) -> [String] {
    var fields: [String] = []
    var field = ""
    var quoted = false
    var index = text.startIndex
    while index < text.endIndex {
        let character = text[index]
        let next = text.index(after: index)
        if quoted {
            if character == "\"", next < text.endIndex, text[next] == "\"" {
                field.append("\"")
                index = text.index(after: next)
                continue
            }
            if character == "\"" {
                quoted = false
            } else if newlineEscape, character == "\\", next < text.endIndex, text[next] == "n" {
                field.append("\n")
                index = text.index(after: next)
                continue
            } else {
                field.append(character)
            }
        } else if character == "\"" {
            quoted = true
        } else if character == "," {
            fields.append(field)
            field = ""
        } else {
            field.append(character)
        }
        index = next
    }
    fields.append(field)
    return fields
}
