import NIOCore

/// A change to a Devo lookup table (the seeds' "lookup sender"): the whole table (``Mode/full``) or the rows
/// added, changed and removed since the last delivered state (``Mode/incremental``).
///
/// A source builds it and publishes it with ``Event/lookup(_:metadata:)``; the outputs that take lookups
/// deliver it through Devo's Lookups REST API or the legacy `my.lookup.control` syslog protocol. It travels
/// encoded in the event's body, so it is spooled and retried like any event.
public struct LookupUpdate: Sendable, Equatable {
    /// A column and its Devo type (`str`, `int4`, `int8`, `float`, `bool`, `ip4`, ...).
    public struct Column: Sendable, Equatable {
        public var name: String
        public var type: String

        public init(_ name: String, type: String) {
            self.name = name
            self.type = type
        }
    }

    public enum Value: Sendable, Equatable {
        case string(String)
        case int(Int64)
        case float(Double)
    }

    /// How the rows apply.
    public enum Mode: String, Sendable {
        /// The rows replace the whole table.
        case full = "FULL"
        /// The rows are added or update the rows of the same key; ``LookupUpdate/deletions`` are removed.
        case incremental = "INC"
    }

    /// The lookup table's name in Devo.
    public var table: String
    /// The columns, the key column first.
    public var columns: [Column]
    public var mode: Mode
    /// Rows to add or replace, values in column order.
    public var rows: [[Value]]
    /// Rows whose key is removed (incremental mode), values in column order (at least the key).
    public var deletions: [[Value]]
    /// Names this upload in the legacy protocol (devo-sdk's float Unix time, `1795417926.2580109`).
    public var transactionID: String

    public init(
        table: String,
        columns: [Column],
        mode: Mode,
        rows: [[Value]],
        deletions: [[Value]] = [],
        transactionID: String = LookupUpdate.transactionID(at: .now())
    ) {
        self.table = table
        self.columns = columns
        self.mode = mode
        self.rows = rows
        self.deletions = deletions
        self.transactionID = transactionID
    }

    /// The key column's name.
    public var keyColumn: String { self.columns.first?.name ?? "" }

    /// devo-sdk's lookup id: the Unix time as a float with its microseconds.
    public static func transactionID(at time: UTCTimestamp) -> String {
        let micros = time.microsecondsSinceEpoch
        let fraction = String(micros % 1_000_000)
        return "\(micros / 1_000_000).\(String(repeating: "0", count: 6 - fraction.count))\(fraction)"
    }
}

/// A lookup event's body that is not a lookup update Trawl wrote (a corrupted spool record).
public struct LookupUpdateMalformed: Error, Sendable, CustomStringConvertible {
    public var reason: String
    public var description: String { "the lookup update cannot be decoded: \(self.reason)" }
}

extension LookupUpdate {
    private static let magic: UInt32 = 0x544C_5531  // "TLU1"

    /// The body of a lookup event: a versioned binary encoding.
    public func encoded() -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeInteger(Self.magic)
        Self.writeText(self.table, into: &buffer)
        Self.writeText(self.mode.rawValue, into: &buffer)
        Self.writeText(self.transactionID, into: &buffer)
        buffer.writeInteger(UInt32(self.columns.count))
        for column in self.columns {
            Self.writeText(column.name, into: &buffer)
            Self.writeText(column.type, into: &buffer)
        }
        for rows in [self.rows, self.deletions] {
            buffer.writeInteger(UInt32(rows.count))
            for row in rows {
                buffer.writeInteger(UInt32(row.count))
                for value in row {
                    switch value {
                    case .string(let text):
                        buffer.writeInteger(UInt8(0))
                        Self.writeText(text, into: &buffer)
                    case .int(let number):
                        buffer.writeInteger(UInt8(1))
                        buffer.writeInteger(number)
                    case .float(let number):
                        buffer.writeInteger(UInt8(2))
                        buffer.writeInteger(number.bitPattern)
                    }
                }
            }
        }
        return buffer
    }

    /// Decodes the body of a lookup event.
    public init(decoding body: ByteBuffer) throws(LookupUpdateMalformed) {
        var buffer = body
        guard buffer.readInteger(as: UInt32.self) == Self.magic else {
            throw LookupUpdateMalformed(reason: "it does not start with Trawl's lookup marker")
        }
        let table = try Self.readText(&buffer)
        guard let mode = Mode(rawValue: try Self.readText(&buffer)) else {
            throw LookupUpdateMalformed(reason: "unknown mode")
        }
        let transactionID = try Self.readText(&buffer)
        var columns: [Column] = []
        for _ in 0..<(try Self.readCount(&buffer)) {
            columns.append(Column(try Self.readText(&buffer), type: try Self.readText(&buffer)))
        }
        var tables: [[[Value]]] = []
        for _ in 0..<2 {
            var rows: [[Value]] = []
            for _ in 0..<(try Self.readCount(&buffer)) {
                var row: [Value] = []
                for _ in 0..<(try Self.readCount(&buffer)) {
                    switch buffer.readInteger(as: UInt8.self) {
                    case 0: row.append(.string(try Self.readText(&buffer)))
                    case 1:
                        guard let number = buffer.readInteger(as: Int64.self) else { throw Self.truncated }
                        row.append(.int(number))
                    case 2:
                        guard let bits = buffer.readInteger(as: UInt64.self) else { throw Self.truncated }
                        row.append(.float(Double(bitPattern: bits)))
                    default: throw LookupUpdateMalformed(reason: "unknown value type")
                    }
                }
                rows.append(row)
            }
            tables.append(rows)
        }
        guard buffer.readableBytes == 0 else { throw LookupUpdateMalformed(reason: "trailing bytes") }
        self.init(
            table: table,
            columns: columns,
            mode: mode,
            rows: tables[0],
            deletions: tables[1],
            transactionID: transactionID
        )
    }

    private static let truncated = LookupUpdateMalformed(reason: "it is truncated")

    private static func writeText(_ text: String, into buffer: inout ByteBuffer) {
        buffer.writeInteger(UInt32(text.utf8.count))
        buffer.writeString(text)
    }

    private static func readText(_ buffer: inout ByteBuffer) throws(LookupUpdateMalformed) -> String {
        guard let length = buffer.readInteger(as: UInt32.self), let text = buffer.readString(length: Int(length))
        else { throw Self.truncated }
        return text
    }

    /// A count that cannot exceed what is left to read (a corrupted count must not allocate gigabytes).
    private static func readCount(_ buffer: inout ByteBuffer) throws(LookupUpdateMalformed) -> Int {
        guard let count = buffer.readInteger(as: UInt32.self), Int(count) <= buffer.readableBytes else {
            throw Self.truncated
        }
        return Int(count)
    }
}
