import Crypto
import NIOCore
import TrawlCore

/// Hides fields of JSON records before they leave Trawl (the seeds' "source events obfuscation"): each rule
/// names a field by its dotted path and drops it, masks its value, or replaces the value with a keyed hash,
/// so analysts can still correlate on it without seeing it.
///
/// Works on the record's bytes: only the objects along a rule's path are walked, the rest is copied as
/// is. A path segment matches nested keys (`actor.user.name`) as well as flat dotted keys
/// (`src.process.name`, as Cloud Funnel writes them); under an array, the rule applies to every element.
public struct RecordObfuscator: Sendable {
    /// What happens to a matched field.
    public enum Action: Sendable, Equatable {
        /// The field is removed, key and value.
        case drop
        /// The value is replaced by this string (a null stays null).
        case mask(String)
        /// The value is replaced by `"hmac-sha256:<32 hex digits>"`, the keyed hash of the value (a string's
        /// unescaped text, any other value's JSON text); a null stays null.
        case hash
    }

    /// One field and its action.
    public struct Rule: Sendable, Equatable {
        public var path: String
        public var action: Action

        public init(path: String, action: Action) {
            self.path = path
            self.action = action
        }
    }

    struct CompiledRule: Sendable {
        var path: [UInt8]
        var action: Action
        /// The mask as JSON text (quoted and escaped once).
        var replacement: [UInt8]
    }

    public let rules: [Rule]
    let compiled: [CompiledRule]
    let hashKey: SymmetricKey?

    /// Arrays nested deeper than this under a rule's path make the record fail rather than the stack.
    static let maximumDepth = 64

    /// `hashKey` is required when a rule hashes: without a secret key, a hash of a guessable value (a user
    /// name, an IP address) is easily reversed.
    public init(rules: [Rule], hashKey: [UInt8]?) {
        self.rules = rules
        self.hashKey = hashKey.map { SymmetricKey(data: $0) }
        self.compiled = rules.map { rule in
            var replacement: [UInt8] = []
            if case .mask(let text) = rule.action { replacement = Self.jsonString(Array(text.utf8)) }
            return CompiledRule(path: Array(rule.path.utf8), action: rule.action, replacement: replacement)
        }
    }

    /// `record` with the rules applied; the same buffer when no rule matched.
    ///
    /// - Throws: ``RecordFormatFailure`` when the record is not a JSON object, so cannot be obfuscated:
    ///   sending it as is could leak what the rules hide.
    public func apply(to record: ByteBuffer) throws(RecordFormatFailure) -> ByteBuffer {
        var failure: RecordFormatFailure?
        let rewritten: ByteBuffer? = record.withUnsafeReadableBytes { bytes in
            var rewriter = Rewriter(input: bytes, obfuscator: self)
            do throws(RecordFormatFailure) {
                rewriter.skipBlanks()
                guard rewriter.peek == UInt8(ascii: "{") else {
                    throw RecordFormatFailure(description: "a record to obfuscate is not a JSON object")
                }
                let rules = self.compiled.indices.map { Active(rule: $0, rest: self.compiled[$0].path[...]) }
                try rewriter.object(rules, depth: 0)
                rewriter.skipBlanks()
                guard rewriter.index == bytes.count else {
                    throw RecordFormatFailure(description: "a record to obfuscate has bytes after its JSON object")
                }
            } catch {
                failure = error
                return nil
            }
            return rewriter.changed ? rewriter.output : nil
        }
        if let failure { throw failure }
        return rewritten ?? record
    }

    /// A rule still being followed: the part of its path below the current object.
    struct Active {
        var rule: Int
        var rest: ArraySlice<UInt8>
    }

    /// Copies the input to the output, rewriting the members the rules reach.
    struct Rewriter {
        /// Where the input is read: JSONCursor walks it, the failures are named here.
        var cursor: JSONCursor
        let obfuscator: RecordObfuscator
        var output = ByteBuffer()
        var changed = false

        init(input: UnsafeRawBufferPointer, obfuscator: RecordObfuscator) {
            self.cursor = JSONCursor(input)
            self.obfuscator = obfuscator
            self.output.reserveCapacity(input.count)
        }

        var input: UnsafeRawBufferPointer { self.cursor.bytes }
        var index: Int {
            get { self.cursor.index }
            set { self.cursor.index = newValue }
        }
        var peek: UInt8? { self.cursor.peek }

        mutating func skipBlanks() {
            self.cursor.skipBlanks()
        }

        func failure(_ what: String) -> RecordFormatFailure {
            RecordFormatFailure(description: "a record to obfuscate is not valid JSON: \(what) at byte \(self.index)")
        }

