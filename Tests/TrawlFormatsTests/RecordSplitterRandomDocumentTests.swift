import Foundation
import NIOCore
import Testing
import TrawlFormats
import TrawlTesting

/// Random JSON documents, whole or damaged, split by the scanners that find records without parsing them.
/// Two things must hold for every one: the outcome does not depend on the pieces the object arrives in, and
/// where Foundation's parser accepts the document the records are exactly its list's elements.
///
/// Each round yields its thread: the tests share two threads with every other test while the suite starts,
/// and a loop that kept one busy for seconds delayed the others past their timeouts.
@Suite struct RecordSplitterRandomDocumentTests {
    /// Every way a document is fed: a byte at a time, small odd pieces, and whole.
    static let pieceSizes = [1, 2, 5, 13, Int.max]

    /// What splitting one object gave: its records, or the failure that ended it.
    enum Outcome: Equatable, CustomStringConvertible {
        case records([String])
        case failure(String)

        var description: String {
            switch self {
            case .records(let records): return "\(records.count) records \(records.prefix(3))"
            case .failure(let reason): return "failure: \(reason)"
            }
        }
    }

    static func outcome(_ bytes: [UInt8], _ format: RecordFormat, pieceSize: Int) -> Outcome {
        var splitter = format.makeSplitter()
        var records: [ByteBuffer] = []
        do {
            var start = 0
            while start < bytes.count {
                let end = start + min(pieceSize, bytes.count - start)
                try splitter.consume(ByteBuffer(bytes: bytes[start..<end]), into: &records)
                start = end
            }
            try splitter.finish(into: &records)
        } catch {
            return .failure(String(describing: error))
        }
        return .records(records.map { String(decoding: $0.readableBytesView, as: UTF8.self) })
    }

    /// One value as Foundation serializes it with sorted keys, so two parses of equal JSON compare equal.
    static func canonical(_ value: Any) -> String? {
        guard let data = try? JSONSerialization.data(withJSONObject: value, options: [.sortedKeys, .fragmentsAllowed])
        else { return nil }
        return String(decoding: data, as: UTF8.self)
    }

    static func canonical(text: String) -> String? {
        guard let value = try? JSONSerialization.jsonObject(with: Data(text.utf8), options: .fragmentsAllowed)
        else { return nil }
        return Self.canonical(value)
    }

    /// The records Foundation's parser finds in `bytes` for `format`, canonical: nil when it refuses the
    /// document, an empty optional inside when it reads it but finds no list there.
    static func expected(_ bytes: [UInt8], _ format: RecordFormat) -> [String]?? {
        guard let root = try? JSONSerialization.jsonObject(with: Data(bytes)) else { return nil }
        let list: Any?
        switch format {
        case .jsonArray: list = root
        case .jsonDocument(let field):
            let object = root as? [String: Any]
            list =
                object?[field]
                ?? field.split(separator: ".").reduce(object as Any?) { ($0 as? [String: Any])?[String($1)] }
        default: return nil
        }
        guard let elements = list as? [Any] else { return .some(nil) }
        return .some(elements.compactMap { Self.canonical($0) })
    }

    @Test(arguments: [
        RecordFormat.jsonDocument(listField: "Records"), .jsonDocument(listField: "detail.findings"), .jsonArray,
    ])
    func randomDocumentsSplitAlikeInAnyPiecesAndAsFoundationReadsThem(format: RecordFormat) async {
        var random = SplitMix64(seed: 4_217)
        var checkedAgainstFoundation = 0
        for round in 0..<1_000 {
            await Task.yield()
            var generator = RandomJSONText(random: random)
            let whole: String
            switch format {
            case .jsonDocument(let field):
                whole = generator.document(path: field.split(separator: ".").map(String.init))
            default: whole = generator.array(depth: 0)
            }
            random = generator.random
            var bytes = Array(whole.utf8)
            let damaged = round % 2 == 1
            if damaged { Self.damage(&bytes, random: &random) }
            let outcomes = Self.pieceSizes.map { Self.outcome(bytes, format, pieceSize: $0) }
            let text = String(decoding: bytes, as: UTF8.self)
            #expect(outcomes.allSatisfy { $0 == outcomes.last }, "round \(round): \(outcomes) for \(text)")
            guard let expected = Self.expected(bytes, format) else { continue }
            checkedAgainstFoundation += 1
            switch (outcomes.last, expected) {
            case (.records(let records)?, let elements?):
                #expect(records.map { Self.canonical(text: $0) } == elements, "round \(round): \(text)")
            case (.failure?, nil):
                break
            default:
                Issue.record(
                    "round \(round): split \(String(describing: outcomes.last)), Foundation \(expected as Any) for \(text)"
                )
            }
        }
        // Every whole document and some damaged ones are valid JSON, so the oracle decided most rounds.
        #expect(checkedAgainstFoundation >= 500)
    }

