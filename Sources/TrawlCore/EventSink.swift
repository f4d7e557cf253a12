import NIOCore
import Synchronization

/// Where events go: the console, a file, Devo. A sink knows nothing about sources; it sees batches and
/// reports success by returning, failure by throwing.
public protocol EventSink: Sendable {
    /// The output's name from the configuration, for logs.
    var name: String { get }

    /// The kinds of events this output delivers; the runtime routes only those to it.
    var accepts: EventKinds { get }

    /// Writes the batches and makes them as durable as this sink can (flush, fsync, peer acknowledgement).
    ///
    /// Called from one task at a time. On a thrown error nothing of the call may count as delivered: the
    /// sink undoes a partial write where it can, and the same batches are offered again after a backoff.
    /// Two errors say more: ``EventsRefused`` (nothing sent; these events can never be delivered here) and
    /// ``PartialDelivery`` (the receiver acknowledged these events before the failure).
    func write(_ batches: [EventBatch]) async throws

    /// How many connections the output sends over at once (Devo's SDK's "available senders"), for the
    /// sender monitor line.
    var senders: Int { get }

    /// True when the sink does work on a chunk before its turn to write (``prepare(_:)``): the runtime then
    /// prepares the next chunk while the current one is written, so only the write itself is serial.
    var preparesWrites: Bool { get }

    /// Work on `batches` that needs nothing the write holds (framing them), done ahead of their write and
    /// possibly while an earlier chunk is being written; nil when there is nothing to do ahead, or when it
    /// failed (the write then does all the work and reports the failure).
    func prepare(_ batches: [EventBatch]) -> PreparedWrite?

    /// Writes `batches` as ``write(_:)`` does, using what ``prepare(_:)`` made of exactly these batches
    /// when `prepared` is not nil.
    func write(_ batches: [EventBatch], prepared: PreparedWrite?) async throws

    /// Releases what the sink holds (files, connections) once no more batches will come.
    func close() async throws
}

/// What a sink made of a chunk ahead of its write: the chunk's framed bytes. The write takes them, so their
/// storage has one owner again once written and the sink can frame the next chunk into it.
public final class PreparedWrite: Sendable {
    private let bytes: Mutex<ByteBuffer?>

    public init(bytes: ByteBuffer) {
        self.bytes = Mutex(bytes)
    }

    /// The bytes, leaving none here; nil when a write already took them.
    public func take() -> ByteBuffer? {
        self.bytes.withLock { bytes in
            defer { bytes = nil }
            return bytes
        }
    }

    /// Gives back the bytes a failed write took, for its retry.
    public func giveBack(_ bytes: ByteBuffer) {
        self.bytes.withLock { $0 = bytes }
    }
}

extension EventSink {
    /// Records only, unless the output says it takes lookups too.
    public var accepts: EventKinds { .records }

    public var senders: Int { 1 }

    public var preparesWrites: Bool { false }

    public func prepare(_ batches: [EventBatch]) -> PreparedWrite? { nil }

    public func write(_ batches: [EventBatch], prepared: PreparedWrite?) async throws {
        try await self.write(batches)
    }
}
