/// Reads one top-level field of a JSON object from its bytes, without parsing the rest: what tagging by
/// record field needs on the hot path. Keys are compared by their text, escapes resolved, as a JSON parser
/// reads them (`"sourc\u00e9"` is `sourcé`); dotted keys such as `event.category` are one flat key, as
/// Cloud Funnel writes them.
public enum JSONFieldReader {
    /// The raw bytes between the quotes of the string value of top-level `key` in `object`, or nil when the
    /// object lacks it, holds a non-string there, or is not a JSON object. Escapes are left as they are.
    public static func stringValue(of key: [UInt8], in object: UnsafeRawBufferPointer) -> Range<Int>? {
        var cursor = JSONCursor(object)
        guard cursor.seekMember(key), cursor.peek == UInt8(ascii: "\"") else { return nil }
        return cursor.string()
    }

    /// The raw bytes of the string value at `path` in `object`: the top-level key `path` itself (a flat
    /// dotted key such as `event.category`), else a key ending at one of its dots whose value is an object
    /// holding the rest (`userIdentity.type`), as the obfuscator reads paths; the first found, flat first.
    public static func stringValue(atPath path: [UInt8], in object: UnsafeRawBufferPointer) -> Range<Int>? {
        Self.first(atPath: path, in: object) { key, object in Self.stringValue(of: key, in: object).map { ($0, ()) } }?
            .range
    }

    /// The scalar at `path` in `object`, found as ``stringValue(atPath:in:)`` finds a string: a string's raw
    /// bytes between its quotes (`isString`), or a number's or boolean's text as written (`404`, `8.5`,
    /// `true`); nil for null, an object, an array or no such field. Tagging by a field maps the values a
    /// record holds, and CloudTrail's `readOnly` or a finding's `severity` are no strings.
    public static func scalarValue(
        atPath path: [UInt8],
        in object: UnsafeRawBufferPointer
    ) -> (text: Range<Int>, isString: Bool)? {
        Self.first(atPath: path, in: object) { key, object in
            Self.scalarValue(of: key, in: object).map { ($0.text, $0.isString) }
        }.map { ($0.range, $0.extra) }
    }

    /// What `read` finds for `path` in `object`: at the top-level key `path` itself, else at a key ending at
    /// one of its dots whose value is an object where the rest is found; the first found, flat first, its
    /// range in `object`.
    private static func first<Extra>(
        atPath path: [UInt8],
        in object: UnsafeRawBufferPointer,
        _ read: (_ key: [UInt8], _ object: UnsafeRawBufferPointer) -> (range: Range<Int>, extra: Extra)?
    ) -> (range: Range<Int>, extra: Extra)? {
        if let flat = read(path, object) { return flat }
        for dot in path.indices where path[dot] == UInt8(ascii: ".") {
            guard let inner = Self.value(of: Array(path[..<dot]), in: object),
                object[inner.lowerBound] == UInt8(ascii: "{")
            else { continue }
            let nested = UnsafeRawBufferPointer(rebasing: object[inner])
            if let found = Self.first(atPath: Array(path[(dot + 1)...]), in: nested, read) {
                return (
                    (inner.lowerBound + found.range.lowerBound)..<(inner.lowerBound + found.range.upperBound),
                    found.extra
                )
            }
        }
        return nil
    }

    /// The scalar of top-level `key` in `object`, as ``scalarValue(atPath:in:)`` reads it.
    static func scalarValue(of key: [UInt8], in object: UnsafeRawBufferPointer) -> (text: Range<Int>, isString: Bool)? {
        var cursor = JSONCursor(object)
        guard cursor.seekMember(key), let first = cursor.peek else { return nil }
        if first == UInt8(ascii: "\"") { return cursor.string().map { ($0, true) } }
        let isNumber = first == UInt8(ascii: "-") || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(first)
        guard isNumber || first == UInt8(ascii: "t") || first == UInt8(ascii: "f") else { return nil }
        let start = cursor.index
        guard cursor.skipValue(), cursor.index > start else { return nil }
        return (start..<cursor.index, false)
    }

    /// The bytes of the value (of any type) of top-level `key` in `object`, or nil when the object lacks it
    /// or is not a JSON object.
    public static func value(of key: [UInt8], in object: UnsafeRawBufferPointer) -> Range<Int>? {
        var cursor = JSONCursor(object)
        guard cursor.seekMember(key) else { return nil }
        let start = cursor.index
        guard cursor.skipValue() else { return nil }
        return start..<cursor.index
    }

    @inline(__always) static func isBlank(_ byte: UInt8) -> Bool {
        byte == 0x20 || byte == 0x09 || byte == 0x0d || byte == 0x0a
    }
}

/// Moves through JSON held in memory without building values: strings, values and object members are
/// skipped or found by their bytes. Malformed input makes a step answer false or nil, never traps.
struct JSONCursor {
    let bytes: UnsafeRawBufferPointer
    var index = 0
    /// Whether the last string ``string()`` moved past holds an escape, so its text differs from its bytes.
    private(set) var lastStringEscaped = false

    init(_ bytes: UnsafeRawBufferPointer) {
        self.bytes = bytes
    }

    /// The byte at the cursor, or nil at the end.
    var peek: UInt8? { self.index < self.bytes.count ? self.bytes[self.index] : nil }

    mutating func skipBlanks() {
        while self.index < self.bytes.count, JSONFieldReader.isBlank(self.bytes[self.index]) { self.index += 1 }
    }

