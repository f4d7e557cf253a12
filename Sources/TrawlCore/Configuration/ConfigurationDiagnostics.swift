import Synchronization

/// Collects every configuration error instead of stopping at the first, so `trawl validate` can list them
/// all at once.
public final class ConfigurationDiagnostics: Sendable {
    /// What an error says about one setting by name, so a setting written in the wrong section can be told
    /// where it belongs.
    public enum SettingNote: Sendable, Equatable {
        case unknown(String)
        case missing(String)
    }

    private let collected = Mutex<[(error: TrawlError, note: SettingNote?)]>([])

    public init() {}

    /// Records `error` unless the same one (code, message, location) already was: a mistake outside the
    /// configuration file that several inputs read (a malformed `HTTPS_PROXY`) is listed once. `note` says
    /// which setting an unknown-setting or missing-setting error is about.
    public func record(_ error: TrawlError, note: SettingNote? = nil) {
        self.collected.withLock { collected in
            let seen = collected.contains {
                $0.error.code == error.code && $0.error.message == error.message
                    && $0.error.location == error.location
            }
            if !seen { collected.append((error, note)) }
        }
    }

    /// The errors, in the order found. A setting written in one section that another one lacks (an input's
    /// `console_url` put under a service instead of its credentials) is one mistake: both errors say where it
    /// was written and where it belongs. A setting whose environment variable is not set is one mistake too:
    /// what its value then lacks (an empty access key id "does not match expected format") is not listed.
    public var errors: [TrawlError] {
        let recorded = self.collected.withLock { $0 }
        let unset = Set(recorded.filter { $0.error.code == .environmentVariableMissing }.compactMap(\.error.location))
        let collected = recorded.filter {
            $0.error.code == .environmentVariableMissing || !unset.contains($0.error.location ?? "")
        }
        var unknown: [String: [Int]] = [:]
        var missing: [String: [Int]] = [:]
        for (index, entry) in collected.enumerated() {
            switch entry.note {
            case .unknown(let name): unknown[name, default: []].append(index)
            case .missing(let name): missing[name, default: []].append(index)
            case nil: break
            }
        }
        var errors = collected.map(\.error)
        for (name, written) in unknown {
            guard written.count == 1, let lacking = missing[name], lacking.count == 1,
                let from = errors[written[0]].location, let to = errors[lacking[0]].location
            else { continue }
            errors[written[0]].specificFix = "\(name) belongs at \(to): move it there."
            errors[lacking[0]].specificFix = "\(name) is written at \(from): move it here."
        }
        return errors
    }
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
