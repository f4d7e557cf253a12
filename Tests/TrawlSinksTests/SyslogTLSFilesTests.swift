import Foundation
import Testing
import TrawlCore
import TrawlSinks
import TrawlTesting

/// Three TLS files go into a syslog output; when they cannot be used, the error names the setting at fault
/// and what is wrong with its file, every such file at once.
@Suite struct SyslogTLSFilesTests {
    @Test func eachUnusableFileIsNamedByItsSettingWithWhatIsWrongWithIt() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let certificates = try await TestCertificates.make(in: directory.path)
        try directory.write("notes.txt", "not a certificate\n")
        let files = SyslogTLSFiles(
            certificate: directory.path + "/notes.txt",
            key: certificates.path("client.crt"),
            chainCA: directory.path + "/missing.crt"
        )
        let problems = Self.problems(files, location: "outputs.devo.settings")
        #expect(
            problems.map { "\($0.code.id) \($0.location ?? "") \($0.message)" } == [
                "17 outputs.devo.settings.chain_filename chain_filename \(directory.path)/missing.crt does not exist",
                "17 outputs.devo.settings.cert_filename cert_filename \(directory.path)/notes.txt holds no PEM certificate (a -----BEGIN CERTIFICATE----- block)",
                "17 outputs.devo.settings.key_filename key_filename \(certificates.path("client.crt")) holds no unencrypted PEM private key (a -----BEGIN PRIVATE KEY----- block; a key protected by a passphrase cannot be read)",
            ]
        )
        let first = #expect(throws: TrawlError.self) { try files.makeContext(location: "outputs.devo.settings") }
        #expect(first?.location == "outputs.devo.settings.chain_filename")
    }

    @Test func aKeyOfAnotherCertificateIsNamedAsNotBelongingToIt() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let certificates = try await TestCertificates.make(in: directory.path)
        let files = SyslogTLSFiles(
            certificate: certificates.path("client.crt"),
            key: certificates.path("other-client.key"),
            chainCA: certificates.path("ca.crt")
        )
        #expect(Self.problems(files, location: "outputs.devo.settings").count == 1)
        let error = #expect(throws: TrawlError.self) { try files.makeContext(location: "outputs.devo.settings") }
        #expect(error?.location == "outputs.devo.settings.key_filename")
        #expect(
            error?.message
                == "the private key in key_filename \(certificates.path("other-client.key")) does not belong to the certificate in cert_filename \(certificates.path("client.crt"))"
        )
    }

    @Test func aCertificateWithoutItsKeyIsRefusedBeforeAnyHandshake() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let certificates = try await TestCertificates.make(in: directory.path)
        let files = SyslogTLSFiles(certificate: certificates.path("client.crt"), key: nil, chainCA: nil)
        #expect(
            Self.problems(files, location: "outputs.relay.settings").map(\.message) == [
                "cert_filename is set without key_filename"
            ]
        )
        let matching = SyslogTLSFiles(
            certificate: certificates.path("client.crt"),
            key: certificates.path("client.key"),
            chainCA: certificates.path("ca.crt")
        )
        #expect(throws: Never.self) { try matching.makeContext(location: "outputs.devo.settings") }
    }

    /// Every problem `context(location:)` reports; empty when it builds a context.
    static func problems(_ files: SyslogTLSFiles, location: String) -> [TrawlError] {
        switch files.context(location: location) {
        case .success: return []
        case .failure(let unusable): return unusable.errors
        }
    }
}
