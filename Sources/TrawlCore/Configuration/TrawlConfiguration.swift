import Yams

/// The whole configuration file: `globals`, `inputs.<name>` and `outputs.<name>`.
///
/// The core reads the layout and the settings every collector shares; each input and output type decodes
/// its own `credentials`, `settings` and service settings from the nodes kept here, into the same
/// ``ConfigurationDiagnostics``.
public struct TrawlConfiguration {
    public var globals: GlobalSettings
    public var inputs: [InputConfiguration]
    public var outputs: [OutputConfiguration]

    /// The input types and their services, and the output types, that this build knows.
    public struct Catalogue: Sendable {
        public var inputServices: [String: [String]]
        public var outputTypes: [String]

        public init(inputServices: [String: [String]], outputTypes: [String]) {
            self.inputServices = inputServices
            self.outputTypes = outputTypes
        }
    }

    /// Reads the layout; nil when the layout is too broken to go on (errors are in `diagnostics`).
    public static func read(
        _ document: ConfigurationDocument,
        catalogue: Catalogue,
        diagnostics: ConfigurationDiagnostics
    ) -> TrawlConfiguration? {
        let root = SettingsDecoding.decode(RootLayout.self, from: document.root, path: "", diagnostics: diagnostics)
        guard let root, let globals = root.globals else { return nil }
        var inputs: [InputConfiguration] = []
        var outputs: [OutputConfiguration] = []
        let rootMapping = document.root.mapping

        var declaredEnabledInputs = 0
        if let inputsNode = rootMapping?["inputs"] {
            (inputs, declaredEnabledInputs) = Self.readInputs(
                inputsNode,
                catalogue: catalogue,
                diagnostics: diagnostics
            )
        }
        if declaredEnabledInputs == 0 {
            diagnostics.record(
                TrawlError(.noEnabledInput, "no enabled input is configured", location: "inputs")
            )
        }
        if let outputsNode = rootMapping?["outputs"] {
            outputs = Self.readOutputs(outputsNode, catalogue: catalogue, diagnostics: diagnostics)
        }
        if rootMapping?["outputs"]?.mapping?.isEmpty ?? true {
            diagnostics.record(TrawlError(.noOutput, "no output is configured", location: "outputs"))
        }
        var seen: [String: String] = [:]
        for input in inputs {
            if let other = seen[input.id] {
                diagnostics.record(
                    TrawlError(
                        .inputIDDuplicated,
                        "inputs \(other) and \(input.name) both have id \(input.id)",
                        location: "inputs.\(input.name).id\(lineSuffix(rootMapping?["inputs"]?[input.name]?["id"]))"
                    )
                )
            }
            seen[input.id] = input.name
        }
        return TrawlConfiguration(globals: globals, inputs: inputs, outputs: outputs)
    }

    /// The inputs whose type is known, and how many entries are enabled whatever their type (so an unknown
    /// type is reported once, not also as "no enabled input").
    private static func readInputs(
        _ node: Node,
        catalogue: Catalogue,
        diagnostics: ConfigurationDiagnostics
    ) -> (inputs: [InputConfiguration], declaredEnabled: Int) {
        guard let mapping = node.mapping else {
            diagnostics.record(
                TrawlError(.settingWrongType, "inputs not of expected type: dict", location: "inputs")
            )
            return ([], 0)
        }
        var inputs: [InputConfiguration] = []
        var declaredEnabled = 0
        for (key, value) in mapping {
            let name = key.string ?? "?"
            let path = "inputs.\(name)"
            guard
                let layout = SettingsDecoding.decode(
                    InputLayout.self,
                    from: value,
                    path: path,
                    diagnostics: diagnostics
                )
            else { continue }
            if layout.enabled { declaredEnabled += 1 }
            let type = layout.type ?? name
            guard let knownServices = catalogue.inputServices[type] else {
                diagnostics.record(
                    TrawlError(
                        .inputTypeUnknown,
                        "unknown input type \"\(type)\"",
                        location: "\(path).type\(lineSuffix(value["type"] ?? key))",
                        fix: oneOf(catalogue.inputServices.keys.sorted(), closestTo: type)
                    )
                )
                continue
            }
            var services: [ServiceConfiguration] = []
            if let servicesNode = value.mapping?["services"], let serviceMapping = servicesNode.mapping {
                for (serviceKey, serviceValue) in serviceMapping {
                    let serviceName = serviceKey.string ?? "?"
                    let servicePath = "\(path).services.\(serviceName)"
                    guard knownServices.contains(serviceName) else {
                        diagnostics.record(
                            TrawlError(
                                .serviceUnknown,
                                "input type \(type) has no service \"\(serviceName)\"",
                                location: servicePath + lineSuffix(serviceKey),
                                fix: oneOf(knownServices, closestTo: serviceName)
                            )
                        )
                        continue
                    }
                    services.append(ServiceConfiguration(name: serviceName, path: servicePath, node: serviceValue))
                }
            } else if value.mapping?["services"] != nil {
                diagnostics.record(
                    TrawlError(.settingWrongType, "services not of expected type: dict", location: "\(path).services")
                )
            }
            if services.isEmpty, layout.enabled, value.mapping?["services"] == nil {
                diagnostics.record(
                    TrawlError(
                        .settingMissing,
                        "required setting services not found",
                        location: "\(path).services",
                        fix: "Add services with at least one of: \(knownServices.joined(separator: ", "))."
                    )
                )
            }
            inputs.append(
                InputConfiguration(
                    name: name,
                    type: type,
                    id: layout.id,
                    enabled: layout.enabled,
                    credentials: value.mapping?["credentials"],
                    settings: value.mapping?["settings"],
                    services: services
                )
            )
        }
        return (inputs, declaredEnabled)
    }

