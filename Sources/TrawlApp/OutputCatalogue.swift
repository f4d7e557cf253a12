import TrawlCore
import TrawlSinks

/// One output type this build can deliver to.
public struct OutputType: Sendable {
    public var name: String
    /// Decodes and validates an output of this type and builds its sink (which does no I/O until used).
    public var make: @Sendable (OutputConfiguration, _ hostname: String, ConfigurationDiagnostics) -> (any EventSink)?
}

/// The output types of this build.
public enum OutputCatalogue {
    public static let all: [OutputType] = [console, file]

    /// `console`: Devo syslog lines on standard output.
    public static let console = OutputType(name: "console") { output, hostname, diagnostics in
        decodeSettings(ConsoleOutputSettings.self, of: output, diagnostics).map { settings in
            ConsoleSink(name: output.name, framer: DevoSyslogFramer(hostname: hostname, multiline: settings.multiline))
        }
    }

    /// `file`: Devo syslog lines appended to a file, fsynced per write.
    public static let file = OutputType(name: "file") { output, hostname, diagnostics in
        decodeSettings(FileOutputSettings.self, of: output, diagnostics).map { settings in
            FileSink(
                name: output.name,
                path: settings.path,
                framer: DevoSyslogFramer(hostname: hostname, multiline: settings.multiline)
            )
        }
    }

    private static func decodeSettings<Settings: Decodable>(
        _ type: Settings.Type,
        of output: OutputConfiguration,
        _ diagnostics: ConfigurationDiagnostics
    ) -> Settings? {
        SettingsDecoding.decode(type, from: output.settings, path: "\(output.path).settings", diagnostics: diagnostics)
    }
}

/// `outputs.<name>.settings` of a `console` output.
struct ConsoleOutputSettings: Decodable {
    var multiline: DevoSyslogFramer.MultilinePolicy

    enum CodingKeys: String, CodingKey, CaseIterable {
        case multiline
    }

    init(from decoder: any Decoder) throws {
        let settings = SettingsReader(decoder, keys: CodingKeys.self)
        self.multiline = readMultiline(settings, .multiline)
    }
}

/// `outputs.<name>.settings` of a `file` output.
struct FileOutputSettings: Decodable {
    var path: String
    var multiline: DevoSyslogFramer.MultilinePolicy

    enum CodingKeys: String, CodingKey, CaseIterable {
        case path
        case multiline
    }

    init(from decoder: any Decoder) throws {
        let settings = SettingsReader(decoder, keys: CodingKeys.self)
        self.path = settings.string(.path, required: true) ?? ""
        self.multiline = readMultiline(settings, .multiline)
    }
}

private func readMultiline<Key>(_ settings: SettingsReader<Key>, _ key: Key) -> DevoSyslogFramer.MultilinePolicy {
    let allowed = DevoSyslogFramer.MultilinePolicy.allCases.map(\.rawValue)
    let word = settings.string(key, default: "escape", allowed: allowed) ?? "escape"
    return DevoSyslogFramer.MultilinePolicy(rawValue: word) ?? .escape
}
