/// The character encoding an object's text is written in (the `encoding` setting of the S3+SQS services).
/// Trawl delivers UTF-8, so any other encoding is converted before the object is split into records: a
/// Latin-1 CSV exported by an old appliance keeps its "José" instead of turning it into "Jos\u{FFFD}".
public enum TextEncoding: String, Sendable, CaseIterable, CustomStringConvertible {
    /// UTF-8, the default; invalid sequences are replaced with U+FFFD when the event is framed.
    case utf8 = "utf-8"
    /// ISO-8859-1: every byte is the code point of the same number (Python's `latin-1`).
    case latin1 = "latin-1"
    /// Windows' "ANSI" code page for Western languages: ISO-8859-1 but for 0x80-0x9F, which hold `€`, `“`,
    /// `”`, `–`, `™` and others (the five bytes it leaves undefined stay their ISO-8859-1 code points).
    case windows1252 = "windows-1252"
    /// UTF-16, little-endian (what Windows tools write as "Unicode").
    case utf16LittleEndian = "utf-16le"
    /// UTF-16, big-endian.
    case utf16BigEndian = "utf-16be"

    /// The names the `encoding` setting takes.
    public static var names: [String] { allCases.map(\.rawValue) }

    public var description: String { self.rawValue }

    /// The byte order marks and the encodings they declare (the WHATWG Encoding Standard's BOM sniffing).
    static let byteOrderMarks: [(bytes: [UInt8], encoding: TextEncoding)] = [
        ([0xEF, 0xBB, 0xBF], .utf8), ([0xFF, 0xFE], .utf16LittleEndian), ([0xFE, 0xFF], .utf16BigEndian),
    ]

    /// The longest byte order mark: how many first bytes of a text decide whether it starts with one.
    public static let longestByteOrderMark = 3

    /// The encoding that a byte order mark at the start of `bytes` declares, and the mark's length; nil when
    /// `bytes` starts with none.
    public static func declaredByByteOrderMark(_ bytes: some Collection<UInt8>) -> (encoding: Self, length: Int)? {
        self.byteOrderMarks.first { bytes.starts(with: $0.bytes) }.map { ($0.encoding, $0.bytes.count) }
    }

    /// Whether `bytes`, the whole of a text so far, may still become a byte order mark as more arrives.
    public static func mayBecomeByteOrderMark(_ bytes: some Collection<UInt8>) -> Bool {
        self.byteOrderMarks.contains { $0.bytes.count > bytes.count && $0.bytes.starts(with: bytes) }
    }
}
