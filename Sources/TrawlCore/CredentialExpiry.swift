/// When a credential Trawl depends on stops being valid: a TLS client certificate, an API token. Each is
/// warned about ahead (``warningDays``) and exported as a gauge, so that the day it expires is not the day
/// collection stops unnoticed.
public struct CredentialExpiry: Sendable, Equatable {
    /// A credential expiring within this many days is warned about.
    public static let warningDays = 30.0

    public var date: UTCTimestamp

    public init(_ date: UTCTimestamp) {
        self.date = date
    }

    public init(secondsSinceEpoch: Int64) {
        self.date = UTCTimestamp(microsecondsSinceEpoch: secondsSinceEpoch * 1_000_000)
    }

    /// `2026-12-05T08:30:00`, UTC.
    public var dateText: String { String(self.date.logPrefix.dropLast(4)) }

    public func hasPassed(now: UTCTimestamp = .now()) -> Bool { !(now < self.date) }

    /// Whether it expires within ``warningDays`` (or has expired).
    public func isNear(now: UTCTimestamp = .now()) -> Bool { self.daysLeft(now: now) < Self.warningDays }

    /// `expires on 2026-12-05T08:30:00 UTC (in 10 day(s))`, or `expired on 2026-12-05T08:30:00 UTC`.
    public func description(now: UTCTimestamp = .now()) -> String {
        self.hasPassed(now: now)
            ? "expired on \(self.dateText) UTC"
            : "expires on \(self.dateText) UTC (in \(Int(self.daysLeft(now: now))) day(s))"
    }

    private func daysLeft(now: UTCTimestamp) -> Double {
        (self.date.secondsSinceEpoch - now.secondsSinceEpoch) / 86_400
    }
}
