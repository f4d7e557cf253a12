import TrawlCore

/// Decodes a settings section from YAML text the way Trawl decodes a configuration, for tests that need a
/// settings value or the errors it produces.
public enum SettingsFixture {
    /// The decoded settings (nil if the section could not be read) and every error found.
    public static func decode<Settings: Decodable>(
        _ type: Settings.Type,
        yaml: String,
        path: String = "test"
    ) -> (settings: Settings?, errors: [TrawlError]) {
        let diagnostics = ConfigurationDiagnostics()
        let document = ConfigurationDocument.parse(yaml, origin: path, environment: [:], diagnostics: diagnostics)
        let settings = SettingsDecoding.decode(type, from: document?.root, path: path, diagnostics: diagnostics)
        return (settings, diagnostics.errors)
    }

    /// The decoded settings, which must be free of errors.
    public static func valid<Settings: Decodable>(_ type: Settings.Type, yaml: String) throws -> Settings {
        let (settings, errors) = Self.decode(type, yaml: yaml)
        guard errors.isEmpty, let settings else { throw ConfigurationInvalid(errors: errors) }
        return settings
    }
}
