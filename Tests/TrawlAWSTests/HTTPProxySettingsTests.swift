import Foundation
import Logging
import Testing
import TrawlAWS
import TrawlCore
import TrawlTesting

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

    @Test func requestsGoThroughTheProxyWithItsCredentialsUnlessNoProxyNamesTheHost() async throws {
        let moto = try await MotoServer.open()
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let proxy = try await ForwardProxy(directory: directory.path)
        defer { proxy.stop() }
        let motoAddress = "127.0.0.1:\(AWSEndpoint(url: moto.endpoint)!.port!)"
        let log = RecordingLogger()
        try await withAWS(
            moto,
            configuration: AWSClient.Configuration(
                retry: AWSRetryPolicy(maxAttempts: 2, baseDelay: .milliseconds(20), maxDelay: .milliseconds(50)),
                proxy: try HTTPProxySettings(environment: ["HTTP_PROXY": proxy.url])
            )
        ) { aws in
            let (bucket, queue, _) = try await aws.bucketAndQueue()
            _ = try await aws.sqs().queueURL(name: queue, logger: log.logger)
            _ = try await aws.s3().listObjects(bucket: bucket, logger: log.logger)
        }
        #expect(proxy.tunnels.contains(motoAddress))
        let tunnelled = proxy.tunnels.count
        try await withAWS(
            moto,
            configuration: AWSClient.Configuration(
                proxy: try HTTPProxySettings(environment: ["HTTP_PROXY": proxy.url, "NO_PROXY": "127.0.0.1"])
            )
        ) { aws in
            let (_, queue, _) = try await aws.bucketAndQueue()
            _ = try await aws.sqs().queueURL(name: queue, logger: log.logger)
        }
        #expect(proxy.tunnels.count == tunnelled)
        #expect(log.messages.allSatisfy { !$0.contains(proxy.password) })
    }

    @Test func aProxyThatRefusesTheCredentialsFailsTheRequestSayingSo() async throws {
        let moto = try await MotoServer.open()
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let proxy = try await ForwardProxy(directory: directory.path)
        defer { proxy.stop() }
        let wrong = "http://\(proxy.username):wrong-password@127.0.0.1:\(proxy.port)"
        let error = await #expect(throws: TrawlError.self) {
            try await withAWS(
                moto,
                configuration: AWSClient.Configuration(
                    connectTimeout: .seconds(2),
                    retry: AWSRetryPolicy(maxAttempts: 2, baseDelay: .milliseconds(20), maxDelay: .milliseconds(50)),
                    proxy: try HTTPProxySettings(environment: ["HTTP_PROXY": wrong])
                )
            ) { aws in
                _ = try await aws.sqs().queueURL(name: "anything", logger: RecordingLogger().logger)
            }
        }
        #expect(error?.code.id == 499)
        #expect(error?.message.contains("proxy of HTTPS_PROXY/HTTP_PROXY refused the tunnel") == true)
        #expect(error?.fix.contains("NO_PROXY") == true)
        #expect(error.map { !"\($0)".contains("wrong-password") } == true)
    }
}
