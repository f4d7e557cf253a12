import NIOCore

/// Writes JSON for the row assembler, and renders each value by its logical type:
/// - dates as `YYYY-MM-DD`, times as `HH:MM:SS.fff`, timestamps (and INT96) as RFC 3339
///   (`2023-03-01T12:00:00.000Z`, with the unit's digits; no `Z` when not adjusted to UTC), the form
///   OCSF's datetime fields use;
/// - decimals as exact numbers (`-123.45`), unsigned integers unsigned, UUIDs in their canonical form;
/// - floating point numbers in their shortest round-trip form, non-finite ones as null;
/// - strings, enums and plain binary as JSON strings (invalid UTF-8 replaced with U+FFFD).
struct ParquetJSONValueWriter {
    /// The JSON written so far.
    var out: [UInt8] = []

    @inline(__always) mutating func byte(_ byte: UInt8) {
        self.out.append(byte)
    }

    mutating func null() {
        self.out.append(contentsOf: [0x6E, 0x75, 0x6C, 0x6C])
    }

    /// The value `index` of `values`, shown as `rendering` says.
    mutating func value(_ values: ParquetValues, at index: Int, rendering: ParquetRowPlan.Rendering) {
        switch values {
        case .boolean(let values):
            if values[index] {
                self.out.append(contentsOf: [0x74, 0x72, 0x75, 0x65])
            } else {
                self.out.append(contentsOf: [0x66, 0x61, 0x6C, 0x73, 0x65])
            }
        case .int32(let values): self.int32(values[index], rendering)
        case .int64(let values): self.int64(values[index], rendering)
        case .int96(let values):
            let stamp = values[index]
            let days = Int64(stamp.julianDay) - 2_440_588
            let nanoseconds = days &* 86_400_000_000_000 &+ Int64(bitPattern: stamp.nanosecondsOfDay)
            self.timestamp(nanoseconds, unit: .nanos, utc: false)
        case .float(let values): self.double(Double(values[index]))
        case .double(let values): self.double(values[index])
        case .bytes(let values): self.bytes(values, index, rendering)
        }
    }

    /// A map key: the value's text as a JSON string (a string value as it is, anything else quoted).
    mutating func key(_ values: ParquetValues, at index: Int, rendering: ParquetRowPlan.Rendering) {
        let start = self.out.count
        self.value(values, at: index, rendering: rendering)
        if self.out.count == start || self.out[start] != UInt8(ascii: "\"") {
            self.out.insert(UInt8(ascii: "\""), at: start)
            self.out.append(UInt8(ascii: "\""))
        }
        self.out.append(UInt8(ascii: ":"))
    }

    /// Writes the decimal digits of `value`.
    private mutating func digits(_ value: UInt64, negative: Bool = false) {
        if negative { self.out.append(UInt8(ascii: "-")) }
        if value < 10 {
            self.out.append(UInt8(ascii: "0") &+ UInt8(value))
            return
        }
        var scratch: (UInt64, UInt64, UInt64) = (0, 0, 0)
        withUnsafeMutableBytes(of: &scratch) { raw in
            var position = raw.count
            var rest = value
            while rest > 0 {
                position -= 1
                raw[position] = UInt8(ascii: "0") &+ UInt8(rest % 10)
                rest /= 10
            }
            self.out.append(contentsOf: UnsafeRawBufferPointer(rebasing: raw[position...]))
        }
    }

    private mutating func signed(_ value: Int64) {
        self.digits(value.magnitude, negative: value < 0)
    }

    /// `value` with at least `width` digits (zeros in front).
    private mutating func padded(_ value: Int64, _ width: Int) {
        if value < 0 { self.out.append(UInt8(ascii: "-")) }
        var magnitude = value.magnitude
        var count = 1
        while magnitude >= 10 {
            magnitude /= 10
            count += 1
        }
        for _ in count..<max(count, width) { self.out.append(UInt8(ascii: "0")) }
        self.digits(value.magnitude)
    }

    // MARK: Numbers

    private mutating func int32(_ value: Int32, _ rendering: ParquetRowPlan.Rendering) {
        switch rendering {
        case .date: self.date(days: Int64(value))
        case .decimal(let scale): self.decimal(Int128(value), scale: scale)
        case .time(let unit): self.time(Int64(value), unit: unit)
        case .unsigned: self.digits(UInt64(UInt32(bitPattern: value)))
        default: self.signed(Int64(value))
        }
    }

    private mutating func int64(_ value: Int64, _ rendering: ParquetRowPlan.Rendering) {
        switch rendering {
        case .timestamp(let unit, let utc): self.timestamp(value, unit: unit, utc: utc)
        case .time(let unit): self.time(value, unit: unit)
        case .decimal(let scale): self.decimal(Int128(value), scale: scale)
        case .unsigned: self.digits(UInt64(bitPattern: value))
        default: self.signed(value)
        }
    }

    private mutating func double(_ value: Double) {
        guard value.isFinite else {
            self.null()
            return
        }
        self.out.append(contentsOf: value.description.utf8)
    }

