import Testing
import TrawlCore

/// The egress proxy as the environment names it, shared by the HTTP inputs and outputs.
@Suite struct HTTPProxySettingsTests {
    @Test func theProxyOfEachSchemeIsReadLowerCaseNamesFirst() throws {
        let settings = try HTTPProxySettings(environment: [
            "https_proxy": "http://egress.corp:3128/",
            "HTTPS_PROXY": "http://ignored:1",
            "HTTP_PROXY": "plain.corp",
        ])
        #expect(settings.https == HTTPProxySettings.Server(host: "egress.corp", port: 3128))
        #expect(settings.http == HTTPProxySettings.Server(host: "plain.corp", port: 80))
        #expect(settings.server(scheme: "https", host: "sqs.us-east-1.amazonaws.com")?.host == "egress.corp")
        #expect(settings.server(scheme: "http", host: "127.0.0.1")?.host == "plain.corp")
        #expect(try HTTPProxySettings(environment: [:]).server(scheme: "https", host: "s3.amazonaws.com") == nil)
    }

    @Test func theUserAndPasswordAreDecodedAndNeverDescribed() throws {
        let settings = try HTTPProxySettings(environment: ["HTTPS_PROXY": "http://svc%40corp:p%3Ass@proxy:8080"])
        let server = try #require(settings.https)
        #expect(server.username == "svc@corp")
        #expect(server.password == "p:ss")
        #expect("\(server)" == "svc@corp@proxy:8080")
    }

    @Test func noProxyNamesDomainsAddressesOrEverything() throws {
        let settings = try HTTPProxySettings(environment: [
            "HTTPS_PROXY": "http://proxy:3128",
            "NO_PROXY": " .internal.corp, amazonaws.com.cn ,10.0.0.5,vpce.local:443,2001:db8:0:0:0:0:0:7",
        ])
        #expect(settings.server(scheme: "https", host: "collector.internal.corp") == nil)
        #expect(settings.server(scheme: "https", host: "internal.corp") == nil)
        #expect(settings.server(scheme: "https", host: "s3.cn-north-1.amazonaws.com.cn") == nil)
        #expect(settings.server(scheme: "https", host: "10.0.0.5") == nil)
        #expect(settings.server(scheme: "https", host: "vpce.local") == nil)
        #expect(settings.server(scheme: "https", host: "[2001:db8:0:0:0:0:0:7]") == nil)
        #expect(settings.server(scheme: "https", host: "2001:db8:0:0:0:0:0") != nil)
        #expect(settings.server(scheme: "https", host: "notinternal.corp") != nil)
        #expect(settings.server(scheme: "https", host: "s3.us-east-1.amazonaws.com") != nil)
        let everything = try HTTPProxySettings(environment: ["HTTPS_PROXY": "http://proxy:3128", "no_proxy": "*"])
        #expect(everything.server(scheme: "https", host: "sqs.us-east-1.amazonaws.com") == nil)
    }

    @Test func anUnusableProxyURLIsASetupErrorThatHidesItsPassword() {
        for (value, reason) in [
            ("https://proxy:3128", "only http:// proxies"), ("http://proxy:99999", "port"),
            ("http://user:secret-word@proxy:x", "port"), ("http://proxy:3128/path", "no path"),
            ("http://:3128", "no host"),
        ] {
            let error = #expect(throws: TrawlError.self) {
                try HTTPProxySettings(environment: ["HTTPS_PROXY": value])
            }
            #expect(error?.code.id == 6)
            #expect(error?.location == "environment HTTPS_PROXY")
            #expect(error?.message.contains(reason) == true, "\(error?.message ?? "") lacks \(reason)")
            #expect(error.map { !"\($0)".contains("secret-word") } == true)
        }
    }

    @Test func theProxyOfABaseURLFollowsItsSchemeAndHost() throws {
        let settings = try HTTPProxySettings(environment: [
            "HTTPS_PROXY": "http://egress.corp:3128", "NO_PROXY": ".devo.internal",
        ])
        #expect(settings.server(forURL: "https://http-us.devo.io")?.description == "egress.corp:3128")
        #expect(settings.server(forURL: "https://relay.devo.internal/lookup-api") == nil)
        #expect(settings.server(forURL: "http://http-us.devo.io") == nil)
        #expect(settings.server(forURL: "not a url") == nil)
    }
}