        mutating func expect(_ byte: UInt8, _ what: String) throws(RecordFormatFailure) {
            self.skipBlanks()
            guard self.peek == byte else { throw self.failure("expected \(what)") }
            self.index += 1
        }

        /// Moves past the string whose opening quote is at `index`; the range of its contents.
        mutating func string() throws(RecordFormatFailure) -> Range<Int> {
            guard let contents = self.cursor.string() else { throw self.failure("an unterminated string") }
            return contents
        }

        /// Moves past any value; its range.
        mutating func skipValue() throws(RecordFormatFailure) -> Range<Int> {
            self.skipBlanks()
            let start = self.index
            guard let first = self.peek else { throw self.failure("a missing value") }
            guard self.cursor.skipValue() else {
                throw self.failure(
                    first == UInt8(ascii: "\"") ? "an unterminated string" : "an unterminated object or array"
                )
            }
            guard self.index > start else { throw self.failure("a missing value") }
            return start..<self.index
        }

        mutating func copy(_ range: Range<Int>) {
            self.output.writeBytes(UnsafeRawBufferPointer(rebasing: self.input[range]))
        }

        /// Rewrites the object at `index` (its `{` is next), following `rules`.
        mutating func object(_ rules: [Active], depth: Int) throws(RecordFormatFailure) {
            try self.expect(UInt8(ascii: "{"), "{")
            self.output.writeInteger(UInt8(ascii: "{"))
            var written = 0
            self.skipBlanks()
            if self.peek == UInt8(ascii: "}") {
                self.index += 1
                self.output.writeInteger(UInt8(ascii: "}"))
                return
            }
            while true {
                self.skipBlanks()
                guard self.peek == UInt8(ascii: "\"") else { throw self.failure("expected a key") }
                let memberStart = self.index
                let key = try self.string()
                let keyBytes = UnsafeRawBufferPointer(rebasing: self.input[key])
                // A key is matched by its text: an escaped one (`usu\u00e1rio`) must not let its value through.
                let (exact, below) =
                    self.cursor.lastStringEscaped
                    ? JSONStringText.unescape(keyBytes).withUnsafeBytes { self.follow(rules, key: $0) }
                    : self.follow(rules, key: keyBytes)
                try self.expect(UInt8(ascii: ":"), ":")
                if let exact {
                    let value = try self.skipValue()
                    if exact.action != .drop {
                        if written > 0 { self.output.writeInteger(UInt8(ascii: ",")) }
                        self.copy(memberStart..<key.upperBound + 1)
                        self.output.writeInteger(UInt8(ascii: ":"))
                        self.replace(value, with: exact)
                        written += 1
                    }
                    self.changed = true
                } else {
                    if written > 0 { self.output.writeInteger(UInt8(ascii: ",")) }
                    if below.isEmpty {
                        let value = try self.skipValue()
                        self.copy(memberStart..<value.upperBound)
                    } else {
                        self.copy(memberStart..<key.upperBound + 1)
                        self.output.writeInteger(UInt8(ascii: ":"))
                        try self.value(below, depth: depth + 1)
                    }
                    written += 1
                }
                self.skipBlanks()
                guard let separator = self.peek else { throw self.failure("an unterminated object") }
                self.index += 1
                if separator == UInt8(ascii: "}") { break }
                guard separator == UInt8(ascii: ",") else { throw self.failure("expected , or }") }
            }
            self.output.writeInteger(UInt8(ascii: "}"))
        }

        /// Rewrites any value, following `rules` into objects and through arrays.
        mutating func value(_ rules: [Active], depth: Int) throws(RecordFormatFailure) {
            guard depth <= RecordObfuscator.maximumDepth else { throw self.failure("nesting too deep") }
            self.skipBlanks()
            switch self.peek {
            case UInt8(ascii: "{"):
                try self.object(rules, depth: depth)
            case UInt8(ascii: "["):
                self.index += 1
                self.output.writeInteger(UInt8(ascii: "["))
                self.skipBlanks()
                if self.peek == UInt8(ascii: "]") {
                    self.index += 1
                } else {
                    while true {
                        try self.value(rules, depth: depth + 1)
                        self.skipBlanks()
                        guard let separator = self.peek else { throw self.failure("an unterminated array") }
                        self.index += 1
                        if separator == UInt8(ascii: "]") { break }
                        guard separator == UInt8(ascii: ",") else { throw self.failure("expected , or ]") }
                        self.output.writeInteger(UInt8(ascii: ","))
                    }
                }
                self.output.writeInteger(UInt8(ascii: "]"))
            default:
                self.copy(try self.skipValue())
            }
        }

