import NIOCore

/// Writes JSON for the row assembler, and renders each value by its logical type:
/// - dates as `YYYY-MM-DD`, times as `HH:MM:SS.fff`, timestamps (and INT96) as RFC 3339
///   (`2023-03-01T12:00:00.000Z`, with the unit's digits; no `Z` when not adjusted to UTC), the form
///   OCSF's datetime fields use;
/// - decimals as exact numbers (`-123.45`), unsigned integers unsigned, UUIDs in their canonical form;
/// - floating point numbers in their shortest round-trip form, non-finite ones as null;
/// - strings, enums and plain binary as JSON strings (invalid UTF-8 replaced with U+FFFD).
struct ParquetJSONValueWriter {
    private(set) var buffer = ByteBuffer()
    private var counts: [Int] = []
    private var arrays: [Bool] = []

    private mutating func beforeValue() {
        guard let isArray = self.arrays.last, isArray else { return }
        if self.counts[self.counts.count - 1] > 0 { self.buffer.writeInteger(UInt8(ascii: ",")) }
        self.counts[self.counts.count - 1] += 1
    }

    mutating func beginObject() {
        self.beforeValue()
        self.buffer.writeInteger(UInt8(ascii: "{"))
        self.counts.append(0)
        self.arrays.append(false)
    }

    mutating func endObject() {
        self.buffer.writeInteger(UInt8(ascii: "}"))
        self.counts.removeLast()
        self.arrays.removeLast()
    }

    mutating func beginArray() {
        self.beforeValue()
        self.buffer.writeInteger(UInt8(ascii: "["))
        self.counts.append(0)
        self.arrays.append(true)
    }

    mutating func endArray() {
        self.buffer.writeInteger(UInt8(ascii: "]"))
        self.counts.removeLast()
        self.arrays.removeLast()
    }

    mutating func key(_ name: String) {
        if self.counts[self.counts.count - 1] > 0 { self.buffer.writeInteger(UInt8(ascii: ",")) }
        self.counts[self.counts.count - 1] += 1
        self.string(Array(name.utf8)[...])
        self.buffer.writeInteger(UInt8(ascii: ":"))
    }

    mutating func null() {
        self.beforeValue()
        self.buffer.writeStaticString("null")
    }

    /// A map key: the value's text as a JSON string.
    mutating func keyFromValue(_ column: ParquetColumnData, at index: Int) {
        var scratch = ParquetJSONValueWriter()
        scratch.counts = [0]
        scratch.arrays = [true]
        scratch.value(column, at: index)
        let text = Array(scratch.buffer.readableBytesView)
        if text.first == UInt8(ascii: "\"") {
            if self.counts[self.counts.count - 1] > 0 { self.buffer.writeInteger(UInt8(ascii: ",")) }
            self.counts[self.counts.count - 1] += 1
            self.buffer.writeBytes(text)
            self.buffer.writeInteger(UInt8(ascii: ":"))
        } else {
            self.key(String(decoding: text, as: UTF8.self))
        }
    }

    mutating func value(_ column: ParquetColumnData, at index: Int) {
        self.beforeValue()
        let element = column.leaf.element
        switch column.values {
        case .boolean(let values):
            if values[index] { self.buffer.writeStaticString("true") } else { self.buffer.writeStaticString("false") }
        case .int32(let values): self.int32(values[index], element)
        case .int64(let values): self.int64(values[index], element)
        case .int96(let values):
            let stamp = values[index]
            let days = Int64(stamp.julianDay) - 2_440_588
            let nanoseconds = days &* 86_400_000_000_000 &+ Int64(bitPattern: stamp.nanosecondsOfDay)
            self.timestamp(nanoseconds, unit: .nanos, utc: false)
        case .float(let values): self.double(Double(values[index]))
        case .double(let values): self.double(values[index])
        case .bytes(let values): self.bytes(values[index], element)
        }
    }

    // MARK: Numbers

    private mutating func int32(_ value: Int32, _ element: ParquetSchemaElement) {
        switch (element.logicalType, element.convertedType) {
        case (.date, _), (nil, .date): self.date(days: Int64(value))
        case (.decimal(let scale, _), _): self.decimal(Int128(value), scale: Int(scale))
        case (nil, .decimal): self.decimal(Int128(value), scale: Int(element.scale ?? 0))
        case (.time(_, .millis), _), (nil, .timeMillis): self.time(Int64(value), unit: .millis)
        case (.integer(_, false), _), (nil, .uint8), (nil, .uint16), (nil, .uint32):
            self.buffer.writeString(String(UInt32(bitPattern: value)))
        default: self.buffer.writeString(String(value))
        }
    }

    private mutating func int64(_ value: Int64, _ element: ParquetSchemaElement) {
        switch (element.logicalType, element.convertedType) {
        case (.timestamp(let utc, let unit), _): self.timestamp(value, unit: unit, utc: utc)
        case (nil, .timestampMillis): self.timestamp(value, unit: .millis, utc: true)
        case (nil, .timestampMicros): self.timestamp(value, unit: .micros, utc: true)
        case (.time(_, let unit), _): self.time(value, unit: unit)
        case (nil, .timeMicros): self.time(value, unit: .micros)
        case (.decimal(let scale, _), _): self.decimal(Int128(value), scale: Int(scale))
        case (nil, .decimal): self.decimal(Int128(value), scale: Int(element.scale ?? 0))
        case (.integer(_, false), _), (nil, .uint64): self.buffer.writeString(String(UInt64(bitPattern: value)))
        default: self.buffer.writeString(String(value))
        }
    }

    private mutating func double(_ value: Double) {
        guard value.isFinite else {
            self.buffer.writeStaticString("null")
            return
        }
        self.buffer.writeString(value.description)
    }

