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
    /// What the output takes, known before its sink exists so validation can check every input is served.
    public var accepts: EventKinds
    public var makeSink: @Sendable (Logger) -> any EventSink

    public init(
        name: String,
        accepts: EventKinds = .records,
        makeSink: @escaping @Sendable (Logger) -> any EventSink
    ) {
        self.name = name
        self.accepts = accepts
        self.makeSink = makeSink
    }
}

/// The output types of this build.
public enum OutputCatalogue {
    public static let all: [OutputType] = [console, file, devo, relay, syslog, devoHTTP, devoLookups]

    /// `console`: Devo syslog lines on standard output.
    public static let console = OutputType(name: "console") { output, hostname, diagnostics in
        decodeSettings(ConsoleOutputSettings.self, of: output, diagnostics).map { settings in
            let name = output.name
            let framer = DevoSyslogFramer(
                hostname: hostname,
                multiline: settings.multiline,
                sendsLookups: settings.lookups
            )
            return PlannedOutput(name: name, accepts: framer.accepts) { _ in ConsoleSink(name: name, framer: framer) }
        }
    }

    /// `file`: Devo syslog lines appended to a file, fsynced per write.
    public static let file = OutputType(name: "file") { output, hostname, diagnostics in
        decodeSettings(FileOutputSettings.self, of: output, diagnostics).flatMap { settings in
            let (name, path) = (output.name, settings.path)
            if let problem = FileSink.destinationProblem(path) {
                diagnostics.record(
                    TrawlError(.outputFileUnwritable, problem, location: output.location(ofSetting: "path"))
                )
                return nil
            }
            let framer = DevoSyslogFramer(
                hostname: hostname,
                multiline: settings.multiline,
                sendsLookups: settings.lookups
            )
            return PlannedOutput(name: name, accepts: framer.accepts) { logger in
                FileSink(name: name, path: path, framer: framer, logger: logger)
            }
        }
    }

    /// `devo`: Devo syslog lines over mutual TLS to a Devo relay (collector-us.devo.io:443 by default).
    public static let devo = OutputType(name: "devo") { output, hostname, diagnostics in
        decodeSettings(DevoOutputSettings.self, of: output, diagnostics).flatMap { settings in
            syslogOutput(output, hostname, settings.stream, diagnostics)
        }
    }

    /// `relay`: Devo syslog lines to an in-house relay over TCP, or TLS with `tls: true`.
    public static let relay = OutputType(name: "relay") { output, hostname, diagnostics in
        decodeSettings(RelayOutputSettings.self, of: output, diagnostics).flatMap { settings in
            syslogOutput(output, hostname, settings.stream, diagnostics)
        }
    }

    /// `syslog`: Devo syslog lines to any syslog receiver over TCP, UDP or TLS.
    public static let syslog = OutputType(name: "syslog") { output, hostname, diagnostics in
        decodeSettings(SyslogOutputSettings.self, of: output, diagnostics).flatMap { settings in
            syslogOutput(output, hostname, settings.stream, diagnostics)
        }
    }

    /// `devo_http`: Devo's HTTP stream ingestion, acknowledged per request.
    public static let devoHTTP = OutputType(name: "devo_http") { output, hostname, diagnostics in
        decodeSettings(DevoHTTPOutputSettings.self, of: output, diagnostics).map { settings in
            var configuration = DevoHTTPSink.Configuration(
                url: settings.url,
                domain: settings.domain,
                token: settings.token,
                hostname: hostname,
                location: "\(output.path).settings"
            )
            configuration.gzip = settings.gzip
            configuration.maxRequestBytes = settings.maxRequestBytes
            configuration.proxy = HTTPProxySettings.egress(diagnostics)
            let (name, planned) = (output.name, configuration)
            return PlannedOutput(name: name, accepts: .records) { logger in
                DevoHTTPSink(name: name, configuration: planned, logger: logger)
            }
        }
    }

