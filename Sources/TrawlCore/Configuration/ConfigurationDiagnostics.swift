import Synchronization

/// Collects every configuration error instead of stopping at the first, so `trawl validate` can list them
/// all at once.
public final class ConfigurationDiagnostics: Sendable {
    private let collected = Mutex<[TrawlError]>([])

    public init() {}

    /// Records `error` unless the same one (code, message, location) already was: a mistake outside the
    /// configuration file that several inputs read (a malformed `HTTPS_PROXY`) is listed once.
    public func record(_ error: TrawlError) {
        self.collected.withLock { collected in
            let seen = collected.contains {
                $0.code == error.code && $0.message == error.message && $0.location == error.location
            }
            if !seen { collected.append(error) }
        }
    }

    /// The errors, in the order found.
    public var errors: [TrawlError] { self.collected.withLock { $0 } }
}

/// The configuration has errors; `errors` lists them all.
public struct ConfigurationInvalid: Error, Sendable, CustomStringConvertible {
    public var errors: [TrawlError]

    public init(errors: [TrawlError]) {
        self.errors = errors
    }

    public var description: String {
        "Configuration has \(self.errors.count) error(s):\n"
            + self.errors.enumerated().map { "  \($0.offset + 1). \($0.element)" }.joined(separator: "\n")
    }
}
