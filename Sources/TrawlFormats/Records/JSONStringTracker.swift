import CTrawlText

/// Follows JSON fed one byte at a time just far enough to tell whether a byte lies inside a string, so a
/// scanner ignores brackets and quotes written inside strings, across the pieces an object arrives in.
struct JSONStringTracker {
    /// What a byte inside a string was.
    enum Step {
        /// Part of the string's text.
        case text
        /// A backslash, or the character it escapes.
        case escape
        /// The closing quote.
        case closed
    }

    private(set) var inString = false
    private var escaped = false

    /// An unescaped quote outside a string opened one.
    mutating func open() {
        self.inString = true
    }

    /// Inside a string, the index of the first byte from `start` on that ``take(_:)`` must see: a quote, a
    /// backslash, or the byte a backslash escapes; `raw.count` when there is none. The bytes before it are
    /// the string's plain text, which a scanner can pass over without taking them one at a time.
    @inline(__always) func plainTextEnd(in raw: UnsafeRawBufferPointer, from start: Int) -> Int {
        guard !self.escaped else { return start }
        return Self.stop(in: raw, from: start)
    }

    /// The index of the first quote or backslash in `raw` from `start` on, or `raw.count`: where a string's
    /// plain text ends, found 16 bytes at a time.
    @inline(__always) static func stop(in raw: UnsafeRawBufferPointer, from start: Int) -> Int {
        guard start < raw.count, let base = raw.baseAddress else { return start }
        return start + trawl_json_string_stop(base.assumingMemoryBound(to: UInt8.self) + start, raw.count - start)
    }

    /// Whether the last byte taken was a backslash inside a string, so the next one is escaped.
    var isMidEscape: Bool { self.escaped }

    /// Continues from a stretch followed by other means (``JSONNestingSkipper``), which ended in or out of
    /// a string, and in one with the next byte escaped or not.
    mutating func resume(inString: Bool, escapeNext: Bool) {
        self.inString = inString
        self.escaped = escapeNext
    }

    /// Takes the next byte inside a string.
    @inline(__always) mutating func take(_ byte: UInt8) -> Step {
        if self.escaped {
            self.escaped = false
            return .escape
        }
        if byte == UInt8(ascii: "\\") {
            self.escaped = true
            return .escape
        }
        if byte == UInt8(ascii: "\"") {
            self.inString = false
            return .closed
        }
        return .text
    }
}
