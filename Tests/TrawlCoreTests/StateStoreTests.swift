import Foundation
import Testing
import TrawlCore
import TrawlTesting

/// What trawl-state-writer saves, as far as the test needs it.
private struct WriterState: Codable, Sendable {
    var counter: Int
}

private struct Cursor: Codable, Sendable, Equatable {
    var position: Int
}

@Suite struct StateStoreTests {
    private func persistence(
        _ directory: TemporaryDirectory,
        reset: String = "",
        log: RecordingLogger = RecordingLogger()
    ) throws -> ServicePersistence<Cursor> {
        ServicePersistence(
            store: try FileStateStore(directory: directory.path),
            key: StateKey(collectorID: "c1", input: "7", service: "events"),
            resetPersistenceAuth: reset,
            logger: log.logger
        )
    }

    @Test func savedStateIsLoadedBackAtTheCollectorInputServiceAddress() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let persistence = try self.persistence(directory)
        #expect(try await persistence.load() == nil)
        try await persistence.save(Cursor(position: 42))
        #expect(try await persistence.load() == Cursor(position: 42))
        #expect(directory.read("c1/7/events.json")?.contains("\"position\":42") == true)
    }

    @Test func changingResetPersistenceAuthResetsTheStateAndSaysSo() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        try await self.persistence(directory, reset: "a").save(Cursor(position: 9))
        let log = RecordingLogger()
        let changed = try self.persistence(directory, reset: "b", log: log)
        #expect(try await changed.load() == nil)
        #expect(log.messages(containing: "reset_persistence_auth changed (\"a\" -> \"b\")").count == 1)
        try await changed.save(Cursor(position: 1))
        #expect(try await self.persistence(directory, reset: "b").load() == Cursor(position: 1))
    }

    @Test func aCorruptStateFileIsAnErrorNotASilentRestart() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        try directory.write("c1/7/events.json", "{\"format\":1,\"state\":")
        let error = await #expect(throws: TrawlError.self) { try await self.persistence(directory).load() }
        #expect(error?.code == .stateUnreadable)
        #expect(error?.location?.hasSuffix("c1/7/events.json") == true)
    }

    @Test func aFailedSaveKeepsTheLastGoodState() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try FileStateStore(directory: directory.path)
        let key = StateKey(collectorID: "c1", input: "7", service: "blocked")
        try FileManager.default.createDirectory(
            atPath: "\(directory.path)/c1/7/blocked.json/inside",
            withIntermediateDirectories: true
        )
        let error = #expect(throws: TrawlError.self) { try store.save(Array("{}".utf8), for: key) }
        #expect(error?.code == .stateWriteFailed)
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: "\(directory.path)/c1/7")
        #expect(leftovers == ["blocked.json"], "the temporary file is cleaned up")
    }

    @Test func aPersistenceDirectoryThatIsAFileIsRejected() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let file = try directory.write("not-a-directory", "x")
        let error = #expect(throws: TrawlError.self) { try FileStateStore(directory: file) }
        #expect(error?.code == .persistenceDirectoryUnusable)
    }

    /// Kills a process that saves state in a tight loop at random moments: after every kill the state file is
    /// a complete state (its padding matches its counter) and never older than the one seen before.
    @Test func sigkillDuringAStateWriteLoopAlwaysLeavesTheLastGoodState() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        var previous = 0
        var generator = SystemRandomNumberGenerator()
        for round in 0..<12 {
            let writer = try BuiltExecutable(
                "trawl-state-writer",
                arguments: [directory.path],
                workingDirectory: directory.path
            )
            let started = await eventually { writer.standardOutput.hasPrefix("ready") }
            #expect(started, "writer round \(round) did not start: \(writer.standardError)")
            try await Task.sleep(for: .milliseconds(Int.random(in: 20...120, using: &generator)))
            writer.signal(SIGKILL)
            let status = await writer.waitForExit()
            #expect(status == SIGKILL, "the writer was killed, not finished")

            let text = try #require(directory.read("crash/1/counter.json"))
            let state = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any]
            let inner = try #require(state?["state"] as? [String: Any])
            let counter = try #require(inner["counter"] as? Int)
            let padding = try #require(inner["padding"] as? String)
            #expect(padding.count == 64 * 1024)
            #expect(Set(padding) == [Character(String(counter % 10))], "a torn state would mix two writes")
            #expect(counter >= previous, "state went backwards from \(previous) to \(counter)")
            previous = counter
        }
        #expect(previous > 12, "the writer made progress between kills")
        _ = try await ServicePersistence<WriterState>(
            store: try FileStateStore(directory: directory.path),
            key: StateKey(collectorID: "crash", input: "1", service: "counter"),
            resetPersistenceAuth: "",
            logger: RecordingLogger().logger
        ).load()
        let left = try FileManager.default.contentsOfDirectory(atPath: "\(directory.path)/crash/1")
        #expect(left == ["counter.json"], "temporary files of killed writers are removed at the next load")
    }

    /// Readers hold an object while they read it: another hold of it is refused until the first is released,
    /// and holds of other items are not affected.
    @Test func anItemHeldIsRefusedToAnotherHoldUntilReleased() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try FileStateStore(directory: directory.path)
        let key = StateKey(collectorID: "c1", input: "7", service: "events.ledger")
        let first = try #require(try store.tryHoldItem("bucket/a.json", of: key))
        #expect(try store.tryHoldItem("bucket/a.json", of: key) == nil)
        let other = try #require(try store.tryHoldItem("bucket/b.json", of: key))
        await first.release()
        await first.release()
        let again = try #require(try store.tryHoldItem("bucket/a.json", of: key))
        #expect(try store.tryHoldItem("bucket/b.json", of: key) == nil)
        await again.release()
        await other.release()
    }

    /// Another process (here Python, locking the byte the store locks for the item) holding an item keeps it
    /// from this one, and its death frees it: the kernel ends its lock with it.
    @Test func anItemHeldByAnotherProcessIsFreeOnceThatProcessDies() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try FileStateStore(directory: directory.path)
        let key = StateKey(collectorID: "c1", input: "7", service: "events.ledger")
        let holder = try await PeerProcess(
            [
                PeerProcess.python, "-c",
                """
                import fcntl, hashlib, os, socket, struct, sys
                os.makedirs(os.path.dirname(sys.argv[1]), exist_ok=True)
                fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)
                offset = int.from_bytes(hashlib.sha256(sys.argv[2].encode()).digest()[:8], 'big') >> 2
                fcntl.fcntl(fd, fcntl.F_OFD_SETLK, struct.pack('hhqqi4x', fcntl.F_WRLCK, 0, offset, 1, 0))
                s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(1)
                print(s.getsockname()[1], flush=True)
                while True: s.accept()
                """,
                "\(store.itemsDirectory(of: key))/holds.lock", "bucket/a.json",
            ],
            port: 0
        )
        #expect(try store.tryHoldItem("bucket/a.json", of: key) == nil)
        holder.stop()
        let taken = await eventually { (try? store.tryHoldItem("bucket/a.json", of: key)) != nil }
        #expect(taken, "the item of a process that died stays held")
    }
}
