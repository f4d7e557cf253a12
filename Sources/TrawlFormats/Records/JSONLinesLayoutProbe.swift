/// Tells from the first JSON value of a `json_lines` object whether it holds JSON objects one after another
/// rather than one per line, before any record of it is handed out: objects back to back on the first line
/// (`{...}{...}`: Firehose records without a delimiter), or a first object written over several lines (a
/// pretty-printed export). Only that first value and what follows it on its line are looked at, and only
/// JSON that is well formed up to there counts, so a damaged or cut first line keeps a record per line.
struct JSONLinesLayoutProbe {
    /// How the object's records are laid out.
    enum Layout: Equatable {
        /// A record per line (JSON Lines, or lines that are no JSON: passed on as they are).
        case lines
        /// JSON objects one after another, whatever blanks stand between them.
        case objects
    }

    /// What the grammar allows next inside the first value.
    private enum Expect {
        case value
        case valueOrArrayEnd
        case keyOrObjectEnd
        case key
        case colon
        case commaOrEnd
    }

    /// The open objects (`{`) and arrays (`[`) of the first value, outermost first.
    private var open: [UInt8] = []
    private var expect = Expect.value
    private var string = JSONStringTracker()
    private var stringIsKey = false
    /// Inside a number, `true`, `false` or `null`.
    private var inScalar = false
    private var started = false
    private var firstEnded = false
    /// A line break stood inside the first value.
    private var spansLines = false

    /// The most nested containers followed; deeper first values keep a record per line.
    private static let maxDepth = 512

    /// Looks at the object's next bytes; answers the layout once they tell it.
    mutating func look(at raw: UnsafeRawBufferPointer) -> Layout? {
        for byte in raw {
            if let layout = self.take(byte) { return layout }
        }
        return nil
    }

    /// The layout when the object ended before its bytes told it: a whole first object written over several
    /// lines is one record, anything else a record per line.
    var layoutAtEnd: Layout {
        self.firstEnded && self.spansLines ? .objects : .lines
    }

    private mutating func take(_ byte: UInt8) -> Layout? {
        if self.string.inString {
            if byte < 0x20 { return .lines }
            if self.string.take(byte) == .closed {
                if self.stringIsKey {
                    self.expect = .colon
                } else {
                    return self.valueEnded()
                }
            }
            return nil
        }
        if self.firstEnded {
            switch byte {
            case 0x20, 0x09, 0x0d: return nil
            case UInt8(ascii: "{"): return .objects
            default: return .lines
            }
        }
        if self.inScalar {
            if Self.isScalarByte(byte) { return nil }
            self.inScalar = false
            if let layout = self.valueEnded() { return layout }
        }
        switch byte {
        case 0x20, 0x09, 0x0d:
            return nil
        case 0x0a:
            guard self.started else { return nil }
            self.spansLines = true
            return nil
        case UInt8(ascii: "{"), UInt8(ascii: "["):
            guard self.expect == .value || self.expect == .valueOrArrayEnd else { return .lines }
            guard self.started || byte == UInt8(ascii: "{") else { return .lines }
            guard self.open.count < Self.maxDepth else { return .lines }
            self.started = true
            self.open.append(byte)
            self.expect = byte == UInt8(ascii: "{") ? .keyOrObjectEnd : .valueOrArrayEnd
            return nil
        case UInt8(ascii: "}"):
            guard self.open.last == UInt8(ascii: "{"), self.expect == .keyOrObjectEnd || self.expect == .commaOrEnd
            else { return .lines }
            self.open.removeLast()
            return self.valueEnded()
        case UInt8(ascii: "]"):
            guard self.open.last == UInt8(ascii: "["), self.expect == .valueOrArrayEnd || self.expect == .commaOrEnd
            else { return .lines }
            self.open.removeLast()
            return self.valueEnded()
        case UInt8(ascii: "\""):
            guard self.started else { return .lines }
            switch self.expect {
            case .keyOrObjectEnd, .key: self.stringIsKey = true
            case .value, .valueOrArrayEnd: self.stringIsKey = false
            default: return .lines
            }
            self.string.open()
            return nil
        case UInt8(ascii: ":"):
            guard self.expect == .colon else { return .lines }
            self.expect = .value
            return nil
        case UInt8(ascii: ","):
            guard self.expect == .commaOrEnd else { return .lines }
            self.expect = self.open.last == UInt8(ascii: "{") ? .key : .value
            return nil
        default:
            guard self.started, Self.isScalarByte(byte), self.expect == .value || self.expect == .valueOrArrayEnd
            else { return .lines }
            self.inScalar = true
            return nil
        }
    }

    /// A value inside the first one ended, or the first one itself.
    private mutating func valueEnded() -> Layout? {
        guard self.open.isEmpty else {
            self.expect = .commaOrEnd
            return nil
        }
        self.firstEnded = true
        return self.spansLines ? .objects : nil
    }

    /// A byte of a number or of `true`, `false`, `null` (their spelling is not checked).
    private static func isScalarByte(_ byte: UInt8) -> Bool {
        (0x30...0x39).contains(byte) || (0x61...0x7a).contains(byte) || (0x41...0x5a).contains(byte)
            || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "+") || byte == UInt8(ascii: ".")
    }
}