    /// JSON Lines, or JSON objects back to back (Firehose without a delimiter) or over several lines, with
    /// anything blank between the later ones: damaged or not, the outcome does not depend on the pieces;
    /// whole, the records are the objects, as Foundation reads them.
    @Test func randomJSONObjectsBackToBackOrOnePerLineAreEachARecordInAnyPieces() async throws {
        var random = SplitMix64(seed: 5_303)
        for round in 0..<1_000 {
            await Task.yield()
            var generator = RandomJSONText(random: random)
            let backToBack = round % 4 < 2
            var objects = (0..<Int.random(in: 2...6, using: &random)).map { _ in generator.object(depth: 0) }
            random = generator.random
            // A line break only stands between tokens, so one-line objects are the same JSON.
            let oneLine = { (text: String) in String(text.map { $0 == "\n" || $0 == "\r\n" || $0 == "\r" ? " " : $0 }) }
            if !backToBack { objects = objects.map(oneLine) }
            // Objects follow one another when the first line holds two, or the first object spans lines.
            let firstSpansLines = objects[0].contains("\n") || objects[0].contains("\r\n")
            var text = objects[0]
            for (index, object) in objects.enumerated().dropFirst() {
                let anyBlank = ["", "\n", " ", "\r\n", "\n\n"].randomElement(using: &random)!
                text += (backToBack ? (index == 1 && !firstSpansLines ? "" : anyBlank) : "\n") + object
            }
            var bytes = Array(text.utf8)
            let damaged = round % 2 == 1
            if damaged { Self.damage(&bytes, random: &random) }
            let outcomes = Self.pieceSizes.map { Self.outcome(bytes, .jsonLines, pieceSize: $0) }
            let shown = String(decoding: bytes, as: UTF8.self)
            #expect(outcomes.allSatisfy { $0 == outcomes.last }, "round \(round): \(outcomes) for \(shown)")
            guard !damaged else { continue }
            guard case .records(let records)? = outcomes.last else {
                Issue.record("round \(round): \(String(describing: outcomes.last)) for \(shown)")
                continue
            }
            #expect(records.map { Self.canonical(text: $0) } == objects.map { Self.canonical(text: $0) }, "\(shown)")
        }
    }