    /// Moves past the string whose opening quote is at the cursor; answers the range of its contents.
    mutating func string() -> Range<Int>? {
        let start = self.index + 1
        guard let (end, escaped) = self.closingQuote(from: start) else { return nil }
        self.index = end + 1
        self.lastStringEscaped = escaped
        return start..<end
    }

    /// The closing quote of a string whose text goes on at `start` (not in the middle of an escape), and
    /// whether an escape came before it; nil when the bytes end first.
    private func closingQuote(from start: Int) -> (index: Int, escaped: Bool)? {
        var cursor = start
        var escaped = false
        while true {
            cursor = JSONStringTracker.stop(in: self.bytes, from: cursor)
            guard cursor < self.bytes.count else { return nil }
            if self.bytes[cursor] == UInt8(ascii: "\"") { return (cursor, escaped) }
            escaped = true
            cursor += 2
        }
    }

    /// Moves past the value starting at the cursor.
    mutating func skipValue() -> Bool {
        guard let first = self.peek else { return false }
        switch first {
        case UInt8(ascii: "\""):
            return self.string() != nil
        case UInt8(ascii: "{"), UInt8(ascii: "["):
            var depth = 0
            // The inside is passed over a block at a time: CloudTrail's `userIdentity`, skipped to reach
            // `eventSource`, is hundreds of bytes.
            var skipper = JSONNestingSkipper()
            while self.index < self.bytes.count {
                if depth > 0 {
                    var string = JSONStringTracker()
                    self.index = skipper.skip(
                        self.bytes,
                        from: self.index,
                        depth: &depth,
                        string: &string,
                        closingDepth: 0
                    )
                    if string.inString {
                        guard let end = self.closingQuote(from: self.index + (string.isMidEscape ? 1 : 0)) else {
                            return false
                        }
                        self.index = end.index + 1
                        continue
                    }
                    guard self.index < self.bytes.count else { return false }
                }
                let byte = self.bytes[self.index]
                if byte == UInt8(ascii: "\"") {
                    guard self.string() != nil else { return false }
                    continue
                }
                if byte == UInt8(ascii: "{") || byte == UInt8(ascii: "[") { depth += 1 }
                if byte == UInt8(ascii: "}") || byte == UInt8(ascii: "]") {
                    depth -= 1
                    if depth == 0 {
                        self.index += 1
                        return true
                    }
                }
                self.index += 1
            }
            return false
        default:
            while self.index < self.bytes.count {
                let byte = self.bytes[self.index]
                if byte == UInt8(ascii: ",") || byte == UInt8(ascii: "}") || byte == UInt8(ascii: "]")
                    || JSONFieldReader.isBlank(byte)
                {
                    break
                }
                self.index += 1
            }
            return true
        }
    }

    /// From the start of an object, moves to the value of its member `key`; false when it has none.
    mutating func seekMember(_ key: [UInt8]) -> Bool {
        self.skipBlanks()
        guard self.peek == UInt8(ascii: "{") else { return false }
        self.index += 1
        while true {
            self.skipBlanks()
            guard self.peek == UInt8(ascii: "\""), let name = self.string() else { return false }
            self.skipBlanks()
            guard self.peek == UInt8(ascii: ":") else { return false }
            self.index += 1
            self.skipBlanks()
            guard self.index < self.bytes.count else { return false }
            let matches =
                self.lastStringEscaped
                ? key.withUnsafeBytes {
                    Self.textEquals($0, escaped: UnsafeRawBufferPointer(rebasing: self.bytes[name]))
                }
                : name.count == key.count && key.withUnsafeBytes { Self.equal($0, self.bytes, at: name.lowerBound) }
            if matches { return true }
            guard self.skipValue() else { return false }
            self.skipBlanks()
            guard self.peek == UInt8(ascii: ",") else { return false }
            self.index += 1
        }
    }

    /// Calls `body` with the range of each element of the array starting at the cursor; false when it is
    /// not a well-formed array.
    mutating func forEachElement(
        _ body: (Range<Int>) throws(RecordFormatFailure) -> Void
    ) throws(RecordFormatFailure) -> Bool {
        guard self.peek == UInt8(ascii: "[") else { return false }
        self.index += 1
        self.skipBlanks()
        if self.peek == UInt8(ascii: "]") {
            self.index += 1
            return true
        }
        while true {
            self.skipBlanks()
            let start = self.index
            guard self.skipValue(), self.index > start else { return false }
            try body(start..<self.index)
            self.skipBlanks()
            switch self.peek {
            case UInt8(ascii: ","): self.index += 1
            case UInt8(ascii: "]"):
                self.index += 1
                return true
            default: return false
            }
        }
    }

    /// Whether the string contents `escaped`, which hold an escape, read as `text`. An escape is never
    /// shorter than what it stands for, so a shorter string cannot match.
    static func textEquals(_ text: UnsafeRawBufferPointer, escaped: UnsafeRawBufferPointer) -> Bool {
        escaped.count >= text.count && JSONStringText.unescape(escaped).elementsEqual(text)
    }

    @inline(__always) static func equal(
        _ key: UnsafeRawBufferPointer,
        _ object: UnsafeRawBufferPointer,
        at offset: Int
    ) -> Bool {
        for index in 0..<key.count where key[index] != object[offset + index] { return false }
        return true
    }
}
