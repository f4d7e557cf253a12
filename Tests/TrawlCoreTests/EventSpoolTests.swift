import Foundation
import NIOCore
import Testing
import TrawlCore
import TrawlTesting

@Suite struct EventSpoolTests {
    static func spool(
        _ directory: TemporaryDirectory,
        output: String = "devo",
        maxBytes: Int64 = 1 << 20
    ) throws -> EventSpool {
        try EventSpool(
            store: try FileStateStore(directory: directory.path),
            collectorID: "c1",
            output: output,
            maxBytes: maxBytes
        )
    }

    static func bodies(_ events: [Event]) -> [String] { events.map { String(buffer: $0.body) } }

    /// Appends `count` one-event records (`event 0`, ...) to `spool`; returns where each starts in its file.
    static func appendOneEventRecords(_ count: Int, to spool: EventSpool) throws -> [Int] {
        try (0..<count).map { index in
            let start = try Data(contentsOf: URL(fileURLWithPath: spool.path)).count
            #expect(try spool.append([Event.test("event \(index)")]))
            return start
        }
    }

    /// Spools `records` one-event records (`event 0`, ...), flips the byte `damagedByte` picks from where each
    /// record ends, and closes the spool; returns its path, its bytes as damaged and the records' ends.
    static func damagedSpool(
        _ directory: TemporaryDirectory,
        records: Int,
        output: String = "devo",
        damagedByte: (_ recordEnds: [Int]) -> Int
    ) throws -> (path: String, bytes: Data, recordEnds: [Int]) {
        let spool = try Self.spool(directory, output: output)
        var recordEnds: [Int] = []
        for index in 0..<records {
            #expect(try spool.append([Event.test("event \(index)")]))
            recordEnds.append(try Data(contentsOf: URL(fileURLWithPath: spool.path)).count)
        }
        #expect(spool.damage == nil)
        var bytes = try Data(contentsOf: URL(fileURLWithPath: spool.path))
        bytes[damagedByte(recordEnds)] ^= 0xFF
        try bytes.write(to: URL(fileURLWithPath: spool.path))
        closeWhileNoChildStarts { spool.close() }
        return (spool.path, bytes, recordEnds)
    }

    @Test func eventsComeBackInOrderAndSurviveReopeningUntilCommitted() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        var spool = try Self.spool(directory)
        #expect(try spool.append([Event.test("a"), Event.test("b", tag: "my.app.other.tag")]))
        #expect(try spool.append([Event.test("ñ ™\nmulti")]))
        #expect(spool.pendingEvents == 3)
        let first = try spool.peek(maxEvents: 2)
        #expect(Self.bodies(first.events) == ["a", "b"])
        #expect(first.events.map(\.tag) == ["my.app.test.event", "my.app.other.tag"])
        try spool.commit(upTo: first.next, delivered: 2)

