import Testing
import TrawlCore

@Suite struct CleartextURLTests {
    /// A token sent over http:// crosses the network readable, except to this machine's loopback, where
    /// emulators and simulators listen.
    @Test(arguments: [
        ("http://api.ctci.example", true), ("HTTP://10.0.0.5:8080/x", true), ("http://console.sentinelone.net/", true),
        ("https://api.ctci.example", false), ("http://127.0.0.1:4566", false), ("http://localhost:8080", false),
        ("http://[::1]:9000", false),
    ])
    func onlyPlainHTTPToAnotherHostSendsInCleartext(url: String, cleartext: Bool) {
        #expect(sendsInCleartext(url) == cleartext)
    }
}
