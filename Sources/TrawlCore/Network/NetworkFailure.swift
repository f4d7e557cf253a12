import AsyncHTTPClient
import NIOCore
import NIOPosix
import NIOSSL

#if canImport(Glibc)
import Glibc
#endif

/// Says why a connection or a request failed in an operator's words. The libraries' own descriptions are
/// written for their developers: a refused connection reads `Connection errors: SingleConnectionFailure(target:
/// [IPv4]127.0.0.1/127.0.0.1:5995, error: connection reset (error set): Connection refused) (errno: 111))`, a
/// TLS port spoken to in plain text `handshakeFailed(NIOSSL.BoringSSLError.sslError([Error: 268435703
/// error:100000f7:SSL routines:OPENSSL_internal:WRONG_VERSION_NUMBER]))`.
public enum NetworkFailure {
    /// A short phrase for `error` (`connection refused: nothing accepts connections at that address and
    /// port`), or the error's own description when it is none of the network failures known here. TLS
    /// failures keep BoringSSL's reason code in brackets, the words to search for.
    public static func describe(_ error: any Error) -> String {
        switch error {
        case let error as NIOConnectionError:
            if let failure = error.connectionErrors.last {
                return Self.describe(failure.error)
            }
            if let dns = error.dnsAError ?? error.dnsAAAAError {
                return "the host name \(error.host) cannot be resolved (\(dns))"
            }
            return "cannot connect to \(error.host):\(error.port)"
        case let error as IOError:
            return Self.describe(errno: error.errnoCode) ?? "\(error)"
        case let error as NIOSSLError:
            if case .handshakeFailed(let cause) = error { return "TLS handshake failed: \(Self.tlsReason(cause))" }
            return "TLS failed: \(error)"
        case let error as NIOSSLExtraError where error == .failedToValidateHostname:
            return "TLS handshake failed: the server's certificate is not for the host name connected to"
        case let error as HTTPClientError:
            switch error {
            case .connectTimeout: return "the connection timed out (nothing answered at that address and port)"
            case .readTimeout: return "no answer within the read timeout"
            case .deadlineExceeded: return "the request timed out"
            case .remoteConnectionClosed: return "the other end closed the connection before answering"
            default: return "\(error)"
            }
        case let error as NIOTooManyBytesError:
            return "the answer is larger than the \(error.maxBytes.map { "\($0) " } ?? "")bytes accepted"
        case let error as ChannelError:
            if case .connectTimeout = error {
                return "the connection timed out (nothing answered at that address and port)"
            }
            return "\(error)"
        default:
            return "\(error)"
        }
    }

    /// The common errors of connecting and sending, each with what it usually means.
    static func describe(errno code: CInt) -> String? {
        switch code {
        case ECONNREFUSED: return "connection refused: nothing accepts connections at that address and port"
        case ECONNRESET: return "the connection was reset by the other end"
        case EPIPE: return "the other end closed the connection"
        case ETIMEDOUT: return "the connection timed out (nothing answered at that address and port)"
        case EHOSTUNREACH: return "no route to the host"
        case ENETUNREACH: return "the network is unreachable"
        case EACCES, EPERM: return "the connection is not permitted on this host (a firewall rule?)"
        default: return nil
        }
    }

    /// BoringSSL's reason codes (`WRONG_VERSION_NUMBER`) in words, with what they usually mean.
    static func tlsReason(_ cause: any Error) -> String {
        let text = "\(cause)"
        var reasons: [String] = []
        let parts = text.split(separator: ":")
        for (part, next) in zip(parts, parts.dropFirst()) where part.hasSuffix("OPENSSL_internal") {
            let code = String(next.prefix { $0.isUppercase || $0.isNumber || $0 == "_" })
            if !code.isEmpty, !reasons.contains(code) { reasons.append(code) }
        }
        guard !reasons.isEmpty else { return text }
        return reasons.map { reason in
            switch reason {
            case "WRONG_VERSION_NUMBER":
                return "the other end does not speak TLS there (an http:// endpoint, or another port) [\(reason)]"
            case "CERTIFICATE_VERIFY_FAILED":
                return "the other end's certificate is not trusted (not issued by the CA given or one this host "
                    + "trusts, or expired) [\(reason)]"
            default:
                return "\(reason.lowercased().split(separator: "_").joined(separator: " ")) [\(reason)]"
            }
        }
        .joined(separator: "; ")
    }
}
