import Foundation
import Testing
import TrawlCore
import TrawlTesting

/// `trawl run --once` with a `devo` output delivers to a real rsyslog over mutual TLS.
@Suite struct DevoOutputTests {
    @Test func aPullCycleArrivesAtRsyslogOverMutualTLSLineForLine() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let certificates = try TestCertificates(in: directory.path)
        let rsyslog = try await RsyslogServer(directory: directory.path, certificates: certificates)
        defer { rsyslog.stop() }
        let lines = (0..<50).map { "{\"n\":\($0),\"text\":\"línea \($0)\"}" }
        try directory.write("data/events.jsonl", lines.joined(separator: "\n") + "\n")
        try directory.write(
            "config.yaml",
            """
            globals:
              id: devo-test
              hostname: vm
              persistence: {directory: ./state}
            inputs:
              files:
                id: 1
                type: local_files
                services:
                  lines: {directory: ./data, tag: my.app.trawl.devo}
            outputs:
              devo:
                type: devo
                settings:
                  address: localhost
                  port: \(rsyslog.port)
                  chain_filename: \(certificates.path("ca.crt"))
                  cert_filename: \(certificates.path("client.crt"))
                  key_filename: \(certificates.path("client.key"))
            """
        )
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
        #expect(errors.contains("SetupError 17 at outputs.devo.settings"))
        #expect(errors.contains("certs/domain.crt"))
    }
}
