import Foundation
import Testing
import TrawlCore
import TrawlSources
import TrawlTesting

/// The per-object ledger, shared by instances through the state store.
@Suite struct S3ObjectLedgerTests {
    static let key = StateKey(collectorID: "c", input: "1", service: "cloud_funnel.ledger")

    static func ledger(
        _ store: FileStateStore,
        auth: String = "",
        sweepInterval: Duration = .seconds(3_600)
    )
        -> S3ObjectLedger
    {
        S3ObjectLedger(
            persistence: ServicePersistence(
                store: store,
                key: Self.key,
                resetPersistenceAuth: auth,
                logger: RecordingLogger().logger
            ),
            retention: .seconds(3_600),
            sweepInterval: sweepInterval
        )
    }

    @Test func anInstanceSeesWhatAnotherRecordedAndNeitherOverwritesTheOthersObjects() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try FileStateStore(directory: directory.path)
        let first = Self.ledger(store)
        let second = Self.ledger(store)
        try await first.record("bucket/a#1", delivered: 500, complete: false)
        #expect(try await second.entry("bucket/a#1")?.delivered == 500, "read from the store, not a stale copy")
        try await second.record("bucket/b#1", delivered: 30, complete: true)
        try await second.record("bucket/a#1", delivered: 900, complete: true)
        #expect(try await first.entry("bucket/a#1") == second.entry("bucket/a#1"))
        #expect(try await first.entry("bucket/a#1")?.complete == true)
        #expect(try await first.entry("bucket/b#1")?.delivered == 30)
        #expect(try await first.entry("bucket/c#1") == nil)
        #expect(
            try await Self.ledger(store, auth: "2026-11-24").entry("bucket/a#1") == nil,
            "reset_persistence_auth changed"
        )
    }

    @Test func aLedgerSavedAsOneFileIsMovedIntoItems() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try FileStateStore(directory: directory.path)
        let legacy = ServicePersistence<S3ObjectLedger.State>(
            store: store,
            key: Self.key,
            resetPersistenceAuth: "",
            logger: RecordingLogger().logger
        )
        try await legacy.save(
            S3ObjectLedger.State(objects: [
                "bucket/old#1": S3ObjectLedger.Entry(delivered: 7, complete: false, updated: 1_700_000_000)
            ])
        )
        let ledger = Self.ledger(store)
        #expect(try await ledger.entry("bucket/old#1")?.delivered == 7)
        #expect(try await legacy.load()?.objects.isEmpty == true)
        #expect(FileManager.default.fileExists(atPath: store.path(ofItem: "bucket/old#1", of: Self.key)))
    }

    @Test func itemsOlderThanTheRetentionAreRemoved() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try FileStateStore(directory: directory.path)
        let ledger = Self.ledger(store, sweepInterval: .zero)
        try await ledger.record("bucket/old#1", delivered: 1, complete: true)
        let old = store.path(ofItem: "bucket/old#1", of: Self.key)
        let twoHoursAgo = Date().addingTimeInterval(-7_200)
        try FileManager.default.setAttributes([.modificationDate: twoHoursAgo], ofItemAtPath: old)
        try await ledger.record("bucket/new#1", delivered: 1, complete: true)
        #expect(!FileManager.default.fileExists(atPath: old))
        #expect(try await ledger.entry("bucket/new#1") != nil)
    }

    /// Makes the named items `seconds` older, as if that much time had passed since they were saved.
    static func age(_ names: [String], by seconds: TimeInterval, in store: FileStateStore) throws {
        for name in names {
            let path = store.path(ofItem: name, of: Self.key)
            let modified = try #require(
                try FileManager.default.attributesOfItem(atPath: path)[.modificationDate] as? Date
            )
            try FileManager.default.setAttributes([.modificationDate: modified - seconds], ofItemAtPath: path)
        }
    }

    @Test func anObjectSkippedAgainIsForgottenARetentionAfterThatNotAfterItsDelivery() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try FileStateStore(directory: directory.path)
        let ledger = Self.ledger(store, sweepInterval: .zero)
        let names = ["bucket/skipped#1", "bucket/never-skipped#1"]
        for name in names { try await ledger.record(name, delivered: 10, complete: true) }
        try Self.age(names, by: 2_700, in: store)
        let delivered = try #require(try await ledger.entry("bucket/skipped#1"))
        let aged = S3ObjectLedger.Entry(delivered: 10, complete: true, updated: delivered.updated - 2_700)

        #expect(try await ledger.keepRemembering("bucket/skipped#1", aged))
        let noted = try #require(try await ledger.entry("bucket/skipped#1"))
        #expect(noted.updated >= delivered.updated && noted.delivered == 10)
        #expect(!(try await ledger.keepRemembering("bucket/skipped#1", noted)), "noted a moment ago: no write")
        var partial = aged
        partial.complete = false
        #expect(
            !(try await ledger.keepRemembering("bucket/partial#1", partial)),
            "partial entries are saved per commit"
        )

        try Self.age(names, by: 1_800, in: store)
        try await ledger.record("bucket/new#1", delivered: 1, complete: true)
        #expect(try await ledger.entry("bucket/skipped#1")?.complete == true, "skipped 30 minutes ago")
        #expect(try await ledger.entry("bucket/never-skipped#1") == nil, "delivered 75 minutes ago")
    }
}
