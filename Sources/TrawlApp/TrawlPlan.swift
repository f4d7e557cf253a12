import Logging
import ServiceLifecycle
import TrawlCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A validated configuration turned into what to run: the planned outputs and sources.
///
/// `trawl validate` stops after building it; `trawl run` turns it into a ``ServiceGroup``.
public struct TrawlPlan: Sendable {
    public var globals: GlobalSettings
    public var outputs: [PlannedOutput]
    public var services: [InputType.PlannedService]

    /// Reads, validates and plans the configuration at `path`.
    ///
    /// - Throws: ``ConfigurationInvalid`` listing every error found.
    public static func make(
        configurationPath path: String,
        environment: [String: String],
        inputs: [InputType] = InputCatalogue.all,
        outputs: [OutputType] = OutputCatalogue.all
    ) throws(ConfigurationInvalid) -> TrawlPlan {
        let diagnostics = ConfigurationDiagnostics()
        let document = ConfigurationDocument.load(path: path, environment: environment, diagnostics: diagnostics)
        return try self.make(document: document, inputs: inputs, outputs: outputs, diagnostics: diagnostics)
    }

    /// Validates and plans an already parsed configuration.
    public static func make(
        document: ConfigurationDocument?,
        inputs: [InputType] = InputCatalogue.all,
        outputs: [OutputType] = OutputCatalogue.all,
        diagnostics: ConfigurationDiagnostics
    ) throws(ConfigurationInvalid) -> TrawlPlan {
        let catalogue = TrawlConfiguration.Catalogue(
            inputServices: Dictionary(uniqueKeysWithValues: inputs.map { ($0.name, $0.services) }),
            outputTypes: outputs.map(\.name)
        )
        guard let document,
            let configuration = TrawlConfiguration.read(document, catalogue: catalogue, diagnostics: diagnostics)
        else { throw ConfigurationInvalid(errors: diagnostics.errors) }
        let hostname = configuration.globals.hostname ?? machineHostname()
        var planned: [PlannedOutput] = []
        for output in configuration.outputs {
            guard let type = outputs.first(where: { $0.name == output.type }) else { continue }
            if let output = type.make(output, hostname, diagnostics) { planned.append(output) }
        }
        var services: [InputType.PlannedService] = []
        for input in configuration.inputs {
            guard let type = inputs.first(where: { $0.name == input.type }) else { continue }
            let planned = type.plan(input, diagnostics)
            if input.enabled { services += planned }
        }
        // Only a configuration otherwise valid says which outputs exist: an unknown or broken output would
        // make every input look unserved.
        if diagnostics.errors.isEmpty {
            for input in configuration.inputs where input.enabled {
                guard let type = inputs.first(where: { $0.name == input.type }) else { continue }
                Self.checkServed(input, produces: type.produces, outputs: planned, diagnostics)
            }
        }
        let errors = diagnostics.errors
        guard errors.isEmpty else { throw ConfigurationInvalid(errors: errors) }
        return TrawlPlan(globals: configuration.globals, outputs: planned, services: services)
    }
}

extension TrawlPlan {
    /// Records SetupError 18 when no output takes a kind of event the input produces.
    static func checkServed(
        _ input: InputConfiguration,
        produces: EventKinds,
        outputs: [PlannedOutput],
        _ diagnostics: ConfigurationDiagnostics
    ) {
        let taken = outputs.reduce(EventKinds()) { $0.union($1.accepts) }
        if produces.contains(.lookups), !taken.contains(.lookups) {
            diagnostics.record(
                TrawlError(
                    .outputForKindMissing,
                    "input \(input.name) (\(input.type)) produces lookup updates and no output takes them",
                    location: "outputs",
                    fix:
                        "Add a devo_lookups output (Devo's Lookups REST API), or set lookups: syslog on a devo, relay, syslog, file or console output for the legacy my.lookup protocol."
                )
            )
        }
        if produces.contains(.records), !taken.contains(.records) {
            diagnostics.record(
                TrawlError(
                    .outputForKindMissing,
                    "input \(input.name) (\(input.type)) produces records and only devo_lookups outputs are configured",
                    location: "outputs",
                    fix: "Add an output for events, e.g. devo, devo_http or file."
                )
            )
        }
    }
}

/// The machine's host name, as the Devo sender writes it in each line.
public func machineHostname() -> String {
    var buffer = [UInt8](repeating: 0, count: 256)
    guard gethostname(&buffer, buffer.count) == 0 else { return "localhost" }
    let name = String(decoding: buffer.prefix { $0 != 0 }, as: UTF8.self)
    return name.isEmpty ? "localhost" : name
}
