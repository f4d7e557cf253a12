/// Tells from the first line of a `json_lines` object whether it holds JSON objects back to back
/// (`{...}{...}`: Firehose records without a delimiter) rather than one per line, before any record of it
/// is handed out. Only that first value and what follows it on its line are looked at.
struct JSONLinesLayoutProbe {
    /// How the object's records are laid out.
    enum Layout {
        /// A record per line (JSON Lines, or lines that are no JSON: passed on as they are).
        case lines
        /// JSON objects one after another, whatever stands between them.
        case objects
    }

    private var depth = 0
    private var string = JSONStringTracker()
    private var started = false
    private var firstEnded = false

    /// Looks at the object's next bytes; answers the layout once they tell it.
    mutating func look(at raw: UnsafeRawBufferPointer) -> Layout? {
        for byte in raw {
            if self.string.inString {
                if byte == 0x0a { return .lines }
                _ = self.string.take(byte)
                continue
            }
            if self.firstEnded {
                switch byte {
                case 0x20, 0x09, 0x0d: continue
                case UInt8(ascii: "{"): return .objects
                default: return .lines
                }
            }
            switch byte {
            case 0x20, 0x09, 0x0d:
                continue
            case 0x0a:
                if self.started { return .lines }
            case UInt8(ascii: "\""):
                guard self.started else { return .lines }
                self.string.open()
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                guard self.started || byte == UInt8(ascii: "{") else { return .lines }
                self.started = true
                self.depth += 1
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                guard self.started else { return .lines }
                self.depth -= 1
                if self.depth == 0 { self.firstEnded = true }
            default:
                guard self.started else { return .lines }
            }
        }
        return nil
    }
}
