import CompressNIO
import Foundation
import NIOCore
import Testing
import TrawlApp
import TrawlCore
import TrawlTesting

/// The `syslog`, `devo_http` and `devo_lookups` outputs as a user configures them: what `trawl validate`
/// says of mistakes, and `trawl run --once` delivering to a real rsyslog over UDP and to a local HTTP server.
@Suite struct SyslogAndHTTPOutputsTests {
    static func validate(_ outputs: String) -> [TrawlError] {
        let yaml = ErrorScenarios.validInput.replacingOccurrences(
            of: "  out: {type: file, settings: {path: ./out.log}}",
            with: outputs
        )
        return ErrorScenarios.errors(validating: yaml)
    }

    @Test func mistakesInTheNewOutputsAreNamedWithTheirSetting() {
        let udpOctets = Self.validate(
            "  s: {type: syslog, settings: {address: 127.0.0.1, protocol: udp, multiline: octet_counting}}"
        )
        #expect(udpOctets.map(\.code.id) == [6])
        #expect(udpOctets.first?.location?.hasPrefix("outputs.s.settings.multiline") == true)
        let http = Self.validate("  h: {type: devo_http, settings: {url: \"ftp://x\", domain: d}}")
        #expect(Set(http.map(\.code.id)) == [4, 6])
        #expect(http.contains { $0.location?.hasPrefix("outputs.h.settings.token") == true })
        #expect(Self.validate("  s: {type: syslog, settings: {address: h, protocl: udp}}").map(\.code.id) == [8])
        let udpSenders = Self.validate(
            "  s: {type: syslog, settings: {address: 127.0.0.1, protocol: udp, senders: 2}}"
        )
        #expect(udpSenders.map(\.code.id) == [7])
        #expect(udpSenders.first?.location?.hasPrefix("outputs.s.settings.senders") == true)
        #expect(Self.validate("  r: {type: relay, settings: {address: h, port: 1, senders: 17}}").map(\.code.id) == [7])
        let onlyLookups = Self.validate("  l: {type: devo_lookups, settings: {domain: d, token: t}}")
        #expect(onlyLookups.map(\.code.id) == [18])
        #expect(onlyLookups.first?.message.contains("produces records") == true)
        #expect(
            Self.validate(
                """
                  s: {type: syslog, settings: {address: h, protocol: tls, lookups: syslog, senders: 4}}
                  l: {type: devo_lookups, settings: {domain: d, token: t}}
                  f: {type: file, settings: {path: ./f.log, lookups: syslog}}
                """
            ).isEmpty
        )
    }

    static func configuration(_ output: String) -> String {
        """
        globals:
          id: outputs
          hostname: vm
          persistence: {directory: ./state}
          shutdown_timeout_in_seconds: 5
        inputs:
          files:
            id: 1
            type: local_files
            services:
              lines: {directory: ./data, tag: my.app.trawl.out, request_period_in_seconds: 1}
        outputs:
        \(output)
        """
    }

    @Test func aRunOverUDPDeliversEveryLineAndSetsAsideTheOneTooLongForADatagram() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let certificates = try await TestCertificates.make(in: directory.path)
        let rsyslog = try await RsyslogServer(directory: directory.path, certificates: certificates, transport: .udp)
        defer { rsyslog.stop() }
        let long = "{\"big\":\"\(String(repeating: "z", count: 3_000))\"}"
        let lines = (0..<20).map { "{\"n\":\($0)}" }
        try directory.write("data/a.jsonl", (lines[..<10] + [long] + lines[10...]).joined(separator: "\n") + "\n")
        try directory.write(
            "config.yaml",
            Self.configuration(
                "  syslog: {type: syslog, settings: {address: 127.0.0.1, port: \(rsyslog.port), protocol: udp, max_message_bytes: 2000}}"
            )
        )
        let (status, _, errors) = try await BuiltExecutable.run(
            "trawl",
            arguments: ["run", "--once", "--config", "config.yaml"],
            workingDirectory: directory.path
        )
        #expect(status == 1, "a line set aside is one not delivered: \(errors)")
        #expect(errors.contains("Completed with 1 error(s) logged (SinkError 504 x1)"), "\(errors.suffix(2_000))")
        let expected = lines.map { "<14>Jan  1 00:00:00 vm my.app.trawl.out: \($0)\n" }.joined()
        let received = try await rsyslog.waitForBytes(expected.utf8.count)
        #expect(String(decoding: received, as: UTF8.self) == expected)
        let refused = directory.read("state/outputs/refused/syslog.jsonl") ?? ""
        #expect(refused.split(separator: "\n").count == 1)
        #expect(refused.contains(String(repeating: "z", count: 3_000)))
        #expect(refused.contains("\"unit\":\"./data/a.jsonl\""), "\(refused.prefix(300))")
    }

    @Test func aRunToDevoHTTPPostsEachLineOnceToTheStreamEndpointThroughTheEgressProxy() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let server = try await RecordingHTTPServer()
        let proxy = try await ForwardProxy(directory: directory.path)
        defer { proxy.stop() }
        let lines = (0..<300).map { "{\"n\":\($0)}" }
        try directory.write("data/a.jsonl", lines.joined(separator: "\n") + "\n")
        try directory.write(
            "config.yaml",
            Self.configuration(
                "  http: {type: devo_http, settings: {url: \"\(server.url)\", domain: mydomain, token: \"${TOKEN}\"}}"
            )
        )
        let (status, _, errors) = try await BuiltExecutable.run(
            "trawl",
            arguments: ["run", "--once", "--config", "config.yaml"],
            workingDirectory: directory.path,
            environment: ["TOKEN": "secret-token-1234", "HTTP_PROXY": proxy.url]
        )
        try await server.stop()
        #expect(status == 0, "\(errors)")
        #expect(!errors.contains("secret-token") && !errors.contains(proxy.password))
        #expect(Set(proxy.tunnels) == [String(server.url.dropFirst("http://".count))])
        var delivered: [String] = []
        for request in server.requests {
            #expect(request.uri == "/stream/mydomain/token!secret-token-1234/vm/my.app.trawl.out")
            var body = request.body
            delivered += String(buffer: try body.decompress(with: .gzip)).split(separator: "\n").map(String.init)
        }
        #expect(delivered == lines)
    }
}
