import Logging
import Synchronization

/// The objects being read in this process at this moment, by bucket and key. Two messages can name one
/// object at once (S3 sends a notification more than once now and then, SQS delivers a message more than
/// once, two event rules can match one write), and the ledger only says an object was delivered once its
/// events were: both readers would find it undelivered and send its events twice. The second waits for the
/// first, then finds it in the ledger. (``S3ObjectLedger/reading(_:logger:_:)`` also holds the object in the
/// state store, against readers in other processes.)
final class ObjectsBeingRead: Sendable {
    /// Each object being read, with the readers waiting for it.
    private let held = Mutex<[String: [CheckedContinuation<Void, Never>]]>([:])

    /// Runs `body` once no other reader holds `identity`, saying so when it has to wait.
    func exclusively<T>(
        _ identity: String,
        logger: Logger,
        _ body: () async throws -> T
    ) async throws -> T {
        var waited = false
        while !self.take(identity) {
            if !waited {
                logger.info("s3://\(identity) is being read for another message: waiting for that reading to end")
            }
            waited = true
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let stillHeld = self.held.withLock { held -> Bool in
                    guard held[identity] != nil else { return false }
                    held[identity]?.append(continuation)
                    return true
                }
                if !stillHeld { continuation.resume() }
            }
        }
        defer { self.release(identity) }
        return try await body()
    }

    private func take(_ identity: String) -> Bool {
        self.held.withLock { held in
            guard held[identity] == nil else { return false }
            held[identity] = []
            return true
        }
    }

    private func release(_ identity: String) {
        let waiters = self.held.withLock { $0.removeValue(forKey: identity) } ?? []
        for waiter in waiters { waiter.resume() }
    }
}
