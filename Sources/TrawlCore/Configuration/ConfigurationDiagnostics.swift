import Synchronization

/// Collects every configuration error instead of stopping at the first, so `trawl validate` can list them
/// all at once.
public final class ConfigurationDiagnostics: Sendable {
    private let collected = Mutex<[TrawlError]>([])

    public init() {}

    public func record(_ error: TrawlError) {
        self.collected.withLock { $0.append(error) }
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
