import Synchronization

/// Counts the objects or files (and, for `trawl backfill`, prefix listings) a one-shot run could not read:
/// each was logged with its error and the others went on, and the command exits with an error at the end.
public final class ObjectFailureCount: Sendable {
    private let count = Atomic(0)

    public init() {}

    public var value: Int { self.count.load(ordering: .relaxed) }

    /// Counts one more; returns the count before it.
    @discardableResult
    func add() -> Int { self.count.wrappingAdd(1, ordering: .relaxed).oldValue }
}
