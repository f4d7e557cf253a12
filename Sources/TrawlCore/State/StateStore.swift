/// Keeps each service's state (cursors, committed offsets) across restarts: on the local filesystem
/// (``FileStateStore``, the default) or in a database several instances share.
///
/// The state is opaque JSON bytes to the store; ``ServicePersistence`` adds typing and the
/// `reset_persistence_auth` rule on top.
public protocol StateStore: Sendable {
    /// The last state saved for `key`, or nil if there is none.
    func load(_ key: StateKey) async throws(TrawlError) -> [UInt8]?
    /// Replaces the state for `key`; when this returns, a crash can no longer lose it, and a crash while it
    /// runs leaves the previous state intact.
    func save(_ bytes: [UInt8], for key: StateKey) async throws(TrawlError)

    /// One item among the many a service keeps (one per S3 object in a ledger), or nil if there is none.
    /// Items are read and written one at a time, so instances sharing the store (several `trawl run` on one
    /// queue) each see the others' latest writes and never overwrite what they did not change.
    func loadItem(_ name: String, of key: StateKey) async throws(TrawlError) -> [UInt8]?
    /// Replaces one item, durably (as ``save(_:for:)``).
    func saveItem(_ bytes: [UInt8], named name: String, of key: StateKey) async throws(TrawlError)
    /// Removes the items of `key` last saved more than `age` ago; returns how many.
    func removeItems(of key: StateKey, olderThan age: Duration) async throws(TrawlError) -> Int

    /// Holds item `name` of `key` for this process until ``ItemHold/release()``, or returns nil when another
    /// holder (another process sharing the store, or another hold in this one) has it. An S3 object is held
    /// while it is read: the ledger knows an object only once it is delivered, so two instances (or a
    /// backfill and `trawl run`) reading it at the same moment would both deliver it. A hold ends with its
    /// holder's process too.
    func tryHoldItem(_ name: String, of key: StateKey) async throws(TrawlError) -> (any ItemHold)?

    /// Takes the lease of the service at `key` for this process, or returns nil (with who holds it, when
    /// known) if another instance holds it. Instances running the same configuration poll each API service
    /// from one of them; the lease ends with ``ServiceLease/release()`` or with the holder's process.
    func tryLease(_ key: StateKey, holder: String) async throws(TrawlError) -> LeaseAttempt
}

/// The outcome of ``StateStore/tryLease(_:holder:)``.
public enum LeaseAttempt: Sendable {
    case taken(any ServiceLease)
    /// Another instance holds it; `holder` says which, as it described itself.
    case heldElsewhere(holder: String)
}

/// A service's lease while this process holds it.
public protocol ServiceLease: Sendable {
    /// False once the lease may have passed to another instance (its database session broke): the
    /// service must stop polling and take it again.
    func stillHeld() async -> Bool
    func release() async
}

/// An item held by ``StateStore/tryHoldItem(_:of:)``.
public protocol ItemHold: Sendable {
    /// Lets the next holder in; releasing twice does nothing.
    func release() async
}
