import Logging
import NIOSSL
import TrawlCore
import TrawlSinks

/// One output type this build can deliver to.
public struct OutputType: Sendable {
    public var name: String
    /// Decodes and validates an output of this type, checking now what it can (TLS files), and returns how
    /// to build its sink once the runtime's logger exists (the sink does no I/O until used).
    public var make: @Sendable (OutputConfiguration, _ hostname: String, ConfigurationDiagnostics) -> PlannedOutput?
}

/// A validated output, built into its sink when the runtime starts.
public struct PlannedOutput: Sendable {
    public var name: String
    public var makeSink: @Sendable (Logger) -> any EventSink

    public init(name: String, makeSink: @escaping @Sendable (Logger) -> any EventSink) {
        self.name = name
        self.makeSink = makeSink
    }
}

/// The output types of this build.
public enum OutputCatalogue {
    public static let all: [OutputType] = [console, file, devo, relay]

    /// `console`: Devo syslog lines on standard output.
    public static let console = OutputType(name: "console") { output, hostname, diagnostics in
        decodeSettings(ConsoleOutputSettings.self, of: output, diagnostics).map { settings in
            let name = output.name
            let framer = DevoSyslogFramer(hostname: hostname, multiline: settings.multiline)
            return PlannedOutput(name: name) { _ in ConsoleSink(name: name, framer: framer) }
        }
    }

    /// `file`: Devo syslog lines appended to a file, fsynced per write.
    public static let file = OutputType(name: "file") { output, hostname, diagnostics in
        decodeSettings(FileOutputSettings.self, of: output, diagnostics).map { settings in
            let (name, path) = (output.name, settings.path)
            let framer = DevoSyslogFramer(hostname: hostname, multiline: settings.multiline)
            return PlannedOutput(name: name) { _ in FileSink(name: name, path: path, framer: framer) }
        }
    }

    /// `devo`: Devo syslog lines over mutual TLS to a Devo relay (collector-us.devo.io:443 by default).
    public static let devo = OutputType(name: "devo") { output, hostname, diagnostics in
        decodeSettings(DevoOutputSettings.self, of: output, diagnostics).flatMap { settings in
            syslogStream(output, hostname, settings.stream, diagnostics)
        }
    }

    /// `relay`: Devo syslog lines to an in-house relay over TCP, or TLS with `tls: true`.
    public static let relay = OutputType(name: "relay") { output, hostname, diagnostics in
        decodeSettings(RelayOutputSettings.self, of: output, diagnostics).flatMap { settings in
            syslogStream(output, hostname, settings.stream, diagnostics)
        }
    }

    private static func syslogStream(
        _ output: OutputConfiguration,
        _ hostname: String,
        _ stream: SyslogStreamSettings,
        _ diagnostics: ConfigurationDiagnostics
    ) -> PlannedOutput? {
        let location = "\(output.path).settings"
        let context: NIOSSLContext?
        do {
            context = try stream.tls?.makeContext(location: location)
        } catch {
            diagnostics.record(error)
            return nil
        }
        var configuration = SyslogStreamSink.Configuration(
            host: stream.address,
            port: stream.port,
            tls: stream.tls,
            location: location
        )
        configuration.gzip = stream.gzip
        let settings = configuration
        let framer = DevoSyslogFramer(hostname: hostname, multiline: stream.multiline)
        let name = output.name
        return PlannedOutput(name: name) { logger in
            SyslogStreamSink(
                name: name,
                configuration: settings,
                context: context,
                framer: framer,
                logger: logger
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

private func readMultiline<Key>(
    _ settings: SettingsReader<Key>,
    _ key: Key,
    default fallback: DevoSyslogFramer.MultilinePolicy = .escape
) -> DevoSyslogFramer.MultilinePolicy {
    let allowed = DevoSyslogFramer.MultilinePolicy.allCases.map(\.rawValue)
    let word = settings.string(key, default: fallback.rawValue, allowed: allowed) ?? fallback.rawValue
    return DevoSyslogFramer.MultilinePolicy(rawValue: word) ?? fallback
}

/// What the `devo` and `relay` outputs share.
struct SyslogStreamSettings {
    var address: String
    var port: Int
    var tls: SyslogTLSFiles?
    var multiline: DevoSyslogFramer.MultilinePolicy
    var gzip: Bool
}

/// `compression: none | gzip`
private func readCompression<Key>(_ settings: SettingsReader<Key>, _ key: Key) -> Bool {
    settings.string(key, default: "none", allowed: ["none", "gzip"]) == "gzip"
}

/// `outputs.<name>.settings` of a `devo` output: the Devo relay and the domain's X.509 files.
struct DevoOutputSettings: Decodable {
    var stream: SyslogStreamSettings

    enum CodingKeys: String, CodingKey, CaseIterable {
        case address
        case port
        case chainFilename = "chain_filename"
        case certFilename = "cert_filename"
        case keyFilename = "key_filename"
        case verifyHostname = "verify_hostname"
        case multiline
        case compression
    }

    init(from decoder: any Decoder) throws {
        let settings = SettingsReader(decoder, keys: CodingKeys.self)
        let tls = SyslogTLSFiles(
            certificate: settings.string(.certFilename, required: true),
            key: settings.string(.keyFilename, required: true),
            chainCA: settings.string(.chainFilename, required: true),
            verifiesHostname: settings.value(.verifyHostname, as: Bool.self) ?? true
        )
        self.stream = SyslogStreamSettings(
            address: settings.string(.address, default: "collector-us.devo.io") ?? "collector-us.devo.io",
            port: settings.int(.port, default: 443, range: 1...65_535) ?? 443,
            tls: tls,
            multiline: readMultiline(settings, .multiline, default: .octetCounting),
            gzip: readCompression(settings, .compression)
        )
    }
}

/// `outputs.<name>.settings` of a `relay` output: an in-house relay, plain TCP unless `tls: true`.
struct RelayOutputSettings: Decodable {
    var stream: SyslogStreamSettings

    enum CodingKeys: String, CodingKey, CaseIterable {
        case address
        case port
        case tls
        case chainFilename = "chain_filename"
        case certFilename = "cert_filename"
        case keyFilename = "key_filename"
        case verifyHostname = "verify_hostname"
        case multiline
        case compression
    }

    init(from decoder: any Decoder) throws {
        let settings = SettingsReader(decoder, keys: CodingKeys.self)
        let usesTLS = settings.value(.tls, as: Bool.self) ?? false
        let tls = SyslogTLSFiles(
            certificate: settings.string(.certFilename),
            key: settings.string(.keyFilename),
            chainCA: settings.string(.chainFilename),
            verifiesHostname: settings.value(.verifyHostname, as: Bool.self) ?? true
        )
        self.stream = SyslogStreamSettings(
            address: settings.string(.address, required: true) ?? "",
            port: settings.int(.port, required: true, range: 1...65_535) ?? 1,
            tls: usesTLS ? tls : nil,
            multiline: readMultiline(settings, .multiline, default: .octetCounting),
            gzip: readCompression(settings, .compression)
        )
    }
}