        closeWhileNoChildStarts { spool.close() }
        spool = try Self.spool(directory)
        #expect(spool.pendingEvents == 1)
        let rest = try spool.peek(maxEvents: 10)
        #expect(Self.bodies(rest.events) == ["ñ ™\nmulti"])
        try spool.commit(upTo: rest.next, delivered: 1)
        #expect(spool.isEmpty)
        let size = try FileManager.default.attributesOfItem(atPath: spool.path)[.size] as? Int
        #expect(size == 0)
    }

    @Test func aTornTailIsDroppedAndEveryWholeRecordKept() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let spool = try Self.spool(directory)
        for index in 0..<5 { #expect(try spool.append([Event.test("event \(index)")])) }
        let path = spool.path
        let whole = try Data(contentsOf: URL(fileURLWithPath: path))
        // A crash mid-append: half of a sixth record.
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data([0, 0, 0, 40, 1, 2, 3, 4, 9, 9]))
        try handle.close()

        closeWhileNoChildStarts { spool.close() }
        let reopened = try Self.spool(directory)
        #expect(reopened.pendingEvents == 5)
        #expect(Self.bodies(try reopened.peek(maxEvents: 10).events) == (0..<5).map { "event \($0)" })
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == whole)
        #expect(reopened.damage == nil)
    }

    @Test func aCorruptedRecordEndsTheSpoolThere() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        _ = try Self.damagedSpool(directory, records: 3) { $0[2] - 2 }
        let reopened = try Self.spool(directory)
        #expect(Self.bodies(try reopened.peek(maxEvents: 10).events) == ["event 0", "event 1"])
        #expect(reopened.damage?.code == .spoolDamaged)
    }

    /// Damage in the middle (a checksum fails with whole records after it) is no crash mid-append: the
    /// records from there on had been acknowledged, so their bytes are copied aside, the damaged record is
    /// overwritten by one of no events, and the whole records after it stay and are delivered.
    @Test func damageBeforeTheLastRecordIsCopiedAsideAndTheWholeRecordsAfterItKept() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let (path, bytes, ends) = try Self.damagedSpool(directory, records: 4) { $0[1] + 10 }
        let reopened = try Self.spool(directory)
        let damage = try #require(reopened.damage)
        #expect(damage.code == .spoolDamaged)
        #expect(reopened.pendingEvents == 3)
        #expect(Self.bodies(try reopened.peek(maxEvents: 10).events) == ["event 0", "event 1", "event 3"])
        #expect(try Self.aside(directory) == bytes[ends[1]...])
        #expect(damage.message.contains("bytes \(ends[1])..<\(ends[3]) were copied"), "\(damage.message)")
        #expect(damage.message.contains("damaged bytes \(ends[1])..<\(ends[2]) were overwritten"))
        let kept = try Data(contentsOf: URL(fileURLWithPath: path))
        #expect(kept.count == ends[3])
        #expect(kept[..<ends[1]] == bytes[..<ends[1]])
        #expect(kept[ends[2]...] == bytes[ends[2]...])
        closeWhileNoChildStarts { reopened.close() }
        let again = try Self.spool(directory)
        #expect(again.damage == nil)
        #expect(Self.bodies(try again.peek(maxEvents: 10).events) == ["event 0", "event 1", "event 3"])
    }

    /// The bytes of the one `devo.spool.damaged-*` file beside the spool.
    static func aside(_ directory: TemporaryDirectory) throws -> Data {
        let names = try FileManager.default.contentsOfDirectory(atPath: "\(directory.path)/c1/spool")
            .filter { $0.hasPrefix("devo.spool.damaged-") }
        #expect(names.count == 1)
        return try Data(contentsOf: URL(fileURLWithPath: "\(directory.path)/c1/spool/\(names.first ?? "")"))
    }

    /// A record whose length field is damaged to run past the end of the file looks like a torn append, but
    /// its payload's checksum still matches a shorter length: it was whole (and acknowledged), so it is
    /// damage (205), and the records after it are kept, not cut as an append a crash interrupted.
    @Test func aLengthDamagedToRunPastTheEndIsDamageNotATornAppend() throws {
        for (records, damaged) in [(4, 1), (3, 2)] {
            let directory = try TemporaryDirectory()
            defer { directory.remove() }
            let (_, bytes, ends) = try Self.damagedSpool(directory, records: records) { $0[damaged - 1] }
            let reopened = try Self.spool(directory)
            let damage = try #require(reopened.damage, "record \(damaged) of \(records)")
            #expect(damage.code == .spoolDamaged)
            #expect(damage.message.contains("bytes \(ends[damaged - 1])..<\(ends[records - 1]) were copied"))
            let kept = (0..<records).filter { $0 != damaged }.map { "event \($0)" }
            #expect(Self.bodies(try reopened.peek(maxEvents: 10).events) == kept)
            #expect(try Self.aside(directory) == bytes[ends[damaged - 1]...])
        }
    }

    /// A record whose length runs past the end and whose payload is damaged too matches no checksum, but a
    /// torn append is the last thing written: whole records after it make it damage, and they are kept.
    @Test func aDamagedRecordThatLooksTornIsDamageWhenWholeRecordsFollowIt() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let (path, _, ends) = try Self.damagedSpool(directory, records: 4) { $0[0] }
        var bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        bytes[ends[0] + 20] ^= 0xFF
        try bytes.write(to: URL(fileURLWithPath: path))
        let reopened = try Self.spool(directory)
        #expect(reopened.damage?.code == .spoolDamaged)
        #expect(Self.bodies(try reopened.peek(maxEvents: 10).events) == ["event 0", "event 2", "event 3"])
    }

    /// Seeded random damage (one to three bytes anywhere, with some records delivered already): opening never
    /// fails, reports 205, and keeps exactly the undelivered records whose bytes are untouched, in order.
    /// Bodies hold zero and small bytes, so the search for the next whole record meets plausible lengths.
    @Test func randomDamageLosesExactlyTheDamagedRecords() throws {
        var random = SplitMix64(seed: 205)
        for round in 0..<150 {
            let directory = try TemporaryDirectory()
            defer { directory.remove() }
            let spool = try Self.spool(directory)
            var records: [[String]] = []
            var starts: [Int] = []
            for index in 0..<10 {
                let bodies = (0..<Int.random(in: 1...3, using: &random)).map { event in
                    "r\(index)e\(event)"
                        + String(repeating: "\u{0}\u{0}\u{1}\u{2}", count: Int.random(in: 0...8, using: &random))
                }
                starts.append(try Data(contentsOf: URL(fileURLWithPath: spool.path)).count)
                #expect(try spool.append(bodies.map { Event.test($0) }))
                records.append(bodies)
            }
            let delivered = Int.random(in: 0...4, using: &random)
            for _ in 0..<delivered {
                let read = try spool.peek(maxEvents: 1)
                try spool.commit(upTo: read.next, delivered: read.events.count)
            }
            var bytes = try Data(contentsOf: URL(fileURLWithPath: spool.path))
            var damaged = Set<Int>()
            for _ in 0..<Int.random(in: 1...3, using: &random) {
                let position = Int.random(in: 0..<bytes.count, using: &random)
                bytes[position] ^= UInt8.random(in: 1...255, using: &random)
                damaged.insert(starts.lastIndex { $0 <= position }!)
            }
            try bytes.write(to: URL(fileURLWithPath: spool.path))
            closeWhileNoChildStarts { spool.close() }
            let reopened = try Self.spool(directory)
            let expected = records.indices.filter { $0 >= delivered && !damaged.contains($0) }.flatMap { records[$0] }
            #expect(reopened.damage?.code == .spoolDamaged, "round \(round)")
            #expect(Self.bodies(try reopened.peek(maxEvents: 1_000).events) == expected, "round \(round)")
            #expect(reopened.pendingEvents == expected.count, "round \(round)")
        }
    }

    /// A saved head offset inside a record (its state file damaged or edited) would make every read fail and
    /// stall the output: it moves back to that record's start, with 205 saying its events may be sent twice.
    /// A damaged stretch before the head is repaired first, and the head in a whole record after it moves
    /// and is reported just the same.
    @Test(arguments: [nil, 1])
    func aHeadInsideARecordResumesFromThatRecordsStart(damagedRecord: Int?) throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let spool = try Self.spool(directory)
        let starts = try Self.appendOneEventRecords(4, to: spool)
        if let damagedRecord {
            var bytes = try Data(contentsOf: URL(fileURLWithPath: spool.path))
            bytes[starts[damagedRecord] + 12] ^= 0xFF
            try bytes.write(to: URL(fileURLWithPath: spool.path))
        }
        let headPath = String(spool.path.dropLast(".spool".count)) + ".json"
        closeWhileNoChildStarts { spool.close() }
        try Data("{\"head\":\(starts[2] + 3)}\n".utf8).write(to: URL(fileURLWithPath: headPath))
        let reopened = try Self.spool(directory)
        let damage = try #require(reopened.damage)
        #expect(damage.code == .spoolDamaged)
        #expect(damage.message.contains("head offset \(starts[2] + 3) lies inside the record at byte \(starts[2])"))
        if let damagedRecord {
            let stretch = "\(starts[damagedRecord])..<\(starts[damagedRecord + 1])"
            #expect(damage.message.contains("the damaged bytes \(stretch) were overwritten"))
        }
        #expect(reopened.pendingEvents == 2)
        #expect(Self.bodies(try reopened.peek(maxEvents: 10).events) == ["event 2", "event 3"])
    }

    /// Records before the head were delivered: damage there changes nothing to deliver, and a damaged record
    /// at or after the head is the only one lost. A damaged stretch the head points into starts a record of
    /// no events, so the head stays on a record boundary.
    @Test func damageAroundTheHeadKeepsEveryUndeliveredWholeRecord() throws {
        let cases: [(damaged: [Int], expected: [String])] = [
            ([0], ["event 2", "event 3"]), ([2], ["event 3"]), ([3], ["event 2"]), ([1, 2], ["event 3"]),
        ]
        for (damaged, expected) in cases {
            let directory = try TemporaryDirectory()
            defer { directory.remove() }
            let spool = try Self.spool(directory)
            let starts = try Self.appendOneEventRecords(4, to: spool)
            let delivered = try spool.peek(maxEvents: 2)
            try spool.commit(upTo: delivered.next, delivered: 2)
            #expect(delivered.next.offset == Int64(starts[2]))
            var bytes = try Data(contentsOf: URL(fileURLWithPath: spool.path))
            for record in damaged { bytes[starts[record] + 12] ^= 0xFF }
            try bytes.write(to: URL(fileURLWithPath: spool.path))
            closeWhileNoChildStarts { spool.close() }
            let reopened = try Self.spool(directory)
            #expect(reopened.damage?.code == .spoolDamaged)
            #expect(reopened.pendingEvents == expected.count, "records \(damaged) damaged")
            #expect(Self.bodies(try reopened.peek(maxEvents: 10).events) == expected, "records \(damaged) damaged")
        }
    }

    /// A record over 1 MiB has its checksum checked piece by piece before it is read whole: whole, it comes
    /// back; damaged, it is damage like any other.
    @Test func aRecordOverAMebibyteIsCheckedBeforeItIsReadWhole() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let spool = try Self.spool(directory, maxBytes: 16 << 20)
        let body = String(repeating: "0123456789abcdef", count: 3 << 16)
        #expect(try spool.append([Event.test("small")]))
        #expect(try spool.append([Event.test(body)]))
        closeWhileNoChildStarts { spool.close() }
        let reopened = try Self.spool(directory, maxBytes: 16 << 20)
        #expect(reopened.damage == nil)
        #expect(Self.bodies(try reopened.peek(maxEvents: 10).events) == ["small", body])
        let path = reopened.path
        closeWhileNoChildStarts { reopened.close() }
        var bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        bytes[bytes.count - 1] ^= 0xFF
        try bytes.write(to: URL(fileURLWithPath: path))
        let damaged = try Self.spool(directory, maxBytes: 16 << 20)
        #expect(damaged.damage?.code == .spoolDamaged)
        #expect(Self.bodies(try damaged.peek(maxEvents: 10).events) == ["small"])
    }

    /// When the damaged rest cannot be moved aside, opening fails with 203 and cuts nothing.
    @Test func damageThatCannotBeMovedAsideStopsTheOpeningAndLeavesTheSpoolAsItWas() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        // The copy's name adds ".damaged-<seconds>" to the spool's, which with an output named so long is
        // past the 255 bytes a file name may have: the copy fails whatever the clock says. (Names taken by
        // directories for the seconds around the test's start let one run here open the spool anyway.)
        let output = String(repeating: "o", count: 240)
        let (path, bytes, _) = try Self.damagedSpool(directory, records: 3, output: output) { _ in 20 }
        let failure = #expect(throws: TrawlError.self) { try Self.spool(directory, output: output) }
        #expect(failure?.code == .spoolFailed)
        #expect(failure?.message.contains("cannot be moved aside") == true, "\(failure?.message ?? "")")
        #expect(failure?.message.contains("name too long") == true, "\(failure?.message ?? "")")
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == bytes)
    }

    @Test func aFullSpoolRefusesAppendsWithoutWritingAndTakesThemOnceDrained() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let spool = try Self.spool(directory, maxBytes: 200)
        let big = Event.test(String(repeating: "x", count: 120))
        #expect(try spool.append([big]))
        #expect(try spool.append([big]) == false)
        #expect(spool.pendingEvents == 1)
        let read = try spool.peek(maxEvents: 10)
        try spool.commit(upTo: read.next, delivered: 1)
        #expect(try spool.append([big]))
    }

    @Test func aSpoolHeldByAnotherInstanceIsError203AndEachInstanceHasItsOwn() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try FileStateStore(directory: directory.path)
        let held = try EventSpool(store: store, collectorID: "c1", output: "devo", maxBytes: 1 << 20)
        let error = #expect(throws: TrawlError.self) {
            try EventSpool(store: store, collectorID: "c1", output: "devo", maxBytes: 1 << 20)
        }
        #expect(error?.code == .spoolFailed)
        #expect(error?.message.contains("in use by another running Trawl") == true)
        #expect(error?.fix.contains("globals.instance") == true)
        let first = try EventSpool(store: store, collectorID: "c1", output: "devo", instance: "a", maxBytes: 1 << 20)
        let second = try EventSpool(store: store, collectorID: "c1", output: "devo", instance: "b", maxBytes: 1 << 20)
        #expect(try first.append([Event.test("for a")]))
        #expect(second.isEmpty)
        #expect(Set([held.path, first.path, second.path]).count == 3)
        #expect(first.path.hasSuffix("/c1/spool/devo@a.spool"))
    }
}