    /// Damaged or not, the outcome does not depend on the pieces; whole, each data message's log events are
    /// the records: their messages as Foundation decodes them, or their members after the document's owner,
    /// log group and log stream.
    @Test func randomCloudWatchLogsDocumentsSplitAlikeInAnyPiecesAndAsFoundationReadsThem() async throws {
        var random = SplitMix64(seed: 9_113)
        for round in 0..<1_000 {
            await Task.yield()
            var generator = RandomJSONText(random: random)
            let documents = (0..<Int.random(in: 1...3, using: &random)).map { _ in generator.cloudWatchDocument() }
            random = generator.random
            var bytes = Array(documents.joined(separator: round % 3 == 0 ? "" : "\n").utf8)
            let damaged = round % 2 == 1
            if damaged { Self.damage(&bytes, random: &random) }
            for messageOnly in [false, true] {
                let format = RecordFormat.cloudWatchLogs(messageOnly: messageOnly)
                let outcomes = Self.pieceSizes.map { Self.outcome(bytes, format, pieceSize: $0) }
                #expect(
                    outcomes.allSatisfy { $0 == outcomes.last },
                    "round \(round): \(outcomes) for \(String(decoding: bytes, as: UTF8.self))"
                )
                guard !damaged else { continue }
                let expected = try documents.flatMap { try Self.expectedLogEvents($0, messageOnly: messageOnly) }
                let records: [String]? =
                    switch outcomes.last {
                    case .records(let records)?: messageOnly ? records : records.map { Self.canonical(text: $0) ?? $0 }
                    default: nil
                    }
                #expect(records == expected, "round \(round): \(documents)")
            }
        }
    }

    /// The records of one CloudWatch Logs document as Foundation reads it.
    static func expectedLogEvents(_ document: String, messageOnly: Bool) throws -> [String] {
        let root = try #require(try JSONSerialization.jsonObject(with: Data(document.utf8)) as? [String: Any])
        guard root["messageType"] as? String == "DATA_MESSAGE" else { return [] }
        let events = try #require(root["logEvents"] as? [[String: Any]])
        return try events.map { event in
            if messageOnly { return try #require(event["message"] as? String) }
            let context = root.filter { ["owner", "logGroup", "logStream"].contains($0.key) }
            return try #require(Self.canonical(context.merging(event) { $1 }))
        }
    }

    /// Records of hundreds of bytes, as CloudTrail and Firehose write them, whose insides the scanners pass
    /// over 64 bytes at a time where no backslash stands: fed in pieces around that block size, damaged or
    /// not, the outcome does not depend on the pieces, and where Foundation reads the text the records are
    /// its list's elements (or its objects, back to back).
    @Test(arguments: [
        RecordFormat.jsonDocument(listField: "Records"), .jsonDocument(listField: "detail.findings"), .jsonArray,
        .jsonLines,
    ])
    func longRecordsSplitAlikeAcrossBlockBoundariesAndAsFoundationReadsThem(format: RecordFormat) async {
        var random = SplitMix64(seed: 7_741)
        let pieceSizes = [1, 63, 64, 65, 129, 1_000, Int.max]
        var checkedAgainstFoundation = 0
        for round in 0..<200 {
            await Task.yield()
            var generator = RandomJSONText(random: random)
            let records = (0..<Int.random(in: 1...6, using: &random)).map { _ in generator.longRecord(depth: 0) }
            let spaced = records.map { generator.blank() + $0 + generator.blank() }
            let text: String
            switch format {
            case .jsonDocument(let field):
                let path = field.split(separator: ".").map(String.init)
                var value = "[" + spaced.joined(separator: ",") + "]"
                for name in path.reversed() {
                    value = "{\"x\": \(generator.longRecord(depth: 2)), \"\(name)\": \(value)}"
                }
                text = value
            case .jsonArray: text = "[" + spaced.joined(separator: ",") + "]"
            default: text = records.joined()
            }
            random = generator.random
            var bytes = Array(text.utf8)
            let damaged = round % 2 == 1
            if damaged { Self.damage(&bytes, random: &random) }
            let outcomes = pieceSizes.map { Self.outcome(bytes, format, pieceSize: $0) }
            let shown = String(decoding: bytes, as: UTF8.self)
            #expect(outcomes.allSatisfy { $0 == outcomes.last }, "round \(round): \(outcomes) for \(shown)")
            guard !damaged else { continue }
            checkedAgainstFoundation += 1
            guard case .records(let split)? = outcomes.last else {
                Issue.record("round \(round): \(String(describing: outcomes.last)) for \(shown)")
                continue
            }
            let expected: [String?] =
                switch format {
                case .jsonLines: records.map { Self.canonical(text: $0) }
                default: (Self.expected(bytes, format) ?? nil) ?? [nil]
                }
            #expect(split.map { Self.canonical(text: $0) } == expected, "round \(round): \(shown)")
        }
        #expect(checkedAgainstFoundation == 100)
    }

    /// CSV with quoted fields holding commas, quotes, line breaks and blanks, ending rows with LF or CRLF:
    /// whole, each row is the object of its header's names and its values; damaged, the outcome still does
    /// not depend on the pieces.
    @Test func randomCSVRowsBecomeTheirFieldsInAnyPieces() async throws {
        var random = SplitMix64(seed: 4_180)
        for round in 0..<1_000 {
            await Task.yield()
            var generator = RandomJSONText(random: random)
            let (text, rows) = generator.csv()
            random = generator.random
            var bytes = Array(text.utf8)
            let damaged = round % 2 == 1
            if damaged { Self.damage(&bytes, random: &random) }
            let outcomes = Self.pieceSizes.map { Self.outcome(bytes, .csv, pieceSize: $0) }
            #expect(outcomes.allSatisfy { $0 == outcomes.last }, "round \(round): \(outcomes) for \(text)")
            guard !damaged else { continue }
            guard case .records(let records)? = outcomes.last else {
                Issue.record("round \(round): \(String(describing: outcomes.last)) for \(text)")
                continue
            }
            let objects = records.map {
                try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: String]
            }
            #expect(objects == rows.map { Optional($0) }, "round \(round): \(text)")
        }
    }

    /// Changes, inserts or deletes one to three bytes, or cuts the end off.
    static func damage(_ bytes: inout [UInt8], random: inout SplitMix64) {
        let interesting = Array("\"\\{}[],: x0\n".utf8)
        for _ in 0..<Int.random(in: 1...3, using: &random) where !bytes.isEmpty {
            let at = Int.random(in: 0..<bytes.count, using: &random)
            let byte = interesting.randomElement(using: &random)!
            switch Int.random(in: 0..<4, using: &random) {
            case 0: bytes[at] = byte
            case 1: bytes.insert(byte, at: at)
            case 2: bytes.remove(at: at)
            default: bytes.removeSubrange(at...)
            }
        }
    }
}