    /// The unscaled integer with the decimal point `scale` digits from the right.
    private mutating func decimal(_ unscaled: Int128, scale: Int) {
        let negative = unscaled < 0
        var digits = String(unscaled.magnitude)
        if scale > 0 {
            if digits.count <= scale { digits = String(repeating: "0", count: scale - digits.count + 1) + digits }
            digits.insert(".", at: digits.index(digits.endIndex, offsetBy: -scale))
        }
        self.buffer.writeString(negative ? "-" + digits : digits)
    }

    // MARK: Dates and times

    /// Year, month and day of a day count since 1970-01-01 (proleptic Gregorian calendar).
    static func civil(days: Int64) -> (year: Int64, month: Int64, day: Int64) {
        let shifted = days + 719_468
        let era = (shifted >= 0 ? shifted : shifted - 146_096) / 146_097
        let dayOfEra = shifted - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthIndex = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * monthIndex + 2) / 5 + 1
        let month = monthIndex < 10 ? monthIndex + 3 : monthIndex - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }

    private static func padded(_ value: Int64, _ width: Int) -> String {
        let text = String(value.magnitude)
        return (value < 0 ? "-" : "") + String(repeating: "0", count: max(0, width - text.count)) + text
    }

    private mutating func date(days: Int64) {
        let (year, month, day) = Self.civil(days: days)
        self.buffer.writeString("\"\(Self.padded(year, 4))-\(Self.padded(month, 2))-\(Self.padded(day, 2))\"")
    }

    private static func perSecond(_ unit: ParquetTimeUnit) -> (Int64, Int) {
        switch unit {
        case .millis: (1_000, 3)
        case .micros: (1_000_000, 6)
        case .nanos: (1_000_000_000, 9)
        }
    }

    private mutating func time(_ value: Int64, unit: ParquetTimeUnit) {
        let (scale, digits) = Self.perSecond(unit)
        let seconds = value / scale
        let fraction = value % scale
        self.buffer.writeString(
            "\"\(Self.padded(seconds / 3600, 2)):\(Self.padded(seconds / 60 % 60, 2)):\(Self.padded(seconds % 60, 2))"
                + ".\(Self.padded(fraction, digits))\""
        )
    }

    private mutating func timestamp(_ value: Int64, unit: ParquetTimeUnit, utc: Bool) {
        let (scale, digits) = Self.perSecond(unit)
        var seconds = value / scale
        var fraction = value % scale
        if fraction < 0 {
            fraction += scale
            seconds -= 1
        }
        var days = seconds / 86_400
        var inDay = seconds % 86_400
        if inDay < 0 {
            inDay += 86_400
            days -= 1
        }
        let (year, month, day) = Self.civil(days: days)
        self.buffer.writeString(
            "\"\(Self.padded(year, 4))-\(Self.padded(month, 2))-\(Self.padded(day, 2))T"
                + "\(Self.padded(inDay / 3600, 2)):\(Self.padded(inDay / 60 % 60, 2)):\(Self.padded(inDay % 60, 2))"
                + ".\(Self.padded(fraction, digits))\(utc ? "Z" : "")\""
        )
    }

    // MARK: Bytes

    private mutating func bytes(_ value: ArraySlice<UInt8>, _ element: ParquetSchemaElement) {
        switch (element.logicalType, element.convertedType) {
        case (.uuid, _) where value.count == 16:
            let hex = value.map { Self.hexDigits[Int($0 >> 4)] + Self.hexDigits[Int($0 & 15)] }
            var text = "\""
            for (index, pair) in hex.enumerated() {
                if [4, 6, 8, 10].contains(index) { text += "-" }
                text += pair
            }
            self.buffer.writeString(text + "\"")
        case (.decimal(let scale, _), _) where value.count <= 16:
            self.decimal(Self.bigEndian(value), scale: Int(scale))
        case (nil, .decimal) where value.count <= 16:
            self.decimal(Self.bigEndian(value), scale: Int(element.scale ?? 0))
        default:
            self.string(value)
        }
    }

    private static let hexDigits = (0..<16).map { String($0, radix: 16) }

    /// A big-endian two's complement integer of up to 16 bytes.
    private static func bigEndian(_ bytes: ArraySlice<UInt8>) -> Int128 {
        guard let first = bytes.first else { return 0 }
        var value: Int128 = first >= 0x80 ? -1 : 0
        for byte in bytes { value = (value << 8) | Int128(byte) }
        return value
    }

    /// A JSON string: quotes, backslashes and control characters escaped (`\n`, `\t`... or `\u00XX`),
    /// the rest copied as UTF-8.
    private mutating func string(_ value: ArraySlice<UInt8>) {
        let text = String(decoding: value, as: UTF8.self)
        self.buffer.writeInteger(UInt8(ascii: "\""))
        var run: [UInt8] = []
        run.reserveCapacity(text.utf8.count)
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""): run += [0x5C, 0x22]
            case UInt8(ascii: "\\"): run += [0x5C, 0x5C]
            case 0x0A: run += [0x5C, UInt8(ascii: "n")]
            case 0x0D: run += [0x5C, UInt8(ascii: "r")]
            case 0x09: run += [0x5C, UInt8(ascii: "t")]
            case 0x08: run += [0x5C, UInt8(ascii: "b")]
            case 0x0C: run += [0x5C, UInt8(ascii: "f")]
            case 0..<0x20: run += Array("\\u00\(Self.hexDigits[Int(byte >> 4)])\(Self.hexDigits[Int(byte & 15)])".utf8)
            default: run.append(byte)
            }
        }
        self.buffer.writeBytes(run)
        self.buffer.writeInteger(UInt8(ascii: "\""))
    }
}
