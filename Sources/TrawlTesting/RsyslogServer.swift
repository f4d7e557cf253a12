import Foundation
import NIOPosix

/// Certificates for TLS tests, made with openssl by Tests/Support/peers/make_certs.sh: a CA, a server
/// certificate for localhost and 127.0.0.1, a client certificate (CN `mydomain`, the Devo domain), and an
/// unrelated CA with its own client certificate.
public struct TestCertificates: Sendable {
    public let directory: String

    /// Makes the certificates in `directory` (openssl runs on the fixtures' threads: it takes a second or two).
    public static func make(in directory: String) async throws -> TestCertificates {
        let status = try await FixtureThreadPool.shared.runIfActive {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/bin/bash")
            process.arguments = ["\(RepositoryFiles.root)/Tests/Support/peers/make_certs.sh", directory]
            try process.runAlone()
            process.waitUntilExit()
            return process.terminationStatus
        }
        guard status == 0 else { throw PeerFailed(description: "make_certs.sh failed with status \(status)") }
        return TestCertificates(directory: directory)
    }

    private init(directory: String) {
        self.directory = directory
    }

    /// Adds `expired-client.crt` and `expired-client.key`: a client certificate signed by the CA that expired
    /// yesterday (Tests/Support/peers/expired_cert.py).
    public func makeExpiredClientCertificate() async throws {
        let directory = self.directory
        let status = try await FixtureThreadPool.shared.runIfActive {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: PeerProcess.python)
            process.arguments = ["\(RepositoryFiles.root)/Tests/Support/peers/expired_cert.py", directory]
            try process.runAlone()
            process.waitUntilExit()
            return process.terminationStatus
        }
        guard status == 0 else { throw PeerFailed(description: "expired_cert.py failed with status \(status)") }
    }

    /// `<directory>/<name>`, e.g. `client.crt`, `client.key`, `ca.crt`, `other-ca.crt`.
    public func path(_ name: String) -> String { "\(self.directory)/\(name)" }
}

/// A real rsyslog (Debian's `rsyslog` + `rsyslog-gnutls`) receiving syslog over mutual TLS on loopback, as
/// shared/docs/devo-delivery.md describes, writing each message's raw bytes plus a newline to a file.
/// `MaxFrameSize` is raised from rsyslog's default of 200000 bytes, past which rsyslog stops honouring
/// octet counting and would store a 200 KB event with its length prefix.
public final class RsyslogServer: Sendable {
    public let peer: PeerProcess
    public let port: Int
    public let outputFile: String
    public let certificates: TestCertificates

    /// How rsyslog listens.
    public enum Transport: Sendable {
        /// imtcp with GnuTLS and mutual TLS (the Devo relay).
        case tls
        /// imtcp, plain.
        case tcp
        /// imudp, with a plain imtcp on the same port number so the test can see it is up.
        case udp
    }

    /// Starts rsyslogd in `directory` (config, work directory and output file live there), on `port`, or
    /// when none is given on a port rsyslog chooses and writes to a file (imtcp's `listenPortFileName`), so
    /// no other test's peer can take it while rsyslog starts. UDP needs a port named in advance for imudp
    /// and imtcp alike; it gets one free at this moment.
    public init(
        directory: String,
        certificates: TestCertificates,
        port: Int? = nil,
        transport: Transport = .tls
    ) async throws {
        let portFile = "\(directory)/rsyslog.port"
        try? FileManager.default.removeItem(atPath: portFile)
        let chosen = try port ?? (transport == .udp ? PeerProcess.freePort() : 0)
        let tcpListen = chosen == 0 ? #"port="0" listenPortFileName="\#(portFile)""# : #"port="\#(chosen)""#
        let work = "\(directory)/rsyslog-work"
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        self.outputFile = "\(directory)/received.log"
        let listeners: String
        switch transport {
        case .tls:
            listeners = """
                module(load="imtcp" StreamDriver.Name="gtls" StreamDriver.Mode="1"
                  StreamDriver.AuthMode="x509/name" PermittedPeer=["mydomain"] MaxFrameSize="262144")
                input(type="imtcp" address="127.0.0.1" \(tcpListen) ruleset="devo")
                """
        case .tcp:
            listeners = """
                module(load="imtcp" MaxFrameSize="262144")
                input(type="imtcp" address="127.0.0.1" \(tcpListen) ruleset="devo")
                """
        case .udp:
            listeners = """
                module(load="imudp")
                input(type="imudp" address="127.0.0.1" port="\(chosen)" ruleset="devo")
                module(load="imtcp")
                input(type="imtcp" address="127.0.0.1" \(tcpListen) ruleset="devo")
                """
        }
        let configuration = """
            global(workDirectory="\(work)" maxMessageSize="256k"
              parser.escapeControlCharactersOnReceive="off"
              DefaultNetstreamDriverCAFile="\(certificates.path("ca.crt"))"
              DefaultNetstreamDriverCertFile="\(certificates.path("server-fullchain.crt"))"
              DefaultNetstreamDriverKeyFile="\(certificates.path("server.key"))")
            \(listeners)
            template(name="devoRaw" type="string" string="%rawmsg%\\n")
            ruleset(name="devo") { action(type="omfile" file="\(self.outputFile)" template="devoRaw") }

            """
        let configurationFile = "\(directory)/rsyslog.conf"
        try configuration.write(toFile: configurationFile, atomically: true, encoding: .utf8)
        self.peer = try await PeerProcess(
            ["/usr/sbin/rsyslogd", "-n", "-f", configurationFile, "-i", "\(directory)/rsyslog.pid"],
            port: chosen,
            portFile: chosen == 0 ? portFile : nil
        )
        self.port = self.peer.port
        self.certificates = certificates
    }

    /// What rsyslog has written so far.
    public var received: Data {
        FileManager.default.contents(atPath: self.outputFile) ?? Data()
    }

    /// Waits until at least `count` bytes were written (rsyslog writes asynchronously).
    public func waitForBytes(_ count: Int, timeout: Duration = .seconds(20)) async throws -> Data {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            let data = self.received
            if data.count >= count { return data }
            try await Task.sleep(for: .milliseconds(50))
        }
        return self.received
    }

    public func stop() { self.peer.stop() }
}
