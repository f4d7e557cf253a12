/// Keeps each service's state (cursors, committed offsets) across restarts.
///
/// The state is opaque JSON bytes to the store; ``ServicePersistence`` adds typing and the
/// `reset_persistence_auth` rule on top.
public protocol StateStore: Sendable {
    /// The last state saved for `key`, or nil if there is none.
    func load(_ key: StateKey) throws(TrawlError) -> [UInt8]?
    /// Replaces the state for `key`; when this returns, a crash can no longer lose it, and a crash while it
    /// runs leaves the previous state intact.
    func save(_ bytes: [UInt8], for key: StateKey) throws(TrawlError)
}
