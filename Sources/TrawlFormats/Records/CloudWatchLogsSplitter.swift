import NIOCore

/// CloudWatch Logs subscription data as Amazon Data Firehose writes it to S3: JSON documents one after
/// another (with no separator, or blanks between), each
/// `{"messageType":"DATA_MESSAGE","owner":...,"logGroup":...,"logStream":...,"subscriptionFilters":[...],
/// "logEvents":[{"id":...,"timestamp":...,"message":...}, ...]}`. Each log event is one record; documents
/// whose `messageType` is `CONTROL_MESSAGE` (CloudWatch checking that the destination is reachable) hold
/// no logs and are skipped.
///
/// A record is the log event's own members, byte for byte, after the document's `owner`, `logGroup` and
/// `logStream` (so the account and log group a line came from are not lost); with `messageOnly`, it is
/// the event's `message` text alone, as the application wrote it.
struct CloudWatchLogsSplitter {
    let messageOnly: Bool
    private var documents = JSONObjectStream(kind: "CloudWatch Logs document")

    init(messageOnly: Bool) {
        self.messageOnly = messageOnly
    }

    mutating func consume(_ bytes: ByteBuffer, into records: inout [ByteBuffer]) throws(RecordFormatFailure) {
        var documents: [ByteBuffer] = []
        var failure: RecordFormatFailure?
        do throws(RecordFormatFailure) {
            try self.documents.consume(bytes, into: &documents)
        } catch {
            failure = error
        }
        for document in documents { try self.expand(document, into: &records) }
        if let failure { throw failure }
    }

    /// Bytes of a document whose end has not arrived yet (held whole before its events are read; the
    /// splitter's `record_max_bytes` bounds it).
    var pendingBytes: Int { self.documents.pendingBytes }

    /// The object ended: checks that its last document was complete.
    func finish() throws(RecordFormatFailure) {
        try self.documents.finish()
    }

    /// One whole document's log events as records.
    private func expand(_ document: ByteBuffer, into records: inout [ByteBuffer]) throws(RecordFormatFailure) {
        try document.withUnsafeReadableBytes { (raw) throws(RecordFormatFailure) in
            if let type = JSONFieldReader.stringValue(of: Self.messageType, in: raw),
                raw[type].elementsEqual(Self.controlMessage)
            {
                return
            }
            var cursor = JSONCursor(raw)
            guard cursor.seekMember(Self.logEvents) else {
                throw RecordFormatFailure(
                    description: "a JSON document has no logEvents list (is this CloudWatch Logs data?)"
                )
            }
            var context: [UInt8] = [UInt8(ascii: "{")]
            for name in Self.contextFields {
                guard let value = JSONFieldReader.value(of: name, in: raw) else { continue }
                context.append(UInt8(ascii: "\""))
                context.append(contentsOf: name)
                context.append(contentsOf: [UInt8(ascii: "\""), UInt8(ascii: ":")])
                context.append(contentsOf: raw[value])
                context.append(UInt8(ascii: ","))
            }
            let wellFormed = try cursor.forEachElement { (event) throws(RecordFormatFailure) in
                let eventBytes = UnsafeRawBufferPointer(rebasing: raw[event])
                if self.messageOnly {
                    guard let message = JSONFieldReader.stringValue(of: Self.message, in: eventBytes) else {
                        throw RecordFormatFailure(description: "a log event has no message string")
                    }
                    let text = UnsafeRawBufferPointer(rebasing: eventBytes[message])
                    if text.contains(UInt8(ascii: "\\")) {
                        records.append(ByteBuffer(bytes: JSONStringText.unescape(text)))
                    } else {
                        records.append(
                            document.getSlice(
                                at: document.readerIndex + event.lowerBound + message.lowerBound,
                                length: message.count
                            )!
                        )
                    }
                    return
                }
                guard eventBytes.first == UInt8(ascii: "{") else {
                    throw RecordFormatFailure(description: "a log event is not a JSON object")
                }
                var members = 1..<(eventBytes.count - 1)
                while let first = members.first, JSONFieldReader.isBlank(eventBytes[first]) {
                    members = (first + 1)..<members.upperBound
                }
                var record = ByteBuffer()
                record.reserveCapacity(context.count + members.count + 1)
                record.writeBytes(members.isEmpty && context.count > 1 ? context.dropLast() : context[...])
                record.writeBytes(UnsafeRawBufferPointer(rebasing: eventBytes[members]))
                record.writeInteger(UInt8(ascii: "}"))
                records.append(record)
            }
            guard wellFormed else {
                throw RecordFormatFailure(description: "logEvents is not a well-formed JSON list of log events")
            }
        }
    }

    /// Whether `document` is a CloudWatch Logs subscription document (data or control).
    static func isDocument(_ document: ByteBuffer) -> Bool {
        document.withUnsafeReadableBytes { raw in
            guard let type = JSONFieldReader.stringValue(of: Self.messageType, in: raw) else { return false }
            return (raw[type].elementsEqual(Self.dataMessage) || raw[type].elementsEqual(Self.controlMessage))
                && JSONFieldReader.value(of: Self.logEvents, in: raw) != nil
        }
    }

    private static let messageType = Array("messageType".utf8)
    private static let dataMessage = Array("DATA_MESSAGE".utf8)
    private static let controlMessage = Array("CONTROL_MESSAGE".utf8)
    private static let logEvents = Array("logEvents".utf8)
    private static let message = Array("message".utf8)
    private static let contextFields = ["owner", "logGroup", "logStream"].map { Array($0.utf8) }
}
