import NIOSSL
import TrawlCore

/// When a certificate of an output's TLS files stops being valid.
public struct CertificateExpiry: Sendable, Equatable {
    /// The file and what it holds: `client certificate client.crt`, `chain CA ca.crt`.
    public var what: String
    /// When the certificate stops being valid (its notAfter).
    public var validUntil: CredentialExpiry
}

extension SyslogTLSFiles {
    /// The certificate of the client certificate file (Devo's domain certificate and its chain) and of the
    /// chain CA file that expires first; nil when neither file is given or readable (``makeContext(location:)``
    /// reports that). A Devo domain certificate expires, and the relay then refuses every connection.
    public func earliestExpiry() -> CertificateExpiry? {
        var earliest: CertificateExpiry?
        for (role, file) in [("client certificate", self.certificate), ("chain CA", self.chainCA)] {
            guard let file, let certificates = try? NIOSSLCertificate.fromPEMFile(file) else { continue }
            for certificate in certificates {
                let expiry = CertificateExpiry(
                    what: "\(role) \(file)",
                    validUntil: CredentialExpiry(secondsSinceEpoch: Int64(certificate.notValidAfter))
                )
                if earliest.map({ expiry.validUntil.date < $0.validUntil.date }) ?? true { earliest = expiry }
            }
        }
        return earliest
    }

    /// When the client certificate itself (the first in its file) expires; nil without one.
    public func clientCertificateExpiry() -> CertificateExpiry? {
        guard let file = self.certificate, let leaf = try? NIOSSLCertificate.fromPEMFile(file).first else {
            return nil
        }
        return CertificateExpiry(
            what: "client certificate \(file)",
            validUntil: CredentialExpiry(secondsSinceEpoch: Int64(leaf.notValidAfter))
        )
    }
}
