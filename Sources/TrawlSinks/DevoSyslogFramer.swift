import CTrawlText
import NIOCore
import TrawlCore

/// Turns an event into the exact bytes the Devo syslog sender puts on the wire:
/// `<14>Jan  1 00:00:00 <hostname> <tag>: <body>\n` (see docs/devo-delivery.md). The console and file
/// outputs write the same bytes, so what a user sees locally is what Devo would receive.
///
/// Works on bytes: valid UTF-8 is copied as is; invalid sequences become U+FFFD (one per maximal invalid
/// subpart, as Python's `errors="replace"` does); a body's own final newline is not doubled.
public struct DevoSyslogFramer: Sendable {
    /// What to do with a newline inside a body, which a plain syslog receiver would read as two events.
    public enum MultilinePolicy: String, Sendable, CaseIterable {
        /// Write it as the two characters `\n`.
        case escape
        /// Keep it, and prefix the frame with its length (`<length> <frame>`, RFC 6587 octet counting).
        case octetCounting = "octet_counting"
    }

    public var hostname: String
    /// `facility * 8 + severity`; 14 is user.info, what the Devo SDK sends.
    public var priority: Int
    public var multiline: MultilinePolicy
    /// Whether lookup updates go out as the legacy `my.lookup.control` / `my.lookup.data` lines (the
    /// output's `lookups: syslog`); otherwise the output takes records only.
    public var sendsLookups: Bool
    private let prefixBytes: [UInt8]

    public init(
        hostname: String,
        priority: Int = 14,
        multiline: MultilinePolicy = .escape,
        sendsLookups: Bool = false
    ) {
        self.hostname = hostname
        self.priority = priority
        self.multiline = multiline
        self.sendsLookups = sendsLookups
        self.prefixBytes = Array("<\(priority)>Jan  1 00:00:00 \(hostname) ".utf8)
    }

    /// What an output framing with this framer takes.
    public var accepts: EventKinds { self.sendsLookups ? [.records, .lookups] : .records }

    /// Appends the event's lines to `buffer`: one for a record; for a lookup update, the legacy protocol's
    /// START, row and END lines.
    public func frameLines(_ event: Event, into buffer: inout ByteBuffer) throws(LookupUpdateMalformed) {
        guard event.kind == .lookup else {
            self.frame(event, into: &buffer)
            return
        }
        for line in DevoLookupSyslogEncoder.events(try LookupUpdate(decoding: event.body), metadata: event.metadata) {
            self.frame(line, into: &buffer)
        }
    }

    /// Every event of `batches` framed into `buffer`, in order.
    ///
    /// - Throws: ``EventsRefused`` (SinkError 504) naming the lookup events that cannot be decoded; nothing is
    ///   appended to `buffer` then.
    public func frame(_ batches: [EventBatch], into buffer: inout ByteBuffer, output: String) throws(EventsRefused) {
        var ends: [Int]? = nil
        try self.frame(batches, into: &buffer, output: output, eventEnds: &ends)
    }

    /// As ``frame(_:into:output:)``, also appending to `eventEnds` (when not nil) the writer index after each
    /// event's lines, so a caller can cut the buffer between events.
    public func frame(
        _ batches: [EventBatch],
        into buffer: inout ByteBuffer,
        output: String,
        eventEnds: inout [Int]?
    ) throws(EventsRefused) {
        let start = buffer.writerIndex
        var expected = 0
        for batch in batches {
            batch.events.withUnsafeBufferPointer { events in
                for index in events.indices {
                    expected +=
                        self.prefixBytes.count + events[index].tag.utf8.count + events[index].body.readableBytes + 3
                }
            }
        }
        buffer.reserveCapacity(start + expected)
        var malformed: [Int] = []
        var firstProblem: LookupUpdateMalformed?
        var position = 0
        for batch in batches {
            // Through the array's memory: a `for event in batch.events` loop copies (retains and releases)
            // every event.
            batch.events.withUnsafeBufferPointer { events in
                for index in events.indices {
                    do throws(LookupUpdateMalformed) {
                        try self.frameLines(events[index], into: &buffer)
                    } catch {
                        malformed.append(position)
                        firstProblem = firstProblem ?? error
                    }
                    eventEnds?.append(buffer.writerIndex)
                    position += 1
                }
            }
        }
        guard let firstProblem else { return }
        buffer.moveWriterIndex(to: start)
        throw EventsRefused.malformedLookups(malformed, firstProblem, output: output, location: "outputs.\(output)")
    }

    /// Appends the framed event to `buffer`.
    public func frame(_ event: Event, into buffer: inout ByteBuffer) {
        switch self.multiline {
        case .escape:
            self.writeFrame(event, into: &buffer, escapeNewlines: true)
        case .octetCounting:
            var frame = ByteBuffer()
            frame.reserveCapacity(self.prefixBytes.count + event.tag.utf8.count + event.body.readableBytes + 4)
            self.writeFrame(event, into: &frame, escapeNewlines: false)
            buffer.writeString(String(frame.readableBytes))
            buffer.writeInteger(UInt8(ascii: " "))
            buffer.writeBuffer(&frame)
        }
    }

    /// The framed event as a new buffer.
    public func frame(_ event: Event) -> ByteBuffer {
        var buffer = ByteBuffer()
        self.frame(event, into: &buffer)
        return buffer
    }