/// Random JSON text: nested values, strings with escapes, brackets and the list field's name inside them,
/// and blanks wherever JSON allows them.
struct RandomJSONText {
    var random: SplitMix64

    mutating func blank() -> String {
        ["", "", "", " ", "\n", "\t", "\r\n  "].randomElement(using: &self.random)!
    }

    mutating func string() -> String {
        let pieces = [
            "a", "Records", "]", "}", "[", "{", ",", ":", "\\\"", "\\\\", "\\/", "\\n", "\\u00e9", "\\ud83d\\ude00",
            "é",
            "日本", " ",
        ]
        let count = Int.random(in: 0...6, using: &self.random)
        return "\"" + (0..<count).map { _ in pieces.randomElement(using: &self.random)! }.joined() + "\""
    }

    /// `name` as a quoted key, one time in four with one of its characters written as a `\u` escape, as
    /// writers that escape more than JSON requires (Python's `ensure_ascii`, PHP's `\/`) write keys.
    mutating func key(_ name: String) -> String {
        let characters = Array(name.unicodeScalars)
        guard !characters.isEmpty, Int.random(in: 0..<4, using: &self.random) == 0 else { return "\"\(name)\"" }
        let escaped = Int.random(in: 0..<characters.count, using: &self.random)
        let text = characters.indices.map { index in
            index == escaped
                ? "\\u" + String(("000" + String(characters[index].value, radix: 16)).suffix(4))
                : String(characters[index])
        }
        return "\"" + text.joined() + "\""
    }

    mutating func scalar() -> String {
        switch Int.random(in: 0..<6, using: &self.random) {
        case 0: return self.string()
        case 1: return String(Int.random(in: -1_000_000...1_000_000, using: &self.random))
        case 2: return ["0.5", "-2.25e3", "1E-2", "0"].randomElement(using: &self.random)!
        case 3: return "true"
        case 4: return "false"
        default: return "null"
        }
    }

    mutating func value(depth: Int) -> String {
        guard depth < 4 else { return self.scalar() }
        switch Int.random(in: 0..<4, using: &self.random) {
        case 0: return self.object(depth: depth + 1)
        case 1: return self.array(depth: depth + 1)
        default: return self.scalar()
        }
    }

    mutating func object(depth: Int, members: [(String, String)] = []) -> String {
        var all = members
        for _ in 0..<Int.random(in: 0...4, using: &self.random) {
            let key = ["eventName", "Records", "records", "x", "tail", "detail", "findings"].randomElement(
                using: &self.random
            )!
            all.append((self.key("\(key)\(depth == 0 ? "_\(all.count)" : "")"), self.value(depth: depth)))
        }
        all.shuffle(using: &self.random)
        let body = all.map { self.blank() + $0.0 + self.blank() + ":" + self.blank() + $0.1 + self.blank() }
        return "{" + body.joined(separator: ",") + self.blank() + "}"
    }

    mutating func array(depth: Int) -> String {
        let elements = (0..<Int.random(in: 0...5, using: &self.random)).map { _ in
            self.blank() + self.value(depth: depth) + self.blank()
        }
        return "[" + elements.joined(separator: ",") + self.blank() + "]"
    }

