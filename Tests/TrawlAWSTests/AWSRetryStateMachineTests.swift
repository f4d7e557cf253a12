import Testing
import TrawlAWS
import TrawlCore

@Suite struct AWSRetryStateMachineTests {
    let policy = AWSRetryPolicy(
        maxAttempts: 4,
        baseDelay: .milliseconds(100),
        throttlingBaseDelay: .milliseconds(500),
        maxDelay: .seconds(1)
    )

    @Test func transientFailuresBackOffExponentiallyUpToTheCeilingThenGiveUp() {
        var machine = AWSRequestRetryStateMachine(policy: self.policy)
        var delays: [AWSRequestRetryStateMachine.Action] = []
        for _ in 0..<4 {
            machine.attemptStarted()
            delays.append(machine.attemptFailed(.transient, random: 0.999_999))
        }
        #expect(delays.count == 4)
        #expect(delays[3] == .giveUp)
        let expected: [Duration] = [.milliseconds(100), .milliseconds(200), .milliseconds(400)]
        for (action, ceiling) in zip(delays, expected) {
            guard case .retry(let delay) = action else {
                Issue.record("expected a retry, got \(action)")
                continue
            }
            #expect(delay <= ceiling && delay > ceiling * 0.99)
        }
    }

    @Test func jitterSpreadsTheDelayBelowTheCeiling() {
        var machine = AWSRequestRetryStateMachine(policy: self.policy)
        machine.attemptStarted()
        #expect(machine.attemptFailed(.transient, random: 0.5) == .retry(after: .milliseconds(50)))
        machine.attemptStarted()
        #expect(machine.attemptFailed(.transient, random: 0) == .retry(after: .zero))
    }

    @Test func throttlingStartsFromALongerBaseAndIsCapped() {
        #expect(self.policy.ceiling(afterAttempt: 1, throttled: true) == .milliseconds(500))
        #expect(self.policy.ceiling(afterAttempt: 2, throttled: true) == .seconds(1))
        #expect(self.policy.ceiling(afterAttempt: 9, throttled: true) == .seconds(1))
    }

    @Test func clientErrorsAreNeverRetried() {
        var machine = AWSRequestRetryStateMachine(policy: self.policy)
        machine.attemptStarted()
        #expect(machine.attemptFailed(.permanent, random: 0.5) == .giveUp)
    }

    @Test func awsErrorCodesClassifyAsTheSeedsTableSays() {
        func code(_ aws: String, status: Int = 400) -> Int {
            AWSServiceError(service: "sqs", operation: "Op", status: status, code: aws, message: "", requestID: nil)
                .trawlCode.id
        }
        #expect(code("AccessDenied", status: 403) == 401)
        #expect(code("InvalidClientTokenId", status: 403) == 402)
        #expect(code("InvalidAccessKeyId", status: 403) == 402)
        #expect(code("ExpiredToken", status: 403) == 403)
        #expect(code("RequestTimeout") == 404)
        #expect(code("SignatureDoesNotMatch", status: 403) == 420)
        #expect(code("QueueDoesNotExist") == 421)
        #expect(code("AWS.SimpleQueueService.NonExistentQueue") == 421)
        #expect(code("QueueDeletedRecently") == 423)
        #expect(code("NoSuchBucket", status: 404) == 430)
        #expect(code("NoSuchKey", status: 404) == 499)
        let throttled = AWSServiceError(
            service: "s3",
            operation: "GetObject",
            status: 503,
            code: "SlowDown",
            message: "",
            requestID: nil
        )
        #expect(throttled.isRetryable)
        let missing = AWSServiceError(
            service: "s3",
            operation: "GetObject",
            status: 404,
            code: "NoSuchKey",
            message: "",
            requestID: nil
        )
        #expect(!missing.isRetryable)
    }
}