    private func writeFrame(_ event: Event, into buffer: inout ByteBuffer, escapeNewlines: Bool) {
        event.body.withUnsafeReadableBytes { body in
            var content = body
            if let last = content.last, last == UInt8(ascii: "\n") {
                content = UnsafeRawBufferPointer(rebasing: content.dropLast())
            }
            if self.copyPlainFrame(tag: event.tag, content: content, into: &buffer, escapeNewlines: escapeNewlines) {
                return
            }
            buffer.writeBytes(self.prefixBytes)
            buffer.writeString(event.tag)
            buffer.writeStaticString(": ")
            appendSanitizedUTF8(content, into: &buffer, escapeNewlines: escapeNewlines)
            buffer.writeInteger(UInt8(ascii: "\n"))
        }
    }

    /// Nearly every record is ASCII without a newline to escape: the whole frame is copied into the buffer's
    /// memory in one reservation, the body checked as it is copied. Returns false, having written nothing,
    /// when the body needs sanitizing.
    private func copyPlainFrame(
        tag: String,
        content: UnsafeRawBufferPointer,
        into buffer: inout ByteBuffer,
        escapeNewlines: Bool
    ) -> Bool {
        let copied = tag.utf8.withContiguousStorageIfAvailable { tag in
            self.prefixBytes.withUnsafeBytes { prefix in
                let total = prefix.count + tag.count + 2 + content.count + 1
                return buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: total) { output in
                    var at = output.baseAddress!
                    if let contentBase = content.baseAddress {
                        let bodyAt = at + prefix.count + tag.count + 2
                        guard
                            trawl_copy_plain_ascii(
                                bodyAt.assumingMemoryBound(to: UInt8.self),
                                contentBase.assumingMemoryBound(to: UInt8.self),
                                content.count,
                                escapeNewlines
                            )
                        else { return 0 }
                    }
                    at.copyMemory(from: prefix.baseAddress!, byteCount: prefix.count)
                    at += prefix.count
                    if let tagBase = tag.baseAddress { at.copyMemory(from: tagBase, byteCount: tag.count) }
                    at += tag.count
                    at.storeBytes(of: UInt8(ascii: ":"), as: UInt8.self)
                    (at + 1).storeBytes(of: UInt8(ascii: " "), as: UInt8.self)
                    at += 2 + content.count
                    at.storeBytes(of: UInt8(ascii: "\n"), as: UInt8.self)
                    return total
                }
            }
        }
        return (copied ?? 0) > 0
    }
}

private let replacementCharacter: [UInt8] = [0xEF, 0xBF, 0xBD]

/// Copies `bytes` into `buffer`, replacing each maximal invalid UTF-8 subpart with U+FFFD and, when asked,
/// newlines with `\n`. Runs of valid bytes are copied in one call.
func appendSanitizedUTF8(_ bytes: UnsafeRawBufferPointer, into buffer: inout ByteBuffer, escapeNewlines: Bool) {
    var runStart = 0
    var index = 0
    let count = bytes.count
    @inline(__always) func flushRun(upTo end: Int) {
        if end > runStart { buffer.writeBytes(UnsafeRawBufferPointer(rebasing: bytes[runStart..<end])) }
    }
    let base = bytes.baseAddress
    // The high bit of each byte of `word` that is not ASCII or, when escaping, is a newline.
    @inline(__always) func special(_ word: UInt64) -> UInt64 {
        var special = word & 0x8080_8080_8080_8080
        if escapeNewlines {
            let newlines = word ^ 0x0a0a_0a0a_0a0a_0a0a
            special |= (newlines &- 0x0101_0101_0101_0101) & ~newlines & 0x8080_8080_8080_8080
        }
        return special
    }
    while index < count {
        // ASCII bytes without a newline to escape (nearly all of a typical record) need no look: 32 at a time,
        // then 8.
        if let base {
            while index + 32 <= count {
                let first = special(base.loadUnaligned(fromByteOffset: index, as: UInt64.self))
                let second = special(base.loadUnaligned(fromByteOffset: index + 8, as: UInt64.self))
                let third = special(base.loadUnaligned(fromByteOffset: index + 16, as: UInt64.self))
                let fourth = special(base.loadUnaligned(fromByteOffset: index + 24, as: UInt64.self))
                guard first | second | third | fourth == 0 else { break }
                index += 32
            }
            if index == count { break }
            if index + 8 <= count, special(base.loadUnaligned(fromByteOffset: index, as: UInt64.self)) == 0 {
                index += 8
                continue
            }
        }
        let lead = bytes[index]
        if lead < 0x80 {
            if lead == UInt8(ascii: "\n"), escapeNewlines {
                flushRun(upTo: index)
                buffer.writeStaticString("\\n")
                index += 1
                runStart = index
            } else {
                index += 1
            }
            continue
        }
        let length: Int
        var low: UInt8 = 0x80
        var high: UInt8 = 0xBF
        switch lead {
        case 0xC2...0xDF: length = 2
        case 0xE0:
            length = 3
            low = 0xA0
        case 0xE1...0xEC, 0xEE...0xEF: length = 3
        case 0xED:
            length = 3
            high = 0x9F
        case 0xF0:
            length = 4
            low = 0x90
        case 0xF1...0xF3: length = 4
        case 0xF4:
            length = 4
            high = 0x8F
        default: length = 0
        }
        var valid = 0
        if length > 0 {
            valid = 1
            while valid < length, index + valid < count {
                let byte = bytes[index + valid]
                let (lower, upper) = valid == 1 ? (low, high) : (UInt8(0x80), UInt8(0xBF))
                guard byte >= lower, byte <= upper else { break }
                valid += 1
            }
        }
        if length > 0, valid == length {
            index += length
        } else {
            flushRun(upTo: index)
            buffer.writeBytes(replacementCharacter)
            index += max(1, valid)
            runStart = index
        }
    }
    flushRun(upTo: count)
}
