import NIOCore
import NIOSSL
import TrawlCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// TLS settings of a syslog stream: the Devo domain's certificate and key, and the chain CA to trust.
public struct SyslogTLSFiles: Sendable, Equatable {
    /// PEM client certificate (Devo's domain certificate); nil to connect without one.
    public var certificate: String?
    public var key: String?
    /// PEM CA file the receiver's certificate must chain to; nil for the system's trust store.
    public var chainCA: String?
    /// Check that the receiver's certificate names the host connected to.
    public var verifiesHostname: Bool

    public init(certificate: String?, key: String?, chainCA: String?, verifiesHostname: Bool = true) {
        self.certificate = certificate
        self.key = key
        self.chainCA = chainCA
        self.verifiesHostname = verifiesHostname
    }

    /// How long a closing connection waits for the receiver's close_notify after sending its own. Every byte
    /// was flushed before the close, so the wait only makes the close clean; NIO's default (five seconds)
    /// made each stop wait that long for a receiver that never answers.
    public static let closeNotifyWait: TimeAmount = .seconds(1)

    /// Every problem of the files, each naming its setting (`cert_filename`, `key_filename`,
    /// `chain_filename`, the names every syslog output uses) and what is wrong with it: a TLS library's
    /// "failedToLoadCertificate" for three files left an engineer guessing which one, and why.
    public struct Unusable: Error, Sendable {
        public var errors: [TrawlError]
    }

    /// The TLS client context, built once so unusable files are reported at start (SetupError 17); throws
    /// the first problem of ``context(location:settingLocation:)``.
    public func makeContext(location: String) throws(TrawlError) -> NIOSSLContext {
        switch self.context(location: location) {
        case .success(let context): return context
        case .failure(let unusable): throw unusable.errors[0]
        }
    }

    /// The TLS client context, or every problem of the files: each file that cannot be read, else that they
    /// do not fit together (a key of another certificate).
    /// `settingLocation` says where a setting is (`outputs.devo.settings.cert_filename (line 11)`); by default
    /// `location` and the setting's name.
    public func context(
        location: String,
        settingLocation: ((String) -> String)? = nil
    ) -> Result<NIOSSLContext, Unusable> {
        let locate = settingLocation ?? { "\(location).\($0)" }
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.minimumTLSVersion = .tlsv12
        configuration.shutdownTimeout = Self.closeNotifyWait
        configuration.certificateVerification = self.verifiesHostname ? .fullVerification : .noHostnameVerification
        let loaded: LoadedFiles
        switch self.load(locate) {
        case .success(let files): loaded = files
        case .failure(let unusable): return .failure(unusable)
        }
        if let roots = loaded.roots { configuration.trustRoots = .certificates(roots) }
        if let chain = loaded.chain { configuration.certificateChain = chain.map { .certificate($0) } }
        if let key = loaded.key { configuration.privateKey = .privateKey(key) }
        let problem: TrawlError
        do {
            return .success(try NIOSSLContext(configuration: configuration))
        } catch NIOSSLError.failedToLoadPrivateKey where self.certificate != nil && self.key != nil {
            problem = Self.unusable(
                "the private key in key_filename \(self.key!) does not belong to the certificate in cert_filename \(self.certificate!)",
                at: locate("key_filename"),
                fix: "Use the key downloaded with that certificate from Devo (Administration > Credentials > X.509)."
            )
        } catch {
            problem = Self.unusable(
                "the TLS files cannot be used together (certificate \(self.certificate ?? "none"), key \(self.key ?? "none"), chain CA \(self.chainCA ?? "system")): \(error)",
                at: location
            )
        }
        return .failure(Unusable(errors: [problem]))
    }

    private struct LoadedFiles {
        var roots: [NIOSSLCertificate]?
        var chain: [NIOSSLCertificate]?
        var key: NIOSSLPrivateKey?
    }

    /// Reads every file, collecting each one's problem.
    private func load(_ locate: (String) -> String) -> Result<LoadedFiles, Unusable> {
        var loaded = LoadedFiles()
        var errors: [TrawlError] = []
        switch (self.certificate, self.key) {
        case (.some, nil):
            errors.append(
                Self.unusable("cert_filename is set without key_filename", at: locate("key_filename"))
            )
        case (nil, .some):
            errors.append(
                Self.unusable("key_filename is set without cert_filename", at: locate("cert_filename"))
            )
        default:
            break
        }
        do throws(TrawlError) {
            if let chainCA {
                loaded.roots = try Self.certificates(
                    in: chainCA,
                    setting: "chain_filename",
                    at: locate("chain_filename")
                )
            }
        } catch {
            errors.append(error)
        }
        do throws(TrawlError) {
            if let certificate {
                loaded.chain = try Self.certificates(
                    in: certificate,
                    setting: "cert_filename",
                    at: locate("cert_filename")
                )
            }
        } catch {
            errors.append(error)
        }
        do throws(TrawlError) {
            if let key { loaded.key = try Self.privateKey(in: key, at: locate("key_filename")) }
        } catch {
            errors.append(error)
        }
        return errors.isEmpty ? .success(loaded) : .failure(Unusable(errors: errors))
    }

    /// The PEM certificates in `path`, or the reason there are none.
    private static func certificates(
        in path: String,
        setting: String,
        at location: String
    ) throws(TrawlError) -> [NIOSSLCertificate] {
        try Self.checkReadable(path, setting: setting, at: location)
        let certificates = try? NIOSSLCertificate.fromPEMFile(path)
        guard let certificates, !certificates.isEmpty else {
            throw Self.unusable(
                "\(setting) \(path) holds no PEM certificate (a -----BEGIN CERTIFICATE----- block)",
                at: location
            )
        }
        return certificates
    }

    /// The PEM private key in `path`, or the reason it cannot be read.
    private static func privateKey(in path: String, at location: String) throws(TrawlError) -> NIOSSLPrivateKey {
        try Self.checkReadable(path, setting: "key_filename", at: location)
        guard let key = try? NIOSSLPrivateKey(file: path, format: .pem) else {
            throw Self.unusable(
                "key_filename \(path) holds no unencrypted PEM private key (a -----BEGIN PRIVATE KEY----- block; a key protected by a passphrase cannot be read)",
                at: location
            )
        }
        return key
    }

    /// Throws when `path` cannot be opened for reading, saying why (missing, permissions).
    private static func checkReadable(_ path: String, setting: String, at location: String) throws(TrawlError) {
        let descriptor = open(path, O_RDONLY)
        guard descriptor < 0 else {
            close(descriptor)
            return
        }
        let reason: String
        switch errno {
        case ENOENT:
            let relative = path.hasPrefix("/") ? "" : " (a relative path is read from the directory trawl runs in)"
            reason = "does not exist\(relative)"
        case EACCES:
            reason = "cannot be read by the user trawl runs as (permission denied)"
        case let code:
            reason = "cannot be opened: \(String(cString: strerror(code)))"
        }
        throw Self.unusable("\(setting) \(path) \(reason)", at: location)
    }

    private static func unusable(_ message: String, at location: String, fix: String? = nil) -> TrawlError {
        TrawlError(.tlsFilesUnusable, message, location: location, fix: fix)
    }
}
