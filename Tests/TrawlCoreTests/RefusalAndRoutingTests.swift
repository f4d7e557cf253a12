import Foundation
import NIOCore
import Synchronization
import Testing
import TrawlCore
import TrawlTesting

/// Lookup events reach only the outputs that take them, survive the spool, and a sink's refusals and
/// partial deliveries neither lose nor repeat events.
@Suite struct RefusalAndRoutingTests {
    static let update = LookupUpdate(
        table: "cewl",
        columns: [.init("cve_id", type: "str"), .init("score", type: "float")],
        mode: .incremental,
        rows: [[.string("CVE-1"), .float(9.8)], [.string("CVE-2"), .int(7)]],
        deletions: [[.string("CVE-0")]],
        transactionID: "1.000001"
    )
    static let metadata = EventMetadata(source: "s", unit: "u", offset: 0, pullingID: PullingID(microseconds: 0))

    @Test func lookupsGoOnlyToOutputsThatTakeThemAndAnUnservedKindIsRejectedWith18() async throws {
        let records = BoundedEventQueue(maxBufferedEvents: 100)
        let both = BoundedEventQueue(maxBufferedEvents: 100)
        let dispatcher = EventDispatcher(
            queues: [records, both],
            accepts: [.records, [.records, .lookups]],
            maxBatchEvents: 10
        )
        let acknowledgement = Acknowledgement(unit: "unit")
        try await dispatcher.publish(
            [Event.test("r"), Event.lookup(Self.update, metadata: Self.metadata)],
            acknowledgement: acknowledgement
        )
        records.finish()
        both.finish()
        var toRecords: [Event] = []
        for await batch in try records.takeBatches() { toRecords += batch.events }
        var toBoth: [Event] = []
        for await batch in try both.takeBatches() { toBoth += batch.events }
        #expect(toRecords.map(\.kind) == [.record])
        #expect(toBoth.map(\.kind) == [.record, .lookup])

        let lonely = EventDispatcher(
            queues: [BoundedEventQueue(maxBufferedEvents: 10)],
            accepts: [.records],
            maxBatchEvents: 10
        )
        let rejected = Acknowledgement(unit: "lookups")
        try await lonely.publish([Event.lookup(Self.update, metadata: Self.metadata)], acknowledgement: rejected)
        rejected.seal()
        let error = await #expect(throws: AcknowledgementRejected.self) { try await rejected.delivered() }
        #expect(error?.code == 18)
    }

    @Test func aSpooledLookupComesBackAsTheSameLookup() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let spool = try EventSpool(
            store: try FileStateStore(directory: directory.path),
            collectorID: "c",
            output: "o",
            maxBytes: 1 << 20
        )
        #expect(try spool.append([Event.test("r"), Event.lookup(Self.update, metadata: Self.metadata)]))
        let (events, _) = try spool.peek(maxEvents: 10)
        #expect(events.map(\.kind) == [.record, .lookup])
        #expect(events[1].tag == "cewl")
        #expect(try LookupUpdate(decoding: events[1].body) == Self.update)
    }

    static func run<S: EventSink>(
        _ sink: S,
        events: [Event],
        refused: RefusedEventsFile?,
        body: (Acknowledgement) async throws -> Void
    ) async throws {
        let queue = BoundedEventQueue(maxBufferedEvents: 100)
        let dispatcher = EventDispatcher(queues: [queue], maxBatchEvents: 50)
        var configuration = SinkService<ContinuousClock>.Configuration()
        configuration.backoff = RetryBackoff(initial: .milliseconds(10), maximum: .milliseconds(10))
        let service = SinkService(
            sink: sink,
            refusedEvents: refused,
            queue: queue,
            dispatcher: dispatcher,
            configuration: configuration,
            clock: ContinuousClock(),
            logger: RecordingLogger().logger
        )
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await service.run() }
            let acknowledgement = Acknowledgement(unit: "unit")
            try await dispatcher.publish(events, acknowledgement: acknowledgement)
            acknowledgement.seal()
            try await body(acknowledgement)
            group.cancelAll()
        }
    }

    @Test func refusedEventsAreSetAsideInTheRefusedFileAndTheRestDelivered() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let file = RefusedEventsFile(
            store: try FileStateStore(directory: directory.path),
            collectorID: "c",
            output: "picky"
        )
        let sink = ScriptedSink(name: "picky") { write, events in
            let positions = events.indices.filter { String(buffer: events[$0].body).hasPrefix("huge") }
            if !positions.isEmpty {
                throw EventsRefused(positions: positions, error: TrawlError(.sinkWriteFailed, "too big for picky"))
            }
        }
        try await Self.run(sink, events: [Event.test("a"), Event.test("huge ñ"), Event.test("b")], refused: file) {
            try await $0.delivered()
        }
        #expect(sink.delivered.map { String(buffer: $0.body) } == ["a", "b"])
        let lines = (try String(contentsOfFile: file.path, encoding: .utf8)).split(separator: "\n")
        #expect(lines.count == 1)
        let record = try JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as? [String: Any]
        #expect(record?["body"] as? String == "huge ñ")
        #expect(record?["error"] as? String == "SinkError 500")
        #expect(record?["tag"] as? String == "my.app.test.event")
    }

    @Test func afterAPartialDeliveryOnlyTheUndeliveredEventsAreWrittenAgain() async throws {
        let sink = ScriptedSink(name: "halfway") { write, events in
            if write == 1 { throw PartialDelivery(delivered: [0, 2], failure: TrawlError(.sinkWriteFailed, "cut")) }
        }
        try await Self.run(sink, events: ["a", "b", "c", "d"].map { Event.test($0) }, refused: nil) {
            try await $0.delivered()
        }
        #expect(sink.writes.map { $0.map { String(buffer: $0.body) } } == [["a", "b", "c", "d"], ["b", "d"]])
    }
}

/// A sink whose every write runs `script` (the write's number from 1, its events); a write that does not
/// throw delivers its events.
final class ScriptedSink: EventSink {
    let name: String
    private let script: @Sendable (Int, [Event]) throws -> Void
    private let state = Mutex<(writes: [[Event]], delivered: [Event])>(([], []))

    init(name: String, script: @escaping @Sendable (Int, [Event]) throws -> Void) {
        self.name = name
        self.script = script
    }

    func write(_ batches: [EventBatch]) async throws {
        let events = batches.flatMap(\.events)
        let number = self.state.withLock { state in
            state.writes.append(events)
            return state.writes.count
        }
        try self.script(number, events)
        self.state.withLock { $0.delivered += events }
    }

    func close() async throws {}

    var writes: [[Event]] { self.state.withLock { $0.writes } }
    var delivered: [Event] { self.state.withLock { $0.delivered } }
}