    /// A random object's bytes, damaged when `damaged`, and what Foundation's parser reads of them (nil
    /// when it refuses them): the input of the tests that compare a byte-level reader with Foundation.
    mutating func record(damaged: Bool) -> (bytes: [UInt8], root: [String: Any]?) {
        var bytes = Array(self.object(depth: 0).utf8)
        if damaged { RecordSplitterRandomDocumentTests.damage(&bytes, random: &self.random) }
        return (bytes, try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any])
    }

    /// A document with the list at `path` (most of the time: else the list or the path is cut short) among
    /// members whose names and values may hold the path's names too.
    mutating func document(path: [String]) -> String {
        let cut =
            Int.random(in: 0..<8, using: &self.random) == 0
            ? Int.random(in: 0..<path.count, using: &self.random) : path.count
        var members = cut == path.count ? [(self.key(path[path.count - 1]), self.array(depth: 0))] : []
        for name in (cut == path.count ? path.dropLast() : path.prefix(cut)).reversed() {
            members = [(self.key(name), self.object(depth: 0, members: members))]
        }
        return self.blank() + self.object(depth: 0, members: members) + self.blank()
    }

    /// A string of tens to hundreds of bytes: plain text runs that fill 64-byte blocks, brackets, commas
    /// and colons, multi-byte UTF-8, and in one string of three an escaped quote or backslash.
    mutating func longString() -> String {
        var pieces = ["abcdefghijklmnop", "0123456789abcdef0123456789abcdef", "{", "}", "[", "]", ",", ":", "日本語", " "]
        if Int.random(in: 0..<3, using: &self.random) == 0 { pieces += ["\\\"", "\\\\", "\\n", "\\u00e9"] }
        let count = Int.random(in: 0...24, using: &self.random)
        return "\"" + (0..<count).map { _ in pieces.randomElement(using: &self.random)! }.joined() + "\""
    }

    /// An object of several hundred bytes, most of them in strings, nesting objects and arrays of them.
    mutating func longRecord(depth: Int) -> String {
        let members = (0..<Int.random(in: 1...8, using: &self.random)).map { index in
            let value: String
            switch Int.random(in: 0..<(depth < 3 ? 6 : 3), using: &self.random) {
            case 0, 1: value = self.longString()
            case 2: value = self.scalar()
            case 3: value = self.longRecord(depth: depth + 1)
            default:
                let elements = (0..<Int.random(in: 0...3, using: &self.random)).map { _ in
                    self.blank()
                        + (Bool.random(using: &self.random) ? self.longRecord(depth: depth + 1) : self.longString())
                }
                value = "[" + elements.joined(separator: ",") + self.blank() + "]"
            }
            return self.blank() + "\"k\(index)\"" + self.blank() + ":" + self.blank() + value + self.blank()
        }
        return "{" + members.joined(separator: ",") + "}"
    }

    /// A CSV text and the rows it holds, each as its header's names to its values.
    mutating func csv() -> (text: String, rows: [[String: String]]) {
        let columns = Int.random(in: 1...4, using: &self.random)
        let header = (0..<columns).map { "c\($0)" + (Bool.random(using: &self.random) ? ",\"x\"" : "") }
        let rows = (0..<Int.random(in: 0...6, using: &self.random)).map { _ in
            (0..<columns).map { _ in
                let pieces = ["a", ",", "\"", "\n", "\r\n", " ", "é", "x y", "0"]
                return (0..<Int.random(in: 0...4, using: &self.random)).map { _ in
                    pieces.randomElement(using: &self.random)!
                }.joined()
            }
        }
        func field(_ value: String) -> String {
            // One column's line of blanks or nothing would be a blank line, which CSV skips.
            let quoted =
                columns == 1 || value.utf8.contains(where: { Array(",\"\n\r".utf8).contains($0) })
                || Int.random(in: 0..<5, using: &self.random) == 0
            return quoted ? "\"" + value.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : value
        }
        let lines = ([header] + rows).map { $0.map(field).joined(separator: ",") }
        var text = ""
        for line in lines { text += line + (Bool.random(using: &self.random) ? "\n" : "\r\n") }
        if Bool.random(using: &self.random), text.hasSuffix("\n") {
            text.removeLast()
            if text.hasSuffix("\r") { text.removeLast() }
        }
        return (text, rows.map { Dictionary(uniqueKeysWithValues: zip(header, $0)) })
    }

    mutating func cloudWatchDocument() -> String {
        let events = (0..<Int.random(in: 0...4, using: &self.random)).map { index in
            #"{"id":"\#(index)","timestamp":1700000000000,"message":\#(self.string())}"#
        }
        let type = Int.random(in: 0..<6, using: &self.random) == 0 ? "CONTROL_MESSAGE" : "DATA_MESSAGE"
        return #"{"messageType":"\#(type)","owner":"123456789012","logGroup":"g","logStream":"s","#
            + #""subscriptionFilters":["f"],"logEvents":["# + events.joined(separator: ",") + "]}"
    }
}
