import NIOCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Splits one object's decompressed bytes, fed in pieces, into records. Records that lie inside one piece
/// are slices of it (no copy); only a record spanning pieces is assembled.
public struct RecordSplitter {
    public let format: RecordFormat
    /// The longest record held while its end has not arrived: a line with no end (a gzip bomb of one line,
    /// an object of another format) is refused instead of taking the collector's memory.
    public let maxRecordBytes: Int
    private var lines = LineAssembler()
    private var elements: JSONElementScanner?
    private var header: [String]?
    /// Data rows of a delimited format read so far, so a row that does not fit its header is named.
    private var dataRows = 0
    /// A `tsv` object in the W3C extended log format (CloudFront's and IIS's logs): its first line is a
    /// `#Version:`, `#Fields:`, `#Software:` or `#Date:` directive; nil until its first line was read.
    private var w3cExtended: Bool?
    private var csvRecord = CSVRecordAssembler()
    private var cloudWatch: CloudWatchLogsSplitter?
    private var whole = ByteBuffer()
    /// How a `json_lines` object lays out its records; nil until its first line tells.
    private var jsonLayout: JSONLinesLayoutProbe.Layout?
    private var layoutProbe = JSONLinesLayoutProbe()
    /// A `json_lines` object's bytes while its layout is not known.
    private var heldForLayout = ByteBuffer()
    private var jsonObjects = JSONObjectStream(kind: "JSON object")

    init(format: RecordFormat, maxRecordBytes: Int, columns: [String]? = nil) {
        self.format = format
        self.maxRecordBytes = maxRecordBytes
        if format == .csv || format == .tsv { self.header = columns }
        switch format {
        case .jsonDocument(let field): self.elements = JSONElementScanner(listField: field)
        case .jsonArray: self.elements = JSONElementScanner(listField: nil)
        default: self.elements = nil
        }
        if case .cloudWatchLogs(let messageOnly) = format {
            self.cloudWatch = CloudWatchLogsSplitter(messageOnly: messageOnly)
        }
    }

    /// Consumes the next piece, appending the records it completes.
    public mutating func consume(_ bytes: ByteBuffer, into records: inout [ByteBuffer]) throws(RecordFormatFailure) {
        switch self.format {
        case .jsonLines:
            try self.splitJSONLines(bytes, into: &records)
        case .lines:
            self.splitLines(bytes, into: &records)
        case .jsonDocument, .jsonArray:
            try self.elements!.scan(bytes, into: &records)
        case .csv:
            var rows: [ByteBuffer] = []
            self.csvRecord.split(bytes) { rows.append($0) }
            for row in rows { try self.row(row, into: &records) }
        case .tsv, .vpcFlow:
            var rows: [ByteBuffer] = []
            self.lines.split(bytes) { rows.append($0) }
            for row in rows { try self.row(row, into: &records) }
        case .cloudWatchLogs:
            try self.cloudWatch!.consume(bytes, into: &records)
        case .wholeObject(let maxBytes):
            guard self.whole.readableBytes + bytes.readableBytes <= maxBytes else {
                throw RecordFormatFailure(
                    description: "the object is larger than the \(maxBytes) bytes a whole_object record may hold"
                )
            }
            var bytes = bytes
            self.whole.writeBuffer(&bytes)
        case .parquet:
            throw RecordFormatFailure(description: "the object is not Parquet (it does not start with PAR1)")
        }
        if self.pendingBytes > self.maxRecordBytes {
            throw RecordFormatFailure(
                description:
                    "a record is longer than record_max_bytes (\(self.maxRecordBytes) bytes) and has not ended yet: is the object in another format?"
            )
        }
    }

    /// Bytes held for a record (or CloudWatch Logs document) not complete yet: the last bytes consumed, where
    /// a failure at the end can say its unfinished record starts.
    public var pendingBytes: Int {
        switch self.format {
        case .jsonLines:
            switch self.jsonLayout {
            case nil: return self.heldForLayout.readableBytes
            case .lines?: return self.lines.pendingBytes
            case .objects?: return self.jsonObjects.pendingBytes
            }
        case .lines, .tsv, .vpcFlow: return self.lines.pendingBytes
        case .jsonDocument, .jsonArray: return self.elements!.pendingBytes
        case .csv: return self.csvRecord.pendingBytes
        case .cloudWatchLogs: return self.cloudWatch!.pendingBytes
        case .wholeObject, .parquet: return 0
        }
    }

