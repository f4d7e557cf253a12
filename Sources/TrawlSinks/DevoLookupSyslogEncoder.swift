import NIOCore
import TrawlCore

/// The legacy lookup protocol over the syslog connection (`my.lookup.control` / `my.lookup.data`), byte for
/// byte as devo-sdk's `Lookup` sends it (shared/docs/devo-delivery.md): a START control line with the
/// headers, one data line per row (tag `.DELETE` to remove a key), then the END control line.
///
/// Strings are trimmed and double-quoted with inner quotes doubled and newlines written `\n` (the SDK's
/// `escape_quotes`/`escape_newline`); strings that look like numbers and numbers go unquoted.
public enum DevoLookupSyslogEncoder {
    /// The events of one upload, in sending order: START, the rows, the deletions, END.
    public static func events(_ update: LookupUpdate, metadata: EventMetadata) -> [Event] {
        let prefix = "\(update.transactionID)_\(update.table)"
        let headers = Self.headersJSON(update.columns)
        let control = "my.lookup.control.\(update.table).\(update.mode.rawValue)"
        var events = [Self.event(control, "\(prefix)|START|\(headers)", metadata)]
        for row in update.rows {
            events.append(Self.event("my.lookup.data.\(update.table)", "\(prefix)|\(Self.dataFields(row))", metadata))
        }
        for row in update.deletions {
            events.append(
                Self.event("my.lookup.data.\(update.table).DELETE", "\(prefix)|\(Self.dataFields(row))", metadata)
            )
        }
        events.append(Self.event(control, "\(prefix)|END|\(headers)", metadata))
        return events
    }

    /// `[{"key":{"type":"str","key":true}},{"other":{"type":"float"}}]`
    public static func headersJSON(_ columns: [LookupUpdate.Column]) -> String {
        let parts = columns.enumerated().map { index, column in
            "{\"\(column.name)\":{\"type\":\"\(column.type)\"\(index == 0 ? ",\"key\":true" : "")}}"
        }
        return "[" + parts.joined(separator: ",") + "]"
    }

    /// The row's values, key first, comma-separated.
    public static func dataFields(_ row: [LookupUpdate.Value]) -> String {
        row.map(Self.field).joined(separator: ",")
    }

    static func field(_ value: LookupUpdate.Value) -> String {
        switch value {
        case .int(let number): return String(number)
        case .float(let number): return "\(number)"
        case .string(let text):
            let trimmed = text.trimmingWhitespace()
            if Self.looksNumeric(trimmed) { return trimmed }
            let escaped = trimmed.replacingAll("\"", with: "\"\"").replacingAll("\n", with: "\\n")
            return "\"\(escaped)\""
        }
    }

    /// The SDK's `^-?\d+((\.\d+)*)$`.
    static func looksNumeric(_ text: String) -> Bool {
        var body = Substring(text)
        if body.first == "-" { body = body.dropFirst() }
        let parts = body.split(separator: ".", omittingEmptySubsequences: false)
        return !parts.isEmpty && parts.allSatisfy { !$0.isEmpty && $0.allSatisfy { $0.isASCII && $0.isNumber } }
    }

    static func event(_ tag: String, _ body: String, _ metadata: EventMetadata) -> Event {
        Event(tag: tag, body: ByteBuffer(string: body), metadata: metadata)
    }
}

extension EventsRefused {
    /// SinkError 504 for lookup events whose body is not a lookup update (a corrupted spool record).
    static func malformedLookups(
        _ positions: [Int],
        _ problem: LookupUpdateMalformed,
        output: String,
        location: String
    ) -> EventsRefused {
        EventsRefused(
            positions: positions,
            error: TrawlError(
                .eventsUndeliverable,
                "output \(output) cannot send \(positions.count) lookup events: \(problem)",
                location: location
            )
        )
    }
}

extension String {
    fileprivate func trimmingWhitespace() -> String {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" }
        guard let start = self.firstIndex(where: { !isSpace($0) }), let end = self.lastIndex(where: { !isSpace($0) })
        else { return "" }
        return String(self[start...end])
    }

    fileprivate func replacingAll(_ target: Character, with replacement: String) -> String {
        var output = ""
        for character in self { if character == target { output += replacement } else { output.append(character) } }
        return output
    }
}
