import Logging
import Synchronization
import Testing
import TrawlAWS
import TrawlCore
import TrawlTesting

@Suite struct CredentialRefreshTests {
    typealias Machine = CredentialRefreshStateMachine<ManualClock.Instant, Int>

    static func key(_ name: String, validFor seconds: Int64?) -> AWSCredentials {
        AWSCredentials(
            accessKeyID: "ASIA\(name)",
            secretAccessKey: "secret-\(name)",
            sessionToken: "token",
            expiration: seconds.map {
                UTCTimestamp(microsecondsSinceEpoch: UTCTimestamp.now().microsecondsSinceEpoch + $0 * 1_000_000)
            }
        )
    }

    static func at(_ seconds: Int64) -> ManualClock.Instant { .init(offset: .seconds(seconds)) }

    @Test func firstCallerFetchesAndLaterCallersReuseUntilTheRefreshWindow() {
        var machine = Machine(refreshMargin: .seconds(300), minimumValidity: .seconds(60))
        guard case .fetch = machine.request(now: Self.at(0), waiter: 1) else {
            Issue.record("no fetch")
            return
        }
        #expect(machine.request(now: Self.at(0), waiter: 2).isWait)
        let resumed = machine.fetchSucceeded(Self.key("ONE", validFor: 3600), validFor: .seconds(3600), now: Self.at(0))
        #expect(resumed == [2])
        #expect(machine.request(now: Self.at(3299), waiter: 3).usedKey == "ASIAONE")
        // In the refresh window one caller refreshes while the others keep the still-valid credentials.
        #expect(machine.request(now: Self.at(3300), waiter: 4).isFetch)
        #expect(machine.request(now: Self.at(3301), waiter: 5).usedKey == "ASIAONE")
        _ = machine.fetchSucceeded(Self.key("TWO", validFor: 3600), validFor: .seconds(3600), now: Self.at(3302))
        #expect(machine.request(now: Self.at(3303), waiter: 6).usedKey == "ASIATWO")
    }

    @Test func credentialsAreNeverHandedOutInTheirLastMinute() {
        var machine = Machine(refreshMargin: .seconds(300), minimumValidity: .seconds(60))
        _ = machine.request(now: Self.at(0), waiter: 1)
        _ = machine.fetchSucceeded(Self.key("ONE", validFor: 3600), validFor: .seconds(3600), now: Self.at(0))
        #expect(machine.request(now: Self.at(3300), waiter: 2).isFetch)
        // The refresh hangs; past usableUntil callers wait instead of getting nearly expired keys.
        #expect(machine.request(now: Self.at(3540), waiter: 3).isWait)
        #expect(machine.request(now: Self.at(3599), waiter: 4).isWait)
        guard case .fail(let waiters) = machine.fetchFailed(now: Self.at(3600)) else {
            Issue.record("expired credentials were kept")
            return
        }
        #expect(waiters == [3, 4])
        #expect(machine.request(now: Self.at(3601), waiter: 5).isFetch)
    }

    @Test func aFailedRefreshKeepsValidCredentialsAndRetriesLater() {
        var machine = Machine(refreshMargin: .seconds(300), minimumValidity: .seconds(60), retryInterval: .seconds(15))
        _ = machine.request(now: Self.at(0), waiter: 1)
        _ = machine.fetchSucceeded(Self.key("ONE", validFor: 3600), validFor: .seconds(3600), now: Self.at(0))
        #expect(machine.request(now: Self.at(3400), waiter: 2).isFetch)
        guard case .keepOld(let kept) = machine.fetchFailed(now: Self.at(3401)) else {
            Issue.record("valid credentials dropped")
            return
        }
        #expect(kept.accessKeyID == "ASIAONE")
        #expect(machine.request(now: Self.at(3410), waiter: 3).usedKey == "ASIAONE")
        #expect(machine.request(now: Self.at(3416), waiter: 4).isFetch)
    }

    @Test func shortLivedCredentialsRefreshHalfwayThrough() {
        var machine = Machine(refreshMargin: .seconds(300), minimumValidity: .seconds(60))
        _ = machine.request(now: Self.at(0), waiter: 1)
        _ = machine.fetchSucceeded(Self.key("ONE", validFor: 120), validFor: .seconds(120), now: Self.at(0))
        #expect(machine.request(now: Self.at(59), waiter: 2).usedKey == "ASIAONE")
        #expect(machine.request(now: Self.at(60), waiter: 3).isFetch)
    }

    @Test func concurrentCallersShareOneFetchAndRefreshFollowsTheClock() async throws {
        let clock = ManualClock()
        let fetches = Mutex(0)
        let provider = RefreshingCredentialProvider(name: "role test", clock: clock) { _ in
            let count = fetches.withLock {
                $0 += 1
                return $0
            }
            try await Task.sleep(for: .milliseconds(50))
            return Self.key("N\(count)", validFor: 900)
        }
        let recording = RecordingLogger()
        let keys = try await withThrowingTaskGroup(of: String.self) { group in
            for _ in 0..<20 {
                group.addTask { try await provider.credentials(logger: recording.logger).accessKeyID }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(fetches.withLock { $0 } == 1)
        #expect(Set(keys) == ["ASIAN1"])
        clock.advance(by: .seconds(599))
        #expect(try await provider.credentials(logger: recording.logger).accessKeyID == "ASIAN1")
        clock.advance(by: .seconds(1))
        #expect(try await provider.credentials(logger: recording.logger).accessKeyID == "ASIAN2")
        #expect(recording.messages(containing: "Obtained AWS credentials for role test").count == 2)
        #expect(recording.messages.allSatisfy { !$0.contains("secret-") })
    }
}

extension CredentialRefreshStateMachine.RequestAction {
    var isFetch: Bool {
        if case .fetch = self { return true }
        return false
    }
    var isWait: Bool {
        if case .wait = self { return true }
        return false
    }
    var usedKey: String? {
        if case .use(let credentials) = self { return credentials.accessKeyID }
        return nil
    }
}

@Suite struct CredentialFetchCancellationTests {
    @Test func aCancelledFetcherHandsTheFetchToAWaiterInsteadOfFailingIt() async throws {
        let clock = ManualClock()
        let fetches = Mutex(0)
        let provider = RefreshingCredentialProvider(name: "role cancel", clock: clock) { _ in
            let count = fetches.withLock {
                $0 += 1
                return $0
            }
            if count == 1 { try await Task.sleep(for: .seconds(3600)) }
            return CredentialRefreshTests.key("N\(count)", validFor: 900)
        }
        let logger = RecordingLogger().logger
        async let waiter: String = {
            while fetches.withLock({ $0 }) == 0 { try await Task.sleep(for: .milliseconds(5)) }
            return try await provider.credentials(logger: logger).accessKeyID
        }()
        let firstWasCancelled = await withThrowingTaskGroup(of: String.self) { group in
            group.addTask { try await provider.credentials(logger: logger).accessKeyID }
            while fetches.withLock({ $0 }) == 0 { try? await Task.sleep(for: .milliseconds(5)) }
            try? await Task.sleep(for: .milliseconds(50))
            group.cancelAll()
            do {
                _ = try await group.next()
                return false
            } catch {
                return error is CancellationError
            }
        }
        #expect(firstWasCancelled)
        #expect(try await waiter == "ASIAN2")
        #expect(fetches.withLock { $0 } == 2)
    }
}