    /// The object ended: appends its last record and checks that nothing was left open.
    public mutating func finish(into records: inout [ByteBuffer]) throws(RecordFormatFailure) {
        switch self.format {
        case .jsonLines where self.jsonLayout == nil:
            self.jsonLayout = self.layoutProbe.layoutAtEnd
            let held = self.heldForLayout
            self.heldForLayout = ByteBuffer()
            try self.splitJSONLines(held, into: &records)
            try self.finish(into: &records)
        case .jsonLines where self.jsonLayout == .objects:
            try self.jsonObjects.finish()
        case .jsonLines, .lines:
            if let last = self.lines.finish(), let trimmed = Self.trimmed(last) { records.append(trimmed) }
        case .jsonDocument, .jsonArray:
            try self.elements!.finish()
        case .csv:
            if let last = try self.csvRecord.finish() { try self.row(last, into: &records) }
        case .tsv, .vpcFlow:
            if let last = self.lines.finish() { try self.row(last, into: &records) }
        case .cloudWatchLogs:
            try self.cloudWatch!.finish()
        case .wholeObject:
            if self.whole.readableBytes > 0 { records.append(self.whole) }
            self.whole = ByteBuffer()
        case .parquet:
            throw RecordFormatFailure(description: "the object is empty, so not Parquet")
        }
    }

    /// Each non-blank line, trimmed.
    private mutating func splitLines(_ bytes: ByteBuffer, into records: inout [ByteBuffer]) {
        self.lines.split(bytes) { line in
            if let trimmed = Self.trimmed(line) { records.append(trimmed) }
        }
    }

    /// `json_lines`: a record per line, or, when the object's first line holds JSON objects back to back
    /// (Firehose records written without a delimiter) or its first object spans lines (pretty-printed), each
    /// JSON object. Bytes are held until the first value tells which (``JSONLinesLayoutProbe``), so lines
    /// that are no JSON are passed on as before.
    private mutating func splitJSONLines(
        _ bytes: ByteBuffer,
        into records: inout [ByteBuffer]
    ) throws(RecordFormatFailure) {
        switch self.jsonLayout {
        case .lines?:
            self.splitLines(bytes, into: &records)
        case .objects?:
            try self.jsonObjects.consume(bytes, into: &records)
        case nil:
            let layout = bytes.withUnsafeReadableBytes { self.layoutProbe.look(at: $0) }
            if self.heldForLayout.readableBytes == 0 {
                self.heldForLayout = bytes
            } else {
                var bytes = bytes
                self.heldForLayout.writeBuffer(&bytes)
            }
            guard let layout else { return }
            self.jsonLayout = layout
            let held = self.heldForLayout
            self.heldForLayout = ByteBuffer()
            try self.splitJSONLines(held, into: &records)
        }
    }

