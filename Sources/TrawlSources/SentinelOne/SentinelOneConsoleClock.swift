import TrawlCore

/// How far the console's clock is behind this host's, read from the `Date` of its answers, and when to say
/// so. Deep Visibility and risk windows, and the marks of threat events and notes, take what the console
/// stamped up to `query_lag_in_seconds` before now as complete: by this host's clock, a console whose clock
/// is behind by more than that lag stamps records later into a window already read, and they are never
/// sent, with nothing in the data saying so. The services therefore end them by the console's time as
/// measured here (``SentinelOneConsoleSource/consoleTime(at:)``), and warn while the difference lasts, since
/// a clock drifting further is seen only at the next answer. It does no I/O; the console feeds it answers
/// and the services ask it, with the time, whether a warning is due.
struct SentinelOneConsoleClock<Instant: InstantProtocol & Sendable>: Sendable where Instant.Duration == Duration {
    /// Seconds the console's clock was at least behind this host's at its latest answer with a readable
    /// `Date` (0 when it was not behind); nil before such an answer.
    private(set) var secondsBehind: Int64?
    /// When each service last warned, so that a lasting difference is said once an hour, not every cycle.
    private var warned: [String: Instant] = [:]

    static var warningInterval: Duration { .seconds(3_600) }

    /// Takes the `Date` of an answer to a request sent at `sent` (this host's clock). The console stamped
    /// it after the request was sent, to the second, so `sent` minus one second is the latest it can have
    /// read if both clocks agree: what it is behind by is measured without counting the request's time.
    mutating func answered(date: String?, sent: UTCTimestamp) {
        guard let date, let stamped = Self.httpDate(date) else { return }
        let behind = (sent.microsecondsSinceEpoch - stamped.microsecondsSinceEpoch - 1_000_000) / 1_000_000
        self.secondsBehind = max(0, behind)
    }

    /// How many seconds behind the console is when `service`, which takes what the console stamped up to
    /// `lag` seconds before now as complete, should warn about it at `now`: the console is
    /// more than half that lag (and more than 5 s, the measure's precision) behind, and the service has
    /// not warned within the hour (``threshold(lag:)``). Nil otherwise.
    mutating func warning(for service: String, lag: Int, now: Instant) -> Int64? {
        guard let behind = self.secondsBehind, behind > Self.threshold(lag: lag) else {
            self.warned[service] = nil
            return nil
        }
        if let last = self.warned[service], now < last.advanced(by: Self.warningInterval) { return nil }
        self.warned[service] = now
        return behind
    }

    /// How far behind the console may be before a service reading up to `lag` seconds before now warns: half
    /// the lag, and not less than the measure's precision.
    static func threshold(lag: Int) -> Int64 { max(5, Int64(lag) / 2) }

    /// An HTTP date (RFC 9110's IMF-fixdate, `Sun, 06 Dec 2026 23:26:21 GMT`, the only form a server may
    /// send) as an instant; nil for anything else.
    static func httpDate(_ text: String) -> UTCTimestamp? {
        let parts = text.split(separator: " ", omittingEmptySubsequences: false)
        guard parts.count == 6, parts[0].count == 4, parts[0].hasSuffix(","), parts[5] == "GMT",
            let month = httpDateMonths.firstIndex(of: String(parts[2])), Self.number(parts[1], digits: 2) != nil,
            Self.number(parts[3], digits: 4) != nil
        else { return nil }
        let time = parts[4].split(separator: ":", omittingEmptySubsequences: false)
        guard time.count == 3, time.allSatisfy({ Self.number($0, digits: 2) != nil }) else { return nil }
        let monthNumber = month < 9 ? "0\(month + 1)" : "\(month + 1)"
        return parseUTCDatetime("\(parts[3])-\(monthNumber)-\(parts[1])T\(parts[4])Z")
    }

    /// `text` as a number when it is exactly `digits` ASCII digits.
    private static func number(_ text: Substring, digits: Int) -> Int? {
        guard text.utf8.count == digits, text.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }) else { return nil }
        return Int(text)
    }
}

/// The month names of an HTTP date, in order.
private let httpDateMonths = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
