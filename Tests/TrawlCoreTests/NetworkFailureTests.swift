import AsyncHTTPClient
import Glibc
import NIOCore
import Testing

@testable import TrawlCore

@Suite struct NetworkFailureTests {
    struct BoringSSLText: Error, CustomStringConvertible {
        let description: String
    }

    @Test func aRefusedConnectionSaysSoInsteadOfNIOsConnectionResetText() {
        let refused = IOError(errnoCode: ECONNREFUSED, reason: "connection reset (error set)")
        #expect(
            NetworkFailure.describe(refused)
                == "connection refused: nothing accepts connections at that address and port"
        )
        #expect(NetworkFailure.describe(HTTPClientError.connectTimeout).hasPrefix("the connection timed out"))
        #expect(NetworkFailure.describe(IOError(errnoCode: EHOSTUNREACH, reason: "connect")) == "no route to the host")
        #expect(
            NetworkFailure.describe(NIOTooManyBytesError(maxBytes: 1_024))
                == "the answer is larger than the 1024 bytes accepted"
        )
    }

    @Test func tlsReasonCodesAreWordedAndKeptInBrackets() {
        let plainText = BoringSSLText(
            description:
                "sslError([Error: 268435703 error:100000f7:SSL routines:OPENSSL_internal:WRONG_VERSION_NUMBER])"
        )
        #expect(
            NetworkFailure.tlsReason(plainText)
                == "the other end does not speak TLS there (an http:// endpoint, or another port) [WRONG_VERSION_NUMBER]"
        )
        let other = BoringSSLText(
            description: "sslError([Error: 1 error:1000043a:SSL routines:OPENSSL_internal:BAD_PACKET_LENGTH])"
        )
        #expect(NetworkFailure.tlsReason(other) == "bad packet length [BAD_PACKET_LENGTH]")
        #expect(NetworkFailure.tlsReason(BoringSSLText(description: "eof")) == "eof")
    }

    @Test func anErrorThatIsNoNetworkFailureKeepsItsOwnWords() {
        #expect(NetworkFailure.describe(BoringSSLText(description: "something else")) == "something else")
    }
}
