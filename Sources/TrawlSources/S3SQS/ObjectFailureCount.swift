import Synchronization

/// Counts the objects or files a one-shot run (`trawl replay`, `trawl backfill`) could not read: each was
/// logged with its error and the others went on, and the command exits with an error at the end.
public final class ObjectFailureCount: Sendable {
    private let count = Atomic(0)

    public init() {}

    public var value: Int { self.count.load(ordering: .relaxed) }

    func add() { self.count.add(1, ordering: .relaxed) }
}