    private static func readOutputs(
        _ node: Node,
        catalogue: Catalogue,
        diagnostics: ConfigurationDiagnostics
    ) -> [OutputConfiguration] {
        guard let mapping = node.mapping else {
            diagnostics.record(
                TrawlError(.settingWrongType, "outputs not of expected type: dict", location: "outputs")
            )
            return []
        }
        var outputs: [OutputConfiguration] = []
        for (key, value) in mapping {
            let name = key.string ?? "?"
            let path = "outputs.\(name)"
            guard
                let layout = SettingsDecoding.decode(
                    OutputLayout.self,
                    from: value,
                    path: path,
                    diagnostics: diagnostics
                ),
                let type = layout.type
            else { continue }
            guard catalogue.outputTypes.contains(type) else {
                diagnostics.record(
                    TrawlError(
                        .outputTypeUnknown,
                        "unknown output type \"\(type)\"",
                        location: "\(path).type\(lineSuffix(value["type"]))",
                        fix: oneOf(catalogue.outputTypes, closestTo: type)
                    )
                )
                continue
            }
            outputs.append(
                OutputConfiguration(name: name, type: type, settings: value.mapping?["settings"], path: path)
            )
        }
        return outputs
    }
}

/// One `inputs.<name>` entry; its type-specific parts stay as nodes for the input type to decode.
public struct InputConfiguration {
    public var name: String
    public var type: String
    public var id: String
    public var enabled: Bool
    public var credentials: Node?
    public var settings: Node?
    public var services: [ServiceConfiguration]

    public var path: String { "inputs.\(self.name)" }
}

/// One `inputs.<name>.services.<service>` entry.
public struct ServiceConfiguration {
    public var name: String
    public var path: String
    public var node: Node
}

/// One `outputs.<name>` entry.
public struct OutputConfiguration {
    public var name: String
    public var type: String
    public var settings: Node?
    public var path: String

    /// Where a setting of this output is, with its line when it is written (`outputs.f.settings.path (line
    /// 9)`), for errors found after the settings were decoded (a file that cannot be used).
    public func location(ofSetting key: String) -> String {
        "\(self.path).settings.\(key)\(lineSuffix(self.settings?.mapping?[key]))"
    }
}

/// Settings every service has, whatever its input type; a service's own settings struct embeds it by
/// declaring these keys too and reading them with ``init(reading:)``.
public struct CommonServiceSettings: Sendable {
    public var requestPeriodInSeconds: Int
    public var resetPersistenceAuth: String

    public static let keys = ["request_period_in_seconds", "reset_persistence_auth"]
}

/// A service's settings that carry the common ones.
public protocol HasCommonSettings {
    var common: CommonServiceSettings { get }
}

extension SettingsReader {
    /// Reads `request_period_in_seconds` and `reset_persistence_auth` from a service section whose keys
    /// include them.
    public func commonServiceSettings(
        requestPeriod: Key,
        resetPersistenceAuth: Key,
        defaultPeriod: Int
    ) -> CommonServiceSettings {
        CommonServiceSettings(
            requestPeriodInSeconds: self.int(requestPeriod, default: defaultPeriod, range: 1...86_400) ?? defaultPeriod,
            resetPersistenceAuth: self.string(resetPersistenceAuth, default: "") ?? ""
        )
    }
}

/// The top level: which sections exist.
struct RootLayout: Decodable {
    var globals: GlobalSettings?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case globals
        case inputs
        case outputs
    }

    init(from decoder: any Decoder) throws {
        let settings = SettingsReader(decoder, keys: CodingKeys.self)
        self.globals = settings.value(.globals, as: GlobalSettings.self, required: true)
        _ = settings.value(.inputs, as: IgnoredValue.self, required: true)
        _ = settings.value(.outputs, as: IgnoredValue.self, required: true)
    }
}

/// The keys of an input entry the core itself reads.
struct InputLayout: Decodable {
    var type: String?
    var id: String
    var enabled: Bool

    enum CodingKeys: String, CodingKey, CaseIterable {
        case type
        case id
        case enabled
        case credentials
        case settings
        case services
    }

    init(from decoder: any Decoder) throws {
        let settings = SettingsReader(decoder, keys: CodingKeys.self)
        self.type = settings.string(.type)
        self.id =
            settings.string(.id, required: true, format: "1 to 32 letters, digits, '-' or '_'", isValid: isIdentifier)
            ?? "invalid"
        self.enabled = settings.bool(.enabled, default: true)
    }
}

/// The keys of an output entry the core itself reads.
struct OutputLayout: Decodable {
    var type: String?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case type
        case settings
    }

    init(from decoder: any Decoder) throws {
        let settings = SettingsReader(decoder, keys: CodingKeys.self)
        self.type = settings.string(.type, required: true)
    }
}

/// Accepts any value: for sections whose presence is checked here and content elsewhere.
struct IgnoredValue: Decodable {
    init(from decoder: any Decoder) throws {}
}

/// ` (line N)` for a node that has a position, else nothing.
func lineSuffix(_ node: Node?) -> String {
    node?.mark.map { " (line \($0.line))" } ?? ""
}

/// The fix for a name that is none of `known`: the one meant when it is close enough to tell, then the list.
func oneOf(_ known: [String], closestTo written: String) -> String {
    let list = "Use one of: \(known.joined(separator: ", "))."
    guard let meant = closest(to: written, among: known) else { return list }
    return "Did you mean \(meant)? \(list)"
}