    /// A header or data row of a delimited format.
    private mutating func row(_ line: ByteBuffer, into records: inout [ByteBuffer]) throws(RecordFormatFailure) {
        guard Self.trimmed(line) != nil else { return }
        var line = line
        if line.readableBytesView.last == 0x0d { line.moveWriterIndex(to: line.writerIndex - 1) }
        if self.format == .tsv, try self.w3cDirective(line) { return }
        let fields: [String]
        switch self.format {
        case .csv: fields = try CSVRecordAssembler.fields(of: line)
        case .tsv where self.w3cExtended == true: fields = Self.splitW3CRow(line)
        case .tsv: fields = Self.split(line, on: UInt8(ascii: "\t"), collapsing: false)
        default: fields = Self.split(line, on: UInt8(ascii: " "), collapsing: true)
        }
        guard let header = self.header else {
            guard !fields.isEmpty, fields.allSatisfy({ !$0.isEmpty }) else {
                throw RecordFormatFailure(description: "the first line is not a header naming every column")
            }
            self.header = fields
            return
        }
        self.dataRows += 1
        guard fields.count == header.count else {
            throw RecordFormatFailure(
                description:
                    "data row \(self.dataRows) (not counting the header and blank lines) has \(fields.count) fields where the header names \(header.count)"
            )
        }
        var object = ByteBuffer()
        object.reserveCapacity(line.readableBytes + header.count * 16)
        object.writeInteger(UInt8(ascii: "{"))
        var first = true
        for (name, value) in zip(header, fields) {
            if self.format == .vpcFlow, value == "-" { continue }
            if !first { object.writeInteger(UInt8(ascii: ",")) }
            first = false
            writeJSONString(name, into: &object)
            object.writeInteger(UInt8(ascii: ":"))
            writeJSONString(value, into: &object)
        }
        object.writeInteger(UInt8(ascii: "}"))
        records.append(object)
    }

    /// Whether `line` of a `tsv` object is a W3C extended log format directive, taken: `#Fields:` names the
    /// columns of the rows after it (space-separated), other directives (`#Version:`, `#Date:`,
    /// `#Software:`, `#Remark:`) are skipped, and rows are split at tabs (CloudFront) or, in a row
    /// without one, at spaces (IIS). Only an object whose first line is `#Version:`, `#Fields:`, `#Software:` or
    /// `#Date:` is read so, so a TSV header whose first column starts with `#` is a header.
    private mutating func w3cDirective(_ line: ByteBuffer) throws(RecordFormatFailure) -> Bool {
        let bytes = line.readableBytesView
        if self.w3cExtended == nil {
            self.w3cExtended = Self.w3cFirstDirectives.contains { bytes.starts(with: $0) }
        }
        guard self.w3cExtended == true else { return false }
        guard bytes.first == UInt8(ascii: "#") else {
            if self.header == nil {
                throw RecordFormatFailure(
                    description: "a data row comes before the #Fields: directive naming its columns"
                )
            }
            return false
        }
        guard bytes.starts(with: Self.w3cFields) else { return true }
        let names = Self.split(
            line.getSlice(at: line.readerIndex + Self.w3cFields.count, length: bytes.count - Self.w3cFields.count)!,
            on: UInt8(ascii: " "),
            collapsing: true
        )
        guard !names.isEmpty else {
            throw RecordFormatFailure(description: "the #Fields: directive names no column")
        }
        self.header = names
        return true
    }

    private static let w3cFields = Array("#Fields:".utf8)
    private static let w3cFirstDirectives = ["#Version:", "#Fields:", "#Software:", "#Date:"].map { Array($0.utf8) }

    private static func split(_ line: ByteBuffer, on separator: UInt8, collapsing: Bool) -> [String] {
        self.split(line, collapsing: collapsing) { $0 == separator }
    }

    /// The fields of a W3C extended log format row: at each tab when the row has one (CloudFront, whose
    /// values may hold spaces, and where an empty value keeps its column), otherwise at runs of spaces
    /// (IIS, which writes a space inside a value as `+`).
    private static func splitW3CRow(_ line: ByteBuffer) -> [String] {
        if line.readableBytesView.contains(0x09) {
            return self.split(line, on: 0x09, collapsing: false)
        }
        return self.split(line, on: 0x20, collapsing: true)
    }

    private static func split(
        _ line: ByteBuffer,
        collapsing: Bool,
        isSeparator: (UInt8) -> Bool
    ) -> [String] {
        var fields: [String] = []
        line.withUnsafeReadableBytes { bytes in
            var start = 0
            for index in 0...bytes.count where index == bytes.count || isSeparator(bytes[index]) {
                if !(collapsing && index == start) {
                    fields.append(
                        String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
                    )
                }
                start = index + 1
            }
        }
        return fields
    }