    /// The unscaled integer with the decimal point `scale` digits from the right.
    private mutating func decimal(_ unscaled: Int128, scale: Int) {
        let negative = unscaled < 0
        var digits = String(unscaled.magnitude)
        if scale > 0 {
            if digits.count <= scale { digits = String(repeating: "0", count: scale - digits.count + 1) + digits }
            digits.insert(".", at: digits.index(digits.endIndex, offsetBy: -scale))
        }
        if negative { self.out.append(UInt8(ascii: "-")) }
        self.out.append(contentsOf: digits.utf8)
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

    private mutating func date(days: Int64) {
        let (year, month, day) = Self.civil(days: days)
        self.out.append(UInt8(ascii: "\""))
        self.calendarDate(year, month, day)
        self.out.append(UInt8(ascii: "\""))
    }

    private mutating func calendarDate(_ year: Int64, _ month: Int64, _ day: Int64) {
        self.padded(year, 4)
        self.out.append(UInt8(ascii: "-"))
        self.padded(month, 2)
        self.out.append(UInt8(ascii: "-"))
        self.padded(day, 2)
    }

    private mutating func clock(_ seconds: Int64, fraction: Int64, digits: Int) {
        self.padded(seconds / 3600, 2)
        self.out.append(UInt8(ascii: ":"))
        self.padded(seconds / 60 % 60, 2)
        self.out.append(UInt8(ascii: ":"))
        self.padded(seconds % 60, 2)
        self.out.append(UInt8(ascii: "."))
        self.padded(fraction, digits)
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
        self.out.append(UInt8(ascii: "\""))
        self.clock(value / scale, fraction: value % scale, digits: digits)
        self.out.append(UInt8(ascii: "\""))
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
        self.out.append(UInt8(ascii: "\""))
        self.calendarDate(year, month, day)
        self.out.append(UInt8(ascii: "T"))
        self.clock(inDay, fraction: fraction, digits: digits)
        if utc { self.out.append(UInt8(ascii: "Z")) }
        self.out.append(UInt8(ascii: "\""))
    }

    // MARK: Bytes

    private mutating func bytes(_ values: ParquetByteArrays, _ index: Int, _ rendering: ParquetRowPlan.Rendering) {
        let range = values.range(index)
        switch rendering {
        case .uuid where range.count == 16:
            self.out.append(UInt8(ascii: "\""))
            for (position, byte) in values.bytes[range].enumerated() {
                if position == 4 || position == 6 || position == 8 || position == 10 {
                    self.out.append(UInt8(ascii: "-"))
                }
                self.out.append(Self.hexDigits[Int(byte >> 4)])
                self.out.append(Self.hexDigits[Int(byte & 15)])
            }
            self.out.append(UInt8(ascii: "\""))
        case .decimal(let scale) where range.count <= 16:
            self.decimal(Self.bigEndian(values.bytes[range]), scale: scale)
        default:
            values.bytes.withUnsafeBufferPointer { bytes in
                Self.appendString(UnsafeBufferPointer(rebasing: bytes[range]), to: &self.out)
            }
        }
    }

    private static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

    /// A big-endian two's complement integer of up to 16 bytes.
    private static func bigEndian(_ bytes: ArraySlice<UInt8>) -> Int128 {
        guard let first = bytes.first else { return 0 }
        var value: Int128 = first >= 0x80 ? -1 : 0
        for byte in bytes { value = (value << 8) | Int128(byte) }
        return value
    }

    /// Appends `value` as a JSON string: quotes, backslashes and control characters escaped (`\n`, `\t`...
    /// or `\u00XX`), the rest copied as UTF-8 (invalid UTF-8 replaced with U+FFFD). Runs that need no
    /// escaping, nearly all of any text, are copied at once.
    static func appendString(_ value: UnsafeBufferPointer<UInt8>, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        if Self.isPlain(value) {
            out.append(contentsOf: value)
        } else if !value.contains(where: { $0 >= 0x80 }) {
            Self.appendEscaped(value, to: &out)
        } else {
            Self.appendEscaped(String(decoding: value, as: UTF8.self).utf8, to: &out)
        }
        out.append(UInt8(ascii: "\""))
    }

    static func appendString(_ value: ArraySlice<UInt8>, to out: inout [UInt8]) {
        value.withUnsafeBufferPointer { Self.appendString($0, to: &out) }
    }

    /// Whether `bytes` are ASCII without anything a JSON string must escape (controls, `"` and `\\`),
    /// checked eight bytes at a time.
    static func isPlain(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        let ones: UInt64 = 0x0101_0101_0101_0101
        let highs: UInt64 = 0x8080_8080_8080_8080
        var index = 0
        if let base = bytes.baseAddress {
            let raw = UnsafeRawPointer(base)
            while index + 8 <= bytes.count {
                let word = raw.loadUnaligned(fromByteOffset: index, as: UInt64.self)
                // A byte is flagged when it is >= 0x80, < 0x20, or equal to '"' or '\\' (zero after XOR).
                let control = (word &- ones &* 0x20) & ~word
                let quote = word ^ (ones &* 0x22)
                let backslash = word ^ (ones &* 0x5C)
                let quoteZero = (quote &- ones) & ~quote
                let backslashZero = (backslash &- ones) & ~backslash
                if (word | control | quoteZero | backslashZero) & highs != 0 { return false }
                index += 8
            }
        }
        while index < bytes.count {
            let byte = bytes[index]
            if byte >= 0x80 || byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") { return false }
            index += 1
        }
        return true
    }

    private static func appendEscaped<Bytes: Sequence<UInt8>>(_ value: Bytes, to out: inout [UInt8]) {
        for byte in value {
            switch byte {
            case UInt8(ascii: "\""): out += [0x5C, 0x22]
            case UInt8(ascii: "\\"): out += [0x5C, 0x5C]
            case 0x0A: out += [0x5C, UInt8(ascii: "n")]
            case 0x0D: out += [0x5C, UInt8(ascii: "r")]
            case 0x09: out += [0x5C, UInt8(ascii: "t")]
            case 0x08: out += [0x5C, UInt8(ascii: "b")]
            case 0x0C: out += [0x5C, UInt8(ascii: "f")]
            case 0..<0x20:
                out += [0x5C, UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0")]
                out.append(Self.hexDigits[Int(byte >> 4)])
                out.append(Self.hexDigits[Int(byte & 15)])
            default: out.append(byte)
            }
        }
    }
}
