/// The `@devo_pulling_id` of a pull cycle: the cycle's start as Unix seconds with microseconds
/// (`1656421259.276966`), injected into events so a user can find everything one pull delivered.
public struct PullingID: Sendable, Hashable, CustomStringConvertible {
    /// Microseconds since the Unix epoch.
    public var microseconds: Int64

    public init(microseconds: Int64) {
        self.microseconds = microseconds
    }

    /// The pulling id of a cycle starting now.
    public static func now() -> PullingID {
        let now = UTCTimestamp.now()
        return PullingID(microseconds: now.microsecondsSinceEpoch)
    }

    public var description: String {
        let seconds = self.microseconds / 1_000_000
        let fraction = self.microseconds % 1_000_000
        let digits = String(fraction)
        return "\(seconds).\(String(repeating: "0", count: 6 - digits.count))\(digits)"
    }
}
