import Foundation
import Testing
import TrawlCore
import TrawlTesting

/// `trawl run --once` with a `devo` output delivers to a real rsyslog over mutual TLS.
@Suite struct DevoOutputTests {
    @Test func aPullCycleArrivesAtRsyslogOverMutualTLSLineForLine() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let certificates = try await TestCertificates.make(in: directory.path)
        let rsyslog = try await RsyslogServer(directory: directory.path, certificates: certificates)
        defer { rsyslog.stop() }
        let lines = (0..<50).map { "{\"n\":\($0),\"text\":\"línea \($0)\"}" }
        try directory.write("data/events.jsonl", lines.joined(separator: "\n") + "\n")
        try directory.write("config.yaml", Self.configuration(port: rsyslog.port, certificates: certificates))
        let (status, _, errors) = try await BuiltExecutable.run(
            "trawl",
            arguments: ["run", "--once", "--config", "config.yaml"],
            workingDirectory: directory.path
        )
        #expect(status == 0, "\(errors)")
        #expect(errors.contains("Connected to localhost:\(rsyslog.port) over TLS"))
        let expected = lines.map { "<14>Jan  1 00:00:00 vm my.app.trawl.devo: \($0)\n" }.joined()
        let received = try await rsyslog.waitForBytes(expected.utf8.count)
        #expect(String(decoding: received, as: UTF8.self) == expected)
    }

    @Test func validateReportsMissingDevoCertificateFilesAsSetupError17() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        try directory.write(
            "config.yaml",
            """
            globals: {id: devo-test}
            inputs:
              files:
                id: 1
                type: local_files
                services:
                  lines: {directory: ./data, tag: my.app.trawl.devo}
            outputs:
              devo:
                type: devo
                settings: {chain_filename: certs/chain.crt, cert_filename: certs/domain.crt, key_filename: certs/domain.key}
            """
        )
        let (status, _, errors) = try await BuiltExecutable.run(
            "trawl",
            arguments: ["validate", "--config", "config.yaml"],
            workingDirectory: directory.path
        )
        #expect(status == 2)
        #expect(errors.contains("Configuration has 3 error(s):"), "\(errors)")
        for (setting, file) in [
            ("chain_filename", "certs/chain.crt"), ("cert_filename", "certs/domain.crt"),
            ("key_filename", "certs/domain.key"),
        ] {
            #expect(
                errors.contains(
                    "SetupError 17 at outputs.devo.settings.\(setting) (line 11): \(setting) \(file) does not exist"
                ),
                "\(errors)"
            )
        }
    }

    /// The relay refuses an expired domain certificate on every connection: that is said before the run,
    /// with the day it expired, not found as a handshake failure per batch.
    @Test func validateRefusesAnExpiredDomainCertificateSayingWhenItExpired() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let certificates = try await TestCertificates.make(in: directory.path)
        try await certificates.makeExpiredClientCertificate()
        try directory.write(
            "config.yaml",
            Self.configuration(port: 6514, certificates: certificates).replacing("client.", with: "expired-client.")
        )
        let (status, _, errors) = try await BuiltExecutable.run(
            "trawl",
            arguments: ["validate", "--config", "config.yaml"],
            workingDirectory: directory.path
        )
        #expect(status == 2, "\(errors)")
        #expect(errors.contains("SetupError 17 at outputs.devo.settings"), "\(errors)")
        #expect(
            errors.contains("the client certificate \(certificates.path("expired-client.crt")) expired on "),
            "\(errors)"
        )
    }

    static func configuration(port: Int, certificates: TestCertificates) -> String {
        """
        globals:
          id: devo-test
          hostname: vm
          persistence: {directory: ./state}
          shutdown_timeout_in_seconds: 5
        inputs:
          files:
            id: 1
            type: local_files
            services:
              lines: {directory: ./data, tag: my.app.trawl.devo, lines_per_commit: 100, request_period_in_seconds: 1}
        outputs:
          devo:
            type: devo
            settings:
              address: localhost
              port: \(port)
              chain_filename: \(certificates.path("ca.crt"))
              cert_filename: \(certificates.path("client.crt"))
              key_filename: \(certificates.path("client.key"))
        """
    }

    static func lines(_ range: Range<Int>) -> [String] { range.map { "{\"n\":\($0)}" } }

    static func receivedLines(_ rsyslog: RsyslogServer) -> [String] {
        String(decoding: rsyslog.received, as: UTF8.self).split(separator: "\n").map(String.init)
    }

    /// rsyslog goes away mid-stream while events keep coming, then comes back: the spool holds the events
    /// meanwhile and every one arrives exactly once, in order.
    @Test func anOutageIsBridgedByTheSpoolWithEveryEventDeliveredOnceInOrder() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let certificates = try await TestCertificates.make(in: directory.path)
        var rsyslog = try await RsyslogServer(directory: directory.path, certificates: certificates)
        let port = rsyslog.port
        try directory.write("config.yaml", Self.configuration(port: port, certificates: certificates))
        try directory.write("data/a.jsonl", Self.lines(0..<1_000).joined(separator: "\n") + "\n")
        let trawl = try BuiltExecutable(
            "trawl",
            arguments: ["run", "--config", "config.yaml"],
            workingDirectory: directory.path
        )
        defer { trawl.signal(SIGKILL) }
        #expect(
            await eventually(timeout: .seconds(30)) { Self.receivedLines(rsyslog).count == 1_000 },
            "\(trawl.standardError)"
        )

        rsyslog.stop()
        try directory.write("data/b.jsonl", Self.lines(1_000..<2_500).joined(separator: "\n") + "\n")
        #expect(
            await eventually(timeout: .seconds(30)) { trawl.standardError.contains("spooling") },
            "\(trawl.standardError)"
        )
        #expect(
            await eventually(timeout: .seconds(30)) {
                directory.read("state/devo-test/1/lines.json")?.contains("\"b.jsonl\":") == true
            }
        )
        rsyslog = try await RsyslogServer(directory: directory.path, certificates: certificates, port: port)
        defer { rsyslog.stop() }
        let all = Self.lines(0..<2_500).map { "<14>Jan  1 00:00:00 vm my.app.trawl.devo: \($0)" }
        #expect(
            await eventually(timeout: .seconds(60)) { Self.receivedLines(rsyslog).count >= 2_500 },
            "\(trawl.standardError)"
        )
        trawl.signal(SIGTERM)
        #expect(await trawl.waitForExit(timeout: .seconds(30)) == 0, "\(trawl.standardError)")
        #expect(Self.receivedLines(rsyslog) == all)
        #expect(trawl.standardError.contains("its spool is delivered"))
    }

    /// The sender is killed with events in its spool; the next start sends them first.
    @Test func aKilledSenderDeliversItsSpoolAtTheNextStart() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let certificates = try await TestCertificates.make(in: directory.path)
        let port = try PeerProcess.freePort()
        try directory.write("config.yaml", Self.configuration(port: port, certificates: certificates))
        let data = Self.lines(0..<500).joined(separator: "\n") + "\n"
        try directory.write("data/a.jsonl", data)
        // No receiver yet: everything goes to the spool and the whole file is committed at the source.
        let trawl = try BuiltExecutable(
            "trawl",
            arguments: ["run", "--config", "config.yaml"],
            workingDirectory: directory.path
        )
        #expect(
            await eventually(timeout: .seconds(30)) {
                directory.read("state/devo-test/1/lines.json")?.contains("\"a.jsonl\":\(data.utf8.count)") == true
            },
            "\(trawl.standardError)"
        )
        trawl.signal(SIGKILL)
        _ = await trawl.waitForExit()

        let rsyslog = try await RsyslogServer(directory: directory.path, certificates: certificates, port: port)
        defer { rsyslog.stop() }
        let (status, _, errors) = try await BuiltExecutable.run(
            "trawl",
            arguments: ["run", "--once", "--config", "config.yaml"],
            workingDirectory: directory.path
        )
        #expect(status == 0, "\(errors)")
        #expect(errors.contains("starts with 500 spooled events"))
        let all = Self.lines(0..<500).map { "<14>Jan  1 00:00:00 vm my.app.trawl.devo: \($0)" }
        #expect(await eventually(timeout: .seconds(20)) { Self.receivedLines(rsyslog).count >= 500 })
        #expect(Self.receivedLines(rsyslog) == all)
    }

    /// Two outputs at once: the source commits only once both have the events, and each gets every line.
    @Test func devoAndAFileTogetherBothReceiveEveryLineBeforeTheSourceCommits() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let certificates = try await TestCertificates.make(in: directory.path)
        let rsyslog = try await RsyslogServer(directory: directory.path, certificates: certificates)
        defer { rsyslog.stop() }
        let data = Self.lines(0..<300).joined(separator: "\n") + "\n"
        try directory.write("data/a.jsonl", data)
        try directory.write(
            "config.yaml",
            Self.configuration(port: rsyslog.port, certificates: certificates) + """

                  copy:
                    type: file
                    settings: {path: ./out/copy.log}
                """
        )
        let (status, _, errors) = try await BuiltExecutable.run(
            "trawl",
            arguments: ["run", "--once", "--config", "config.yaml"],
            workingDirectory: directory.path
        )
        #expect(status == 0, "\(errors)")
        let all = Self.lines(0..<300).map { "<14>Jan  1 00:00:00 vm my.app.trawl.devo: \($0)" }
        #expect(await eventually(timeout: .seconds(20)) { Self.receivedLines(rsyslog).count >= 300 })
        #expect(Self.receivedLines(rsyslog) == all)
        #expect(directory.read("out/copy.log")?.split(separator: "\n").map(String.init) == all)
        #expect(directory.read("state/devo-test/1/lines.json")?.contains("\"a.jsonl\":\(data.utf8.count)") == true)
    }
}