    /// The line without a trailing `\r` and surrounding blanks; nil when nothing is left.
    static func trimmed(_ line: ByteBuffer) -> ByteBuffer? {
        line.withUnsafeReadableBytes { bytes -> ByteBuffer? in
            var start = 0
            var end = bytes.count
            while start < end, isBlank(bytes[start]) { start += 1 }
            while end > start, isBlank(bytes[end - 1]) { end -= 1 }
            guard end > start else { return nil }
            if start == 0, end == bytes.count { return line }
            return line.getSlice(at: line.readerIndex + start, length: end - start)
        }
    }

    @inline(__always) static func isBlank(_ byte: UInt8) -> Bool {
        byte == 0x20 || byte == 0x09 || byte == 0x0d || byte == 0x0a
    }
}

/// A record that may span the pieces an object arrives in: a slice of its piece when it lies inside one
/// (no copy), else assembled from the bytes kept from earlier pieces.
struct SpanningRecord {
    private var partial = ByteBuffer()

    /// Bytes kept from earlier pieces for the record not complete yet.
    var keptBytes: Int { self.partial.readableBytes }

    /// The record ending before `end` of the piece `bytes` (whose readable bytes are `raw`), starting at
    /// `start`, or in an earlier piece when bytes were kept.
    mutating func complete(
        _ bytes: ByteBuffer,
        _ raw: UnsafeRawBufferPointer,
        from start: Int,
        to end: Int
    ) -> ByteBuffer {
        guard self.partial.readableBytes > 0 else {
            return bytes.getSlice(at: bytes.readerIndex + start, length: end - start)!
        }
        self.partial.writeBytes(UnsafeRawBufferPointer(rebasing: raw[start..<end]))
        defer { self.partial = ByteBuffer() }
        return self.partial
    }

    /// Keeps the piece's bytes from `start` on: the record continues in the next piece.
    mutating func keep(_ raw: UnsafeRawBufferPointer, from start: Int) {
        if start < raw.count { self.partial.writeBytes(UnsafeRawBufferPointer(rebasing: raw[start...])) }
    }

    /// What was kept, when the object ends without the record's terminator.
    mutating func finish() -> ByteBuffer? {
        defer { self.partial = ByteBuffer() }
        return self.partial.readableBytes > 0 ? self.partial : nil
    }
}

/// Splits bytes fed in pieces at `\n`, handing out each line without its newline.
struct LineAssembler {
    private var record = SpanningRecord()

    mutating func split(_ bytes: ByteBuffer, _ line: (ByteBuffer) -> Void) {
        bytes.withUnsafeReadableBytes { raw in
            guard let base = raw.baseAddress else { return }
            var start = 0
            while start < raw.count, let hit = memchr(base + start, 0x0a, raw.count - start) {
                let newline = base.distance(to: UnsafeRawPointer(hit))
                line(self.record.complete(bytes, raw, from: start, to: newline))
                start = newline + 1
            }
            self.record.keep(raw, from: start)
        }
    }

    /// The last line, when the object does not end with a newline.
    mutating func finish() -> ByteBuffer? { self.record.finish() }

    /// Bytes of a line whose newline has not arrived yet.
    var pendingBytes: Int { self.record.keptBytes }
}

/// Writes `text` as a JSON string literal.
func writeJSONString(_ text: String, into buffer: inout ByteBuffer) {
    buffer.writeInteger(UInt8(ascii: "\""))
    for byte in text.utf8 {
        switch byte {
        case UInt8(ascii: "\""): buffer.writeStaticString("\\\"")
        case UInt8(ascii: "\\"): buffer.writeStaticString("\\\\")
        case 0x0a: buffer.writeStaticString("\\n")
        case 0x0d: buffer.writeStaticString("\\r")
        case 0x09: buffer.writeStaticString("\\t")
        case 0..<0x20:
            let hex: [UInt8] = Array("0123456789abcdef".utf8)
            buffer.writeStaticString("\\u00")
            buffer.writeInteger(hex[Int(byte >> 4)])
            buffer.writeInteger(hex[Int(byte & 0xf)])
        default: buffer.writeInteger(byte)
        }
    }
    buffer.writeInteger(UInt8(ascii: "\""))
}
