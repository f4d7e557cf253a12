import NIOCore
import Synchronization
import TrawlCore

/// A sink that keeps what it is given, for assertions.
public final class CollectingSink: EventSink {
    public let name: String
    private let received = Mutex<[Event]>([])

    public init(name: String = "collect") {
        self.name = name
    }

    public func write(_ batches: [EventBatch]) async throws {
        self.received.withLock { $0 += batches.flatMap(\.events) }
    }

    public func close() async throws {}

    public var events: [Event] { self.received.withLock { $0 } }
}

/// A sink whose writes never return until ``unblock()``: a stuck Devo relay.
public final class BlockingSink: EventSink {
    public let name: String
    private let state = Mutex<(blocked: Bool, waiters: [CheckedContinuation<Void, Never>], writes: Int)>(
        (true, [], 0)
    )

    public init(name: String = "blocked") {
        self.name = name
    }

    public func write(_ batches: [EventBatch]) async throws {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let blocked = self.state.withLock { state -> Bool in
                state.writes += 1
                if state.blocked { state.waiters.append(continuation) }
                return state.blocked
            }
            if !blocked { continuation.resume() }
        }
    }

    public func close() async throws {}

    /// Write calls started so far.
    public var writesStarted: Int { self.state.withLock { $0.writes } }

    public func unblock() {
        let waiters = self.state.withLock { state in
            state.blocked = false
            defer { state.waiters.removeAll() }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
    }
}

/// A sink that prepares its writes (the chunk's bodies joined by commas) and holds every write until
/// ``release()``; it records, in order, each chunk prepared and each chunk written (named by its first
/// event's body) and whether the write was given that chunk's prepared bytes.
public final class PreparingSink: EventSink {
    public let name: String
    private let entries = Mutex<[String]>([])
    /// Holds the writes.
    private let gate = BlockingSink()

    public init(name: String = "preparing") {
        self.name = name
    }

    public var preparesWrites: Bool { true }

    public func prepare(_ batches: [EventBatch]) -> PreparedWrite? {
        self.entries.withLock { $0.append("prepare \(Self.first(batches))") }
        return PreparedWrite(bytes: ByteBuffer(string: Self.joined(batches)))
    }

    public func write(_ batches: [EventBatch]) async throws {
        try await self.write(batches, prepared: nil)
    }

    public func write(_ batches: [EventBatch], prepared: PreparedWrite?) async throws {
        let matches = prepared?.take().map { String(buffer: $0) == Self.joined(batches) } ?? false
        self.entries.withLock { $0.append("write \(Self.first(batches)) \(matches ? "prepared" : "unprepared")") }
        try await self.gate.write(batches)
    }

    public func close() async throws {}

    /// What was prepared and written, in order.
    public var log: [String] { self.entries.withLock { $0 } }

    /// Lets held writes and all later ones return.
    public func release() {
        self.gate.unblock()
    }

    private static func first(_ batches: [EventBatch]) -> String {
        batches.first?.events.first.map { String(buffer: $0.body) } ?? "nothing"
    }

    private static func joined(_ batches: [EventBatch]) -> String {
        batches.flatMap(\.events).map { String(buffer: $0.body) }.joined(separator: ",")
    }
}

/// A sink that fails its first `failures` writes, then accepts.
public final class FlakySink: EventSink {
    public let name: String
    private let state: Mutex<(remainingFailures: Int, attempts: Int, accepted: Int)>

    public init(name: String = "flaky", failures: Int) {
        self.name = name
        self.state = Mutex((failures, 0, 0))
    }

    public func write(_ batches: [EventBatch]) async throws {
        let fail = self.state.withLock { state -> Bool in
            state.attempts += 1
            if state.remainingFailures > 0 {
                state.remainingFailures -= 1
                return true
            }
            state.accepted += batches.reduce(0) { $0 + $1.events.count }
            return false
        }
        if fail {
            throw TrawlError(.sinkWriteFailed, "output \(self.name) refused the write (test)")
        }
    }

    public func close() async throws {}

    public var attempts: Int { self.state.withLock { $0.attempts } }
    public var acceptedEvents: Int { self.state.withLock { $0.accepted } }
}

/// A counter tasks can share in tests.
public final class SharedCounter: Sendable {
    private let storage = Atomic<Int>(0)

    public init() {}

    public func add(_ amount: Int) { self.storage.add(amount, ordering: .relaxed) }
    public var value: Int { self.storage.load(ordering: .relaxed) }
}

/// Numbers the units of test events, so no two are taken for the same event (outputs may drop repeats).
private let testUnits = Atomic<Int>(0)

extension Event {
    /// An event with `body` and placeholder provenance, for tests that only care about the bytes. Each has
    /// a unit of its own, as distinct events from a source do.
    public static func test(_ body: String, tag: String = "my.app.test.event", offset: Int64 = 0) -> Event {
        let unit = testUnits.add(1, ordering: .relaxed).newValue
        return Event(
            tag: tag,
            body: ByteBuffer(string: body),
            metadata: EventMetadata(
                source: "test",
                unit: "test \(unit)",
                offset: offset,
                pullingID: PullingID(microseconds: 0)
            )
        )
    }
}