        /// The rule whose path ends at the member `key` (its text), and the rules that go on below it.
        func follow(_ rules: [Active], key: UnsafeRawBufferPointer) -> (exact: CompiledRule?, below: [Active]) {
            var exact: CompiledRule?
            var below: [Active] = []
            for active in rules {
                let rest = active.rest
                if rest.count == key.count, Self.startsWith(rest, key) {
                    exact = self.obfuscator.compiled[active.rule]
                } else if rest.count > key.count, Self.startsWith(rest, key),
                    rest[rest.startIndex + key.count] == UInt8(ascii: ".")
                {
                    below.append(Active(rule: active.rule, rest: rest.dropFirst(key.count + 1)))
                }
            }
            return (exact, below)
        }

        /// Whether `path` starts with the bytes of `key` (`path` is at least as long).
        static func startsWith(_ path: ArraySlice<UInt8>, _ key: UnsafeRawBufferPointer) -> Bool {
            var position = path.startIndex
            for byte in key {
                if path[position] != byte { return false }
                position += 1
            }
            return true
        }

        mutating func replace(_ value: Range<Int>, with rule: CompiledRule) {
            let text = UnsafeRawBufferPointer(rebasing: self.input[value])
            if text.elementsEqual("null".utf8) {
                self.output.writeStaticString("null")
                return
            }
            switch rule.action {
            case .drop:
                return
            case .mask:
                self.output.writeBytes(rule.replacement)
            case .hash:
                let content: [UInt8]
                if text.first == UInt8(ascii: "\"") {
                    content = JSONStringText.unescape(UnsafeRawBufferPointer(rebasing: text.dropFirst().dropLast()))
                } else {
                    content = Array(text)
                }
                let key = self.obfuscator.hashKey ?? SymmetricKey(data: [UInt8]())
                let digest = HMAC<SHA256>.authenticationCode(for: content, using: key)
                self.output.writeStaticString("\"hmac-sha256:")
                self.output.writeString(hexString(digest.prefix(16)))
                self.output.writeInteger(UInt8(ascii: "\""))
            }
        }
    }

    static func jsonString(_ text: [UInt8]) -> [UInt8] {
        var out: [UInt8] = [UInt8(ascii: "\"")]
        for byte in text {
            switch byte {
            case UInt8(ascii: "\""): out += [UInt8(ascii: "\\"), UInt8(ascii: "\"")]
            case UInt8(ascii: "\\"): out += [UInt8(ascii: "\\"), UInt8(ascii: "\\")]
            case 0..<0x20: out += Array("\\u00".utf8) + Array(hexString([byte]).utf8)
            default: out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
        return out
    }
}

/// The text of a JSON string's contents, escapes resolved (what a hash of the value must see, whatever
/// escaping the writer chose).
enum JSONStringText {
    static func unescape(_ raw: UnsafeRawBufferPointer) -> [UInt8] {
        guard raw.contains(UInt8(ascii: "\\")) else { return Array(raw) }
        var out: [UInt8] = []
        out.reserveCapacity(raw.count)
        var index = 0
        var pendingHigh: UInt32?
        func append(scalar: UInt32) {
            let value = Unicode.Scalar(scalar) ?? "\u{FFFD}"
            out.append(contentsOf: Array(String(Character(value)).utf8))
        }
        while index < raw.count {
            let byte = raw[index]
            guard byte == UInt8(ascii: "\\"), index + 1 < raw.count else {
                if let high = pendingHigh {
                    append(scalar: high)
                    pendingHigh = nil
                }
                out.append(byte)
                index += 1
                continue
            }
            let escape = raw[index + 1]
            index += 2
            if escape == UInt8(ascii: "u"), index + 4 <= raw.count,
                let code = UInt32(String(decoding: raw[index..<index + 4], as: UTF8.self), radix: 16)
            {
                index += 4
                if let high = pendingHigh {
                    pendingHigh = nil
                    if (0xDC00...0xDFFF).contains(code) {
                        append(scalar: 0x10000 + ((high - 0xD800) << 10) + (code - 0xDC00))
                        continue
                    }
                    append(scalar: high)
                }
                if (0xD800...0xDBFF).contains(code) {
                    pendingHigh = code
                } else {
                    append(scalar: code)
                }
                continue
            }
            if let high = pendingHigh {
                append(scalar: high)
                pendingHigh = nil
            }
            switch escape {
            case UInt8(ascii: "n"): out.append(0x0a)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "r"): out.append(0x0d)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0c)
            default: out.append(escape)
            }
        }
        if let high = pendingHigh { append(scalar: high) }
        return out
    }
}
