import NIOCore

/// Finds JSON objects written one after another, fed in pieces: back to back (`{...}{...}`, as Amazon Data
/// Firehose writes records it was given without a delimiter), with blanks or line breaks between, or both.
/// Each object is handed out as its exact bytes; its inside is only followed far enough to find its end.
struct JSONObjectStream {
    /// What each object is, for the failures: "CloudWatch Logs document", "JSON object".
    let kind: String
    private var object = SpanningRecord()
    private var depth = 0
    private var string = JSONStringTracker()

    init(kind: String) {
        self.kind = kind
    }

    /// Appends the objects that end in `bytes` to `objects`.
    mutating func consume(_ bytes: ByteBuffer, into objects: inout [ByteBuffer]) throws(RecordFormatFailure) {
        var failure: RecordFormatFailure?
        bytes.withUnsafeReadableBytes { raw in
            var start: Int? = self.depth > 0 ? 0 : nil
            var index = 0
            var skipper = JSONNestingSkipper()
            while index < raw.count {
                if self.depth > 0 {
                    index = skipper.skip(raw, from: index, depth: &self.depth, string: &self.string, closingDepth: 0)
                    guard index < raw.count else { break }
                }
                if self.string.inString {
                    index = self.string.plainTextEnd(in: raw, from: index)
                    guard index < raw.count else { break }
                    _ = self.string.take(raw[index])
                    index += 1
                    continue
                }
                let byte = raw[index]
                index += 1
                switch byte {
                case 0x20, 0x09, 0x0a, 0x0d:
                    continue
                case UInt8(ascii: "\""):
                    guard self.depth > 0 else {
                        failure = RecordFormatFailure(description: "a JSON string where a \(self.kind) should start")
                        return
                    }
                    self.string.open()
                case UInt8(ascii: "{"), UInt8(ascii: "["):
                    if self.depth == 0 {
                        guard byte == UInt8(ascii: "{") else {
                            failure = RecordFormatFailure(description: "a JSON array where a \(self.kind) should start")
                            return
                        }
                        start = index - 1
                    }
                    self.depth += 1
                case UInt8(ascii: "}"), UInt8(ascii: "]"):
                    self.depth -= 1
                    if self.depth < 0 {
                        failure = RecordFormatFailure(description: "a JSON bracket closes nothing")
                        return
                    }
                    if self.depth == 0, let first = start {
                        objects.append(self.object.complete(bytes, raw, from: first, to: index))
                        start = nil
                    }
                default:
                    if self.depth == 0 {
                        failure = RecordFormatFailure(
                            description: "text that is no JSON where a \(self.kind) should start"
                        )
                        return
                    }
                }
            }
            if let start { self.object.keep(raw, from: start) }
        }
        if let failure { throw failure }
    }

    /// Bytes of an object whose end has not arrived yet.
    var pendingBytes: Int { self.object.keptBytes }

    /// The object ended: checks that its last JSON object was complete.
    func finish() throws(RecordFormatFailure) {
        guard self.depth == 0, !self.string.inString else {
            throw RecordFormatFailure(description: "the object ends inside a \(self.kind) (truncated?)")
        }
    }
}
