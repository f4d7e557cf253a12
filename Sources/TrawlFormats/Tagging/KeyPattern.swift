/// A glob over S3 keys: `*` matches any run of characters (slashes included), `?` one character, anything
/// else itself. `*/CloudTrail-Digest/*` matches every digest file.
public struct KeyPattern: Sendable, Hashable, CustomStringConvertible {
    public let pattern: String
    private let bytes: [UInt8]

    public init(_ pattern: String) {
        self.pattern = pattern
        self.bytes = Array(pattern.utf8)
    }

    public func matches(_ key: String) -> Bool {
        let text = Array(key.utf8)
        var p = 0
        var t = 0
        var star: Int?
        var resume = 0
        while t < text.count {
            if p < self.bytes.count, self.bytes[p] == UInt8(ascii: "?") {
                p += 1
                t = Self.nextCharacter(in: text, after: t)
            } else if p < self.bytes.count, self.bytes[p] == text[t] {
                p += 1
                t += 1
            } else if p < self.bytes.count, self.bytes[p] == UInt8(ascii: "*") {
                star = p
                resume = t
                p += 1
            } else if let star {
                p = star + 1
                resume = Self.nextCharacter(in: text, after: resume)
                t = resume
            } else {
                return false
            }
        }
        while p < self.bytes.count, self.bytes[p] == UInt8(ascii: "*") { p += 1 }
        return p == self.bytes.count
    }

    /// Where the UTF-8 character starting at `index` ends: `?` and `*` count characters, not bytes, so
    /// `logs/?/` matches `logs/é/`.
    private static func nextCharacter(in text: [UInt8], after index: Int) -> Int {
        var next = index + 1
        while next < text.count, text[next] & 0xC0 == 0x80 { next += 1 }
        return next
    }

    public var description: String { self.pattern }
}
