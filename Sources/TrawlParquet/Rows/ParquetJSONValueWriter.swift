import NIOCore

/// Writes JSON for the row assembler, and renders each value by its logical type:
/// - dates as `YYYY-MM-DD`, times as `HH:MM:SS.fff`, timestamps (and INT96) as RFC 3339
///   (`2023-03-01T12:00:00.000Z`, with the unit's digits; no `Z` when not adjusted to UTC), the form
///   OCSF's datetime fields use;
/// - decimals as exact numbers (`-123.45`), unsigned integers unsigned, UUIDs in their canonical form;
/// - floating point numbers in their shortest round-trip form, non-finite ones as null;
/// - strings, enums and plain binary as JSON strings (invalid UTF-8 replaced with U+FFFD).
struct ParquetJSONValueWriter {
    private let storage: ParquetJSONStorage
    private var base: UnsafeMutablePointer<UInt8>
    private var capacity: Int
    /// How many bytes were written.
    private(set) var count = 0

    /// A writer that starts at the beginning of `storage`, which nothing else may use until the writer is
    /// done.
    init(_ storage: ParquetJSONStorage) {
        self.storage = storage
        self.base = storage.base
        self.capacity = storage.capacity
    }

    /// The bytes written so far; valid until the next write.
    var written: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: self.base, count: self.count) }

    /// Makes room for `bytes` more bytes, so that up to that many can be stored without a further check.
    @inline(__always) mutating func reserve(_ bytes: Int) {
        if self.capacity &- self.count < bytes { self.grow(bytes) }
    }

    @inline(never) private mutating func grow(_ bytes: Int) {
        self.storage.grow(keeping: self.count, toHold: self.count + bytes)
        self.base = self.storage.base
        self.capacity = self.storage.capacity
    }

    /// Stores a byte in room made by ``reserve(_:)``.
    @inline(__always) private mutating func put(_ byte: UInt8) {
        self.base[self.count] = byte
        self.count &+= 1
    }

    @inline(__always) mutating func byte(_ byte: UInt8) {
        self.reserve(1)
        self.put(byte)
    }

    @inline(__always) private mutating func append(_ bytes: UnsafeRawBufferPointer) {
        self.reserve(bytes.count)
        if let source = bytes.baseAddress {
            UnsafeMutableRawPointer(self.base + self.count).copyMemory(from: source, byteCount: bytes.count)
        }
        self.count &+= bytes.count
    }

    /// Appends `count` bytes from `source`, copied a word at a time: for short runs such as keys, where a
    /// call to `memcpy` costs more than the copy. Reads up to seven bytes past `count`, which the caller
    /// guarantees are readable.
    @inline(__always) mutating func appendWords(_ source: UnsafeRawPointer, count: Int) {
        self.reserve(count &+ 8)
        let target = UnsafeMutableRawPointer(self.base + self.count)
        var offset = 0
        repeat {
            target.storeBytes(
                of: source.loadUnaligned(fromByteOffset: offset, as: UInt64.self),
                toByteOffset: offset,
                as: UInt64.self
            )
            offset &+= 8
        } while offset < count
        self.count &+= count
    }

    mutating func null() {
        self.reserve(4)
        self.put(0x6E)
        self.put(0x75)
        self.put(0x6C)
        self.put(0x6C)
    }

    @inline(__always) mutating func boolean(_ value: Bool) {
        self.reserve(5)
        if value {
            self.put(0x74)
            self.put(0x72)
            self.put(0x75)
            self.put(0x65)
        } else {
            self.put(0x66)
            self.put(0x61)
            self.put(0x6C)
            self.put(0x73)
            self.put(0x65)
        }
    }

    mutating func int96(_ stamp: ParquetInt96) {
        let days = Int64(stamp.julianDay) - 2_440_588
        let nanoseconds = days &* 86_400_000_000_000 &+ Int64(bitPattern: stamp.nanosecondsOfDay)
        self.timestamp(nanoseconds, unit: .nanos, utc: false)
    }

    /// Makes what was written since `start` a map key: a JSON string as it is, anything else (a number, a
    /// date, nothing) quoted, then the colon.
    mutating func endKey(startingAt start: Int) {
        if self.count == start || self.base[start] != UInt8(ascii: "\"") {
            self.reserve(3)
            (self.base + start + 1).update(from: self.base + start, count: self.count - start)
            self.base[start] = UInt8(ascii: "\"")
            self.count += 1
            self.put(UInt8(ascii: "\""))
        }
        self.byte(UInt8(ascii: ":"))
    }

    /// Writes the decimal digits of `value`.
    private mutating func digits(_ value: UInt64, negative: Bool = false) {
        self.reserve(21)
        if negative { self.put(UInt8(ascii: "-")) }
        if value < 10 {
            self.put(UInt8(ascii: "0") &+ UInt8(value))
            return
        }
        var length = 0
        var rest = value
        while rest > 0 {
            length += 1
            rest /= 10
        }
        rest = value
        var position = self.count &+ length
        while rest > 0 {
            position &-= 1
            self.base[position] = UInt8(ascii: "0") &+ UInt8(rest % 10)
            rest /= 10
        }
        self.count &+= length
    }

    private mutating func signed(_ value: Int64) {
        self.digits(value.magnitude, negative: value < 0)
    }

    /// `value` with at least `width` digits (zeros in front).
    private mutating func padded(_ value: Int64, _ width: Int) {
        if value < 0 { self.byte(UInt8(ascii: "-")) }
        var magnitude = value.magnitude
        var count = 1
        while magnitude >= 10 {
            magnitude /= 10
            count += 1
        }
        for _ in count..<max(count, width) { self.byte(UInt8(ascii: "0")) }
        self.digits(value.magnitude)
    }

    // MARK: Numbers

    mutating func int32(_ value: Int32, _ rendering: ParquetRowPlan.Rendering) {
        switch rendering {
        case .date: self.date(days: Int64(value))
        case .decimal(let scale): self.decimal(Int128(value), scale: scale)
        case .time(let unit): self.time(Int64(value), unit: unit)
        case .unsigned: self.digits(UInt64(UInt32(bitPattern: value)))
        default: self.signed(Int64(value))
        }
    }

    mutating func int64(_ value: Int64, _ rendering: ParquetRowPlan.Rendering) {
        switch rendering {
        case .timestamp(let unit, let utc): self.timestamp(value, unit: unit, utc: utc)
        case .time(let unit): self.time(value, unit: unit)
        case .decimal(let scale): self.decimal(Int128(value), scale: scale)
        case .unsigned: self.digits(UInt64(bitPattern: value))
        default: self.signed(value)
        }
    }

    private mutating func text(_ text: String) {
        var text = text
        text.withUTF8 { self.append(UnsafeRawBufferPointer($0)) }
    }

    mutating func double(_ value: Double) {
        guard value.isFinite else {
            self.null()
            return
        }
        self.text(value.description)
    }

    /// The unscaled integer with the decimal point `scale` digits from the right.
    private mutating func decimal(_ unscaled: Int128, scale: Int) {
        let negative = unscaled < 0
        var digits = String(unscaled.magnitude)
        if scale > 0 {
            if digits.count <= scale { digits = String(repeating: "0", count: scale - digits.count + 1) + digits }
            digits.insert(".", at: digits.index(digits.endIndex, offsetBy: -scale))
        }
        if negative { self.byte(UInt8(ascii: "-")) }
        self.text(digits)
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
        self.byte(UInt8(ascii: "\""))
        self.calendarDate(year, month, day)
        self.byte(UInt8(ascii: "\""))
    }

    private mutating func calendarDate(_ year: Int64, _ month: Int64, _ day: Int64) {
        self.padded(year, 4)
        self.byte(UInt8(ascii: "-"))
        self.padded(month, 2)
        self.byte(UInt8(ascii: "-"))
        self.padded(day, 2)
    }

    private mutating func clock(_ seconds: Int64, fraction: Int64, digits: Int) {
        self.padded(seconds / 3600, 2)
        self.byte(UInt8(ascii: ":"))
        self.padded(seconds / 60 % 60, 2)
        self.byte(UInt8(ascii: ":"))
        self.padded(seconds % 60, 2)
        self.byte(UInt8(ascii: "."))
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
        self.byte(UInt8(ascii: "\""))
        self.clock(value / scale, fraction: value % scale, digits: digits)
        self.byte(UInt8(ascii: "\""))
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
        self.byte(UInt8(ascii: "\""))
        self.calendarDate(year, month, day)
        self.byte(UInt8(ascii: "T"))
        self.clock(inDay, fraction: fraction, digits: digits)
        if utc { self.byte(UInt8(ascii: "Z")) }
        self.byte(UInt8(ascii: "\""))
    }

    // MARK: Bytes

    /// A byte array value, as `rendering` says: a UUID, a decimal, or (any other) a string.
    mutating func bytes(_ value: UnsafeRawBufferPointer, _ rendering: ParquetRowPlan.Rendering) {
        switch rendering {
        case .uuid where value.count == 16:
            self.reserve(38)
            self.put(UInt8(ascii: "\""))
            for (position, byte) in value.enumerated() {
                if position == 4 || position == 6 || position == 8 || position == 10 {
                    self.put(UInt8(ascii: "-"))
                }
                self.put(Self.hexDigit(byte >> 4))
                self.put(Self.hexDigit(byte & 15))
            }
            self.put(UInt8(ascii: "\""))
        case .decimal(let scale) where value.count <= 16:
            self.decimal(Self.bigEndian(value), scale: scale)
        default:
            self.string(value)
        }
    }

    @inline(__always) private static func hexDigit(_ nibble: UInt8) -> UInt8 {
        nibble < 10 ? UInt8(ascii: "0") &+ nibble : UInt8(ascii: "a") &+ (nibble &- 10)
    }

    /// A big-endian two's complement integer of up to 16 bytes.
    private static func bigEndian(_ bytes: UnsafeRawBufferPointer) -> Int128 {
        guard let first = bytes.first else { return 0 }
        var value: Int128 = first >= 0x80 ? -1 : 0
        for byte in bytes { value = (value << 8) | Int128(byte) }
        return value
    }

    /// `value` as a JSON string: quotes, backslashes and control characters escaped (`\n`, `\t`... or
    /// `\u00XX`), the rest copied as UTF-8 (invalid UTF-8 replaced with U+FFFD). The plain ASCII run at the
    /// start, nearly all of any text, is checked and copied eight bytes at a time in one pass.
    mutating func string(_ value: UnsafeRawBufferPointer) {
        self.reserve(value.count &+ 2)
        self.put(UInt8(ascii: "\""))
        let plain =
            value.baseAddress.map { Self.copyPlain(from: $0, count: value.count, to: self.base + self.count) } ?? 0
        self.count &+= plain
        if plain < value.count {
            let rest = UnsafeRawBufferPointer(rebasing: value[plain...])
            if !rest.contains(where: { $0 >= 0x80 }) {
                self.appendEscaped(rest)
            } else {
                self.appendEscaped(String(decoding: rest, as: UTF8.self).utf8)
            }
        }
        self.byte(UInt8(ascii: "\""))
    }

    /// `text` as a JSON string, on its own (for the keys of a row plan).
    static func jsonString(_ text: String) -> [UInt8] {
        var writer = ParquetJSONValueWriter(ParquetJSONStorage(capacity: text.utf8.count * 6 + 2))
        var text = text
        text.withUTF8 { writer.string(UnsafeRawBufferPointer($0)) }
        return Array(writer.written)
    }

    /// Copies the bytes of `source` up to the first one that is not plain ASCII for JSON (a control, `"`,
    /// `\\` or a byte of 0x80 and above) into `destination`, which has room for `count`, and returns how
    /// many it copied.
    @inline(__always) private static func copyPlain(
        from source: UnsafeRawPointer,
        count: Int,
        to destination: UnsafeMutablePointer<UInt8>
    ) -> Int {
        let ones: UInt64 = 0x0101_0101_0101_0101
        let highs: UInt64 = 0x8080_8080_8080_8080
        let target = UnsafeMutableRawPointer(destination)
        var index = 0
        while index &+ 8 <= count {
            let word = source.loadUnaligned(fromByteOffset: index, as: UInt64.self)
            // A byte is flagged when it is >= 0x80, < 0x20, or equal to '"' or '\\' (zero after XOR).
            let control = (word &- ones &* 0x20) & ~word
            let quote = word ^ (ones &* 0x22)
            let backslash = word ^ (ones &* 0x5C)
            let quoteZero = (quote &- ones) & ~quote
            let backslashZero = (backslash &- ones) & ~backslash
            if (word | control | quoteZero | backslashZero) & highs != 0 { break }
            target.storeBytes(of: word, toByteOffset: index, as: UInt64.self)
            index &+= 8
        }
        while index < count {
            let byte = source.load(fromByteOffset: index, as: UInt8.self)
            if byte >= 0x80 || byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") { break }
            destination[index] = byte
            index &+= 1
        }
        return index
    }

    private mutating func appendEscaped<Bytes: Sequence<UInt8>>(_ value: Bytes) {
        for byte in value {
            self.reserve(6)
            switch byte {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"):
                self.put(0x5C)
                self.put(byte)
            case 0x0A:
                self.put(0x5C)
                self.put(UInt8(ascii: "n"))
            case 0x0D:
                self.put(0x5C)
                self.put(UInt8(ascii: "r"))
            case 0x09:
                self.put(0x5C)
                self.put(UInt8(ascii: "t"))
            case 0x08:
                self.put(0x5C)
                self.put(UInt8(ascii: "b"))
            case 0x0C:
                self.put(0x5C)
                self.put(UInt8(ascii: "f"))
            case 0..<0x20:
                self.put(0x5C)
                self.put(UInt8(ascii: "u"))
                self.put(UInt8(ascii: "0"))
                self.put(UInt8(ascii: "0"))
                self.put(Self.hexDigit(byte >> 4))
                self.put(Self.hexDigit(byte & 15))
            default: self.put(byte)
            }
        }
    }
}