    /// `devo_lookups`: lookup updates through Devo's Lookups REST API.
    public static let devoLookups = OutputType(name: "devo_lookups") { output, _, diagnostics in
        decodeSettings(DevoLookupsOutputSettings.self, of: output, diagnostics).map { settings in
            var configuration = DevoLookupsAPISink.Configuration(
                url: settings.url,
                domain: settings.domain,
                token: settings.token,
                location: "\(output.path).settings"
            )
            configuration.proxy = HTTPProxySettings.egress(diagnostics)
            let name = output.name
            let planned = configuration
            return PlannedOutput(name: name, accepts: .lookups) { logger in
                DevoLookupsAPISink(name: name, configuration: planned, logger: logger)
            }
        }
    }

    private static func syslogOutput(
        _ output: OutputConfiguration,
        _ hostname: String,
        _ stream: SyslogStreamSettings,
        _ diagnostics: ConfigurationDiagnostics
    ) -> PlannedOutput? {
        let location = "\(output.path).settings"
        let framer = DevoSyslogFramer(hostname: hostname, multiline: stream.multiline, sendsLookups: stream.lookups)
        let name = output.name
        if stream.udp {
            let configuration = SyslogDatagramSink.Configuration(
                host: stream.address,
                port: stream.port,
                maxMessageBytes: stream.maxMessageBytes,
                location: location
            )
            return PlannedOutput(name: name, accepts: framer.accepts) { logger in
                SyslogDatagramSink(name: name, configuration: configuration, framer: framer, logger: logger)
            }
        }
        let context: NIOSSLContext?
        switch stream.tls?.context(location: location, settingLocation: { output.location(ofSetting: $0) }) {
        case .success(let built): context = built
        case .failure(let unusable):
            for problem in unusable.errors { diagnostics.record(problem) }
            return nil
        case nil: context = nil
        }
        if let expiry = stream.tls?.clientCertificateExpiry(), expiry.validUntil.hasPassed() {
            diagnostics.record(
                TrawlError(
                    .tlsFilesUnusable,
                    "the \(expiry.what) \(expiry.validUntil.description()): the receiver refuses it",
                    location: output.location(ofSetting: "cert_filename")
                )
            )
            return nil
        }
        var configuration = SyslogStreamSink.Configuration(
            host: stream.address,
            port: stream.port,
            tls: stream.tls,
            location: location
        )
        configuration.gzip = stream.gzip
        configuration.senders = stream.senders
        let settings = configuration
        return PlannedOutput(name: name, accepts: framer.accepts) { logger in
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
    var lookups: Bool

    enum CodingKeys: String, CodingKey, CaseIterable {
        case multiline
        case lookups
    }

    init(from decoder: any Decoder) throws {
        let settings = SettingsReader(decoder, keys: CodingKeys.self)
        self.multiline = readMultiline(settings, .multiline)
        self.lookups = readLookups(settings, .lookups)
    }
}

/// `outputs.<name>.settings` of a `file` output.
struct FileOutputSettings: Decodable {
    var path: String
    var multiline: DevoSyslogFramer.MultilinePolicy
    var lookups: Bool

    enum CodingKeys: String, CodingKey, CaseIterable {
        case path
        case multiline
        case lookups
    }

    init(from decoder: any Decoder) throws {
        let settings = SettingsReader(decoder, keys: CodingKeys.self)
        self.path = settings.string(.path, required: true) ?? ""
        self.multiline = readMultiline(settings, .multiline)
        self.lookups = readLookups(settings, .lookups)
    }
}

private func readMultiline<Key>(
    _ settings: SettingsReader<Key>,
    _ key: Key,
    default fallback: DevoSyslogFramer.MultilinePolicy = .escape,
    allowed: [DevoSyslogFramer.MultilinePolicy] = DevoSyslogFramer.MultilinePolicy.allCases
) -> DevoSyslogFramer.MultilinePolicy {
    let word = settings.string(key, default: fallback.rawValue, allowed: allowed.map(\.rawValue)) ?? fallback.rawValue
    return DevoSyslogFramer.MultilinePolicy(rawValue: word) ?? fallback
}

/// `lookups: none | syslog`: whether lookup updates go out as the legacy `my.lookup.*` syslog lines.
private func readLookups<Key>(_ settings: SettingsReader<Key>, _ key: Key) -> Bool {
    settings.string(key, default: "none", allowed: ["none", "syslog"]) == "syslog"
}

/// `compression: none | gzip`
private func readCompression<Key>(
    _ settings: SettingsReader<Key>,
    _ key: Key,
    default fallback: String = "none"
)
    -> Bool
{
    settings.string(key, default: fallback, allowed: ["none", "gzip"]) == "gzip"
}

/// What the `devo`, `relay` and `syslog` outputs share.
struct SyslogStreamSettings {
    var address: String
    var port: Int
    var tls: SyslogTLSFiles?
    var multiline: DevoSyslogFramer.MultilinePolicy
    var gzip = false
    var lookups: Bool
    var udp = false
    var maxMessageBytes = 8_192
    /// Connections sent over at once (`senders`).
    var senders = 1
}

/// The keys every syslog network output reads; each output's `CodingKeys` adds its own.
protocol SyslogOutputKey: CodingKey, CaseIterable {
    static var address: Self { get }
    static var port: Self { get }
    static var chainFilename: Self { get }
    static var certFilename: Self { get }
    static var keyFilename: Self { get }
    static var verifyHostname: Self { get }
    static var multiline: Self { get }
    static var lookups: Self { get }
    static var senders: Self { get }
}

/// The shared keys of a syslog network output; `filesRequired` for Devo's mutual TLS.
private func readSyslogOutput<Key: SyslogOutputKey>(
    _ settings: SettingsReader<Key>,
    defaultAddress: String?,
    defaultPort: Int?,
    tls: Bool,
    filesRequired: Bool = false,
    multiline: [DevoSyslogFramer.MultilinePolicy] = DevoSyslogFramer.MultilinePolicy.allCases
) -> SyslogStreamSettings {
    let files = SyslogTLSFiles(
        certificate: settings.string(.certFilename, required: filesRequired),
        key: settings.string(.keyFilename, required: filesRequired),
        chainCA: settings.string(.chainFilename, required: filesRequired),
        verifiesHostname: settings.value(.verifyHostname, as: Bool.self) ?? true
    )
    return SyslogStreamSettings(
        address: settings.string(.address, required: defaultAddress == nil, default: defaultAddress) ?? "",
        port: settings.int(.port, required: defaultPort == nil, default: defaultPort, range: 1...65_535) ?? 1,
        tls: tls ? files : nil,
        multiline: readMultiline(settings, .multiline, default: multiline.first!, allowed: multiline),
        lookups: readLookups(settings, .lookups),
        senders: settings.int(.senders, default: 1, range: 1...16) ?? 1
    )
}

/// `outputs.<name>.settings` of a `devo` output: the Devo relay and the domain's X.509 files.
struct DevoOutputSettings: Decodable {
    var stream: SyslogStreamSettings

    enum CodingKeys: String, SyslogOutputKey {
        case address
        case port
        case chainFilename = "chain_filename"
        case certFilename = "cert_filename"
        case keyFilename = "key_filename"
        case verifyHostname = "verify_hostname"
        case multiline
        case compression
        case lookups
        case senders
    }

    init(from decoder: any Decoder) throws {
        let settings = SettingsReader(decoder, keys: CodingKeys.self)
        self.stream = readSyslogOutput(
            settings,
            defaultAddress: "collector-us.devo.io",
            defaultPort: 443,
            tls: true,
            filesRequired: true,
            multiline: [.octetCounting, .escape]
        )
        self.stream.gzip = readCompression(settings, .compression)
    }
}

/// `outputs.<name>.settings` of a `relay` output: an in-house relay, plain TCP unless `tls: true`.
struct RelayOutputSettings: Decodable {
    var stream: SyslogStreamSettings

    enum CodingKeys: String, SyslogOutputKey {
        case address
        case port
        case tls
        case chainFilename = "chain_filename"
        case certFilename = "cert_filename"
        case keyFilename = "key_filename"
        case verifyHostname = "verify_hostname"
        case multiline
        case compression
        case lookups
        case senders
    }

    init(from decoder: any Decoder) throws {
        let settings = SettingsReader(decoder, keys: CodingKeys.self)
        self.stream = readSyslogOutput(
            settings,
            defaultAddress: nil,
            defaultPort: nil,
            tls: settings.value(.tls, as: Bool.self) ?? false,
            multiline: [.octetCounting, .escape]
        )
        self.stream.gzip = readCompression(settings, .compression)
    }
}

/// `outputs.<name>.settings` of a `syslog` output: any syslog receiver over `protocol: tcp | udp | tls`.
struct SyslogOutputSettings: Decodable {
    var stream: SyslogStreamSettings

    enum CodingKeys: String, SyslogOutputKey {
        case address
        case port
        case `protocol`
        case chainFilename = "chain_filename"
        case certFilename = "cert_filename"
        case keyFilename = "key_filename"
        case verifyHostname = "verify_hostname"
        case multiline
        case maxMessageBytes = "max_message_bytes"
        case lookups
        case senders
    }

    init(from decoder: any Decoder) throws {
        let settings = SettingsReader(decoder, keys: CodingKeys.self)
        let transport = settings.string(.protocol, default: "tcp", allowed: ["tcp", "udp", "tls"]) ?? "tcp"
        self.stream = readSyslogOutput(
            settings,
            defaultAddress: nil,
            defaultPort: transport == "tls" ? 6_514 : 514,
            tls: transport == "tls",
            // A datagram is one message: its newlines are escaped, never octet-counted.
            multiline: transport == "udp" ? [.escape] : [.octetCounting, .escape]
        )
        self.stream.udp = transport == "udp"
        if self.stream.udp, self.stream.senders > 1 {
            settings.record(
                .settingOutOfRange,
                "senders is \(self.stream.senders), but UDP has no connections to send over at once",
                at: CodingKeys.senders,
                fix: "Remove senders, or use protocol: tcp or tls."
            )
        }
        self.stream.maxMessageBytes = settings.int(.maxMessageBytes, default: 8_192, range: 480...65_507) ?? 8_192
    }
}

/// `outputs.<name>.settings` of a `devo_http` output.
struct DevoHTTPOutputSettings: Decodable {
    var url: String
    var domain: String
    var token: String
    var gzip: Bool
    var maxRequestBytes: Int

    enum CodingKeys: String, CodingKey, CaseIterable {
        case url
        case domain
        case token
        case compression
        case maxRequestBytes = "max_request_bytes"
    }

    init(from decoder: any Decoder) throws {
        let settings = SettingsReader(decoder, keys: CodingKeys.self)
        self.url = readHTTPURL(settings, .url, default: "https://http-us.devo.io")
        self.domain = settings.string(.domain, required: true) ?? ""
        self.token = settings.string(.token, required: true) ?? ""
        self.gzip = readCompression(settings, .compression, default: "gzip")
        self.maxRequestBytes = settings.int(.maxRequestBytes, default: 8 << 20, range: 1_024...32_000_000) ?? (8 << 20)
    }
}

/// `outputs.<name>.settings` of a `devo_lookups` output.
struct DevoLookupsOutputSettings: Decodable {
    var url: String
    var domain: String
    var token: String

    enum CodingKeys: String, CodingKey, CaseIterable {
        case url
        case domain
        case token
    }

    init(from decoder: any Decoder) throws {
        let settings = SettingsReader(decoder, keys: CodingKeys.self)
        self.url = readHTTPURL(settings, .url, default: "https://api-us.devo.com/lookup-api")
        self.domain = settings.string(.domain, required: true) ?? ""
        self.token = settings.string(.token, required: true) ?? ""
    }
}

/// An `http://` or `https://` base URL with a host.
private func readHTTPURL<Key>(_ settings: SettingsReader<Key>, _ key: Key, default fallback: String) -> String {
    settings.string(key, default: fallback, format: "http[s]://host[:port][/path]") { text in
        for scheme in ["https://", "http://"] where text.hasPrefix(scheme) {
            let host = text.dropFirst(scheme.count).prefix { $0 != "/" && $0 != ":" }
            return !host.isEmpty && !text.contains(" ")
        }
        return false
    } ?? fallback
}
