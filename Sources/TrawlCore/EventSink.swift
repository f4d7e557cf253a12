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

    /// Releases what the sink holds (files, connections) once no more batches will come.
    func close() async throws
}

extension EventSink {
    /// Records only, unless the output says it takes lookups too.
    public var accepts: EventKinds { .records }
}
