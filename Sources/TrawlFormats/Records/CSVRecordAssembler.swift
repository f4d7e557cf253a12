import NIOCore

/// Splits CSV fed in pieces into records at newlines outside quotes (a quoted field may hold newlines), and
/// a record into its fields (RFC 4180: `""` inside quotes is one quote).
struct CSVRecordAssembler {
    private var record = SpanningRecord()
    private var inQuotes = false

    mutating func split(_ bytes: ByteBuffer, _ record: (ByteBuffer) -> Void) {
        bytes.withUnsafeReadableBytes { raw in
            var start = 0
            for index in 0..<raw.count {
                let byte = raw[index]
                if byte == UInt8(ascii: "\"") {
                    self.inQuotes.toggle()
                } else if byte == 0x0a, !self.inQuotes {
                    record(self.record.complete(bytes, raw, from: start, to: index))
                    start = index + 1
                }
            }
            self.record.keep(raw, from: start)
        }
    }

    /// Bytes of a record whose end has not arrived yet.
    var pendingBytes: Int { self.record.keptBytes }

    mutating func finish() throws(RecordFormatFailure) -> ByteBuffer? {
        guard !self.inQuotes else {
            throw RecordFormatFailure(description: "the CSV data ends inside a quoted field")
        }
        return self.record.finish()
    }

    static func fields(of record: ByteBuffer) throws(RecordFormatFailure) -> [String] {
        var fields: [String] = []
        var field: [UInt8] = []
        var quoted = false
        var index = record.readerIndex
        let end = record.writerIndex
        var afterQuote = false
        while index < end {
            let byte = record.getInteger(at: index, as: UInt8.self)!
            index += 1
            if quoted {
                if byte == UInt8(ascii: "\"") {
                    if index < end, record.getInteger(at: index, as: UInt8.self) == UInt8(ascii: "\"") {
                        field.append(byte)
                        index += 1
                    } else {
                        quoted = false
                        afterQuote = true
                    }
                } else {
                    field.append(byte)
                }
            } else if byte == UInt8(ascii: ",") {
                fields.append(String(decoding: field, as: UTF8.self))
                field.removeAll(keepingCapacity: true)
                afterQuote = false
            } else if byte == UInt8(ascii: "\""), field.isEmpty, !afterQuote {
                quoted = true
            } else if afterQuote {
                throw RecordFormatFailure(description: "a CSV field has characters after its closing quote")
            } else {
                field.append(byte)
            }
        }
        fields.append(String(decoding: field, as: UTF8.self))
        return fields
    }
}
