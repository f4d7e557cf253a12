import Foundation
import Logging
import Testing
import TrawlAWS
import TrawlCore
import TrawlTesting

/// AWS requests tunnelled through a real forward proxy (tinyproxy).
@Suite struct AWSClientProxyTests {
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

    @Test func aProxyThatRefusesTheCredentialsFailsTheRequestSayingSoWithoutWaitingForTheConnectTimeout() async throws {
        let moto = try await MotoServer.open()
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let proxy = try await ForwardProxy(directory: directory.path)
        defer { proxy.stop() }
        let wrong = "http://\(proxy.username):wrong-password@127.0.0.1:\(proxy.port)"
        let clock = ContinuousClock()
        let started = clock.now
        let error = await #expect(throws: TrawlError.self) {
            try await withAWS(
                moto,
                configuration: AWSClient.Configuration(
                    retry: AWSRetryPolicy(maxAttempts: 2, baseDelay: .milliseconds(20), maxDelay: .milliseconds(50)),
                    proxy: try HTTPProxySettings(environment: ["HTTP_PROXY": wrong])
                )
            ) { aws in
                _ = try await aws.sqs().queueURL(name: "anything", logger: RecordingLogger().logger)
            }
        }
        // AsyncHTTPClient alone retries a refused tunnel until its connect timeout (10 s) on each attempt.
        #expect(started.duration(to: clock.now) < AWSClient.Configuration().connectTimeout)
        #expect(error?.code.id == 499)
        #expect(error?.message.contains("proxy of HTTPS_PROXY/HTTP_PROXY refused the tunnel") == true)
        #expect(error?.fix.contains("NO_PROXY") == true)
        #expect(error.map { !"\($0)".contains("wrong-password") } == true)
    }
}
