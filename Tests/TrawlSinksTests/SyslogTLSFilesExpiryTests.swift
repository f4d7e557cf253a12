import Foundation
import Metrics
import MetricsTestKit
import Testing
import TrawlCore
import TrawlSinks
import TrawlTesting

/// A Devo domain certificate expires, and from then on the relay refuses every connection: the output says
/// so ahead, and exports the date for an alert.
@Suite struct SyslogTLSFilesExpiryTests {
    @Test func aCertificateExpiringWithinThirtyDaysIsWarnedAboutAndItsExpiryIsAGauge() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        // make_certs.sh's certificates are valid for three days.
        let certificates = try await TestCertificates.make(in: directory.path)
        let files = SyslogTLSFiles(
            certificate: certificates.path("client.crt"),
            key: certificates.path("client.key"),
            chainCA: certificates.path("ca.crt")
        )
        let expiry = try #require(files.earliestExpiry())
        let now = UTCTimestamp.now().secondsSinceEpoch
        #expect(abs(expiry.validUntil.date.secondsSinceEpoch - now - 3 * 86_400) < 600)
        let log = RecordingLogger()
        let metrics = TestMetrics()
        _ = try withMetricsFactory(metrics) {
            try SyslogStreamSink(
                name: "devo",
                configuration: .init(host: "localhost", port: 6514, tls: files, location: "outputs.devo.settings"),
                framer: DevoSyslogFramer(hostname: "h"),
                logger: log.logger
            )
        }
        let warnings = log.messages(containing: "Output devo: the ")
        #expect(warnings.count == 1)
        #expect(
            warnings.first?.contains(" expires on \(expiry.validUntil.dateText) UTC (in 2 day(s))") == true,
            "\(warnings)"
        )
        let gauge = try metrics.expectGauge("trawl_output_certificate_expiry_timestamp_seconds", [("output", "devo")])
        #expect(gauge.lastValue == expiry.validUntil.date.secondsSinceEpoch)
    }

    @Test func theClientCertificatesOwnExpiryIsTheFirstCertificateOfItsFile() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let certificates = try await TestCertificates.make(in: directory.path)
        try await certificates.makeExpiredClientCertificate()
        let expired = SyslogTLSFiles(
            certificate: certificates.path("expired-client.crt"),
            key: certificates.path("expired-client.key"),
            chainCA: certificates.path("ca.crt")
        )
        let expiry = try #require(expired.clientCertificateExpiry())
        #expect(expiry.what == "client certificate \(certificates.path("expired-client.crt"))")
        #expect(expiry.validUntil.date < UTCTimestamp.now())
        #expect(expired.earliestExpiry() == expiry)
        #expect(SyslogTLSFiles(certificate: nil, key: nil, chainCA: nil).earliestExpiry() == nil)
    }
}
