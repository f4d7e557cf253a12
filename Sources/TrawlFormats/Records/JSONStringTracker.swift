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
