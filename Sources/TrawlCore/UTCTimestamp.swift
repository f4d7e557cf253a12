#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A wall-clock instant in UTC with microsecond precision, formatted the way the Devo collectors log it
/// (`2022-06-28 10:39:22.511671+00:00`). Foundation-free so hot paths and logs need no `DateFormatter`.
public struct UTCTimestamp: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var microsecondsSinceEpoch: Int64

    public init(microsecondsSinceEpoch: Int64) {
        self.microsecondsSinceEpoch = microsecondsSinceEpoch
    }

    public static func now() -> UTCTimestamp {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return UTCTimestamp(microsecondsSinceEpoch: Int64(spec.tv_sec) * 1_000_000 + Int64(spec.tv_nsec) / 1_000)
    }

    public static func < (lhs: UTCTimestamp, rhs: UTCTimestamp) -> Bool {
        lhs.microsecondsSinceEpoch < rhs.microsecondsSinceEpoch
    }

    /// Seconds since the epoch as a floating-point number.
    public var secondsSinceEpoch: Double { Double(self.microsecondsSinceEpoch) / 1_000_000 }

    /// Broken-down UTC calendar fields.
    public var components: (year: Int, month: Int, day: Int, hour: Int, minute: Int, second: Int, micro: Int) {
        var seconds = time_t(self.microsecondsSinceEpoch.floorDivided(by: 1_000_000))
        let micro = Int(self.microsecondsSinceEpoch.floorModulo(1_000_000))
        var parts = tm()
        gmtime_r(&seconds, &parts)
        return (
            Int(parts.tm_year) + 1900, Int(parts.tm_mon) + 1, Int(parts.tm_mday), Int(parts.tm_hour),
            Int(parts.tm_min), Int(parts.tm_sec), micro
        )
    }

    /// `2022-06-28 10:39:22.511671+00:00`
    public var description: String {
        let c = self.components
        return
            "\(pad(c.year, 4))-\(pad(c.month, 2))-\(pad(c.day, 2)) \(pad(c.hour, 2)):\(pad(c.minute, 2)):"
            + "\(pad(c.second, 2)).\(pad(c.micro, 6))+00:00"
    }

    /// `2022-06-28T10:39:22.511`, the log line prefix.
    public var logPrefix: String {
        let c = self.components
        return
            "\(pad(c.year, 4))-\(pad(c.month, 2))-\(pad(c.day, 2))T\(pad(c.hour, 2)):\(pad(c.minute, 2)):"
            + "\(pad(c.second, 2)).\(pad(c.micro / 1000, 3))"
    }

    /// Builds a timestamp from UTC calendar fields; nil when a field is out of its range.
    public static func fromUTC(
        year: Int,
        month: Int,
        day: Int,
        hour: Int = 0,
        minute: Int = 0,
        second: Int = 0,
        microsecond: Int = 0
    ) -> UTCTimestamp? {
        guard (1...12).contains(month), (1...31).contains(day), (0...23).contains(hour), (0...59).contains(minute),
            (0...60).contains(second), (0..<1_000_000).contains(microsecond)
        else { return nil }
        var parts = tm()
        parts.tm_year = Int32(year - 1900)
        parts.tm_mon = Int32(month - 1)
        parts.tm_mday = Int32(day)
        parts.tm_hour = Int32(hour)
        parts.tm_min = Int32(minute)
        parts.tm_sec = Int32(second)
        let seconds = timegm(&parts)
        let result = UTCTimestamp(microsecondsSinceEpoch: Int64(seconds) * 1_000_000 + Int64(microsecond))
        let check = result.components
        guard check.day == day, check.month == month else { return nil }
        return result
    }
}

private func pad(_ value: Int, _ width: Int) -> String {
    let digits = String(value)
    return digits.count >= width ? digits : String(repeating: "0", count: width - digits.count) + digits
}

extension Int64 {
    fileprivate func floorDivided(by divisor: Int64) -> Int64 {
        let quotient = self / divisor
        return (self % divisor < 0) ? quotient - 1 : quotient
    }

    fileprivate func floorModulo(_ divisor: Int64) -> Int64 {
        let remainder = self % divisor
        return remainder < 0 ? remainder + divisor : remainder
    }
}
