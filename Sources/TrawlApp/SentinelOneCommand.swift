import ArgumentParser
import Foundation
import Logging
import TrawlCore
import TrawlSources

/// `trawl sentinelone ...`: checking a console's connection and taking response actions, with the
/// credentials of a configured `sentinelone` input.
struct SentinelOneCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sentinelone",
        abstract: "Check a SentinelOne console's connection, or take response actions on it.",
        subcommands: [SentinelOneTestConnectionCommand.self, SentinelOneRespondCommand.self]
    )
}

/// The options naming a configured `sentinelone` input.
struct SentinelOneInputOptions: ParsableArguments {
    @Option(name: [.short, .long], help: "The configuration file (YAML or JSON).")
    var config: String

    @Option(help: "The sentinelone input whose console and token to use.")
    var input: String

    /// The input's console, or exit status 2 after saying what is wrong.
    func console() throws -> SentinelOneConsole {
        try self.configured().console
    }

    /// The input's console and the content types its services read (`vulnerabilities` from where its
    /// `vulnerabilities_source` says), or exit status 2 after saying what is wrong.
    func configured() throws -> (console: SentinelOneConsole, contents: [SentinelOneContentType]) {
        let diagnostics = ConfigurationDiagnostics()
        let document = ConfigurationDocument.load(
            path: self.config,
            environment: ProcessInfo.processInfo.environment,
            diagnostics: diagnostics
        )
        let catalogue = TrawlConfiguration.Catalogue(
            inputServices: Dictionary(uniqueKeysWithValues: InputCatalogue.all.map { ($0.name, $0.services) }),
            outputTypes: OutputCatalogue.all.map(\.name)
        )
        let configuration = document.flatMap {
            TrawlConfiguration.read($0, catalogue: catalogue, diagnostics: diagnostics)
        }
        guard let input = configuration?.inputs.first(where: { $0.name == self.input && $0.type == "sentinelone" })
        else {
            let names = configuration?.inputs.filter { $0.type == "sentinelone" }.map(\.name) ?? []
            printToStandardError(
                "No sentinelone input named \"\(self.input)\" in \(self.config) (sentinelone inputs: \(names.isEmpty ? "none" : names.joined(separator: ", "))).\n"
                    + diagnostics.errors.map { "  \($0)\n" }.joined()
            )
            throw ExitCode(2)
        }
        let credentials = SettingsDecoding.decode(
            SentinelOneCredentials.self,
            from: input.credentials,
            path: "\(input.path).credentials",
            diagnostics: diagnostics
        )
        let vulnerabilities = input.services.first { $0.name == "vulnerabilities" }.flatMap {
            SettingsDecoding.decode(
                SentinelOneServiceSettings.self,
                from: $0.node,
                path: $0.path,
                diagnostics: diagnostics
            )
        }
        let proxy = HTTPProxySettings.egress(diagnostics)
        guard let credentials, diagnostics.errors.isEmpty else {
            printToStandardError(
                "Input \(self.input) is not usable:\n" + diagnostics.errors.map { "  \($0)\n" }.joined()
            )
            throw ExitCode(2)
        }
        let console = SentinelOneConsole(
            configuration: .init(
                url: credentials.consoleURL,
                token: credentials.apiToken,
                proxy: proxy,
                retriesConnecting: false
            ),
            gate: SentinelOneRequestGate(configuration: .init(maxAttempts: 3))
        )
        return (
            console,
            SentinelOneContentType.listed + [vulnerabilities?.vulnerabilitiesContent ?? .installedApplications]
        )
    }
}

/// `trawl sentinelone test-connection`: the console's answer per content type.
struct SentinelOneTestConnectionCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "test-connection",
        abstract: "Check the console URL and token, and which content types the token's role can read.",
        discussion: helpParagraphs(
            """
            Exits 0 when every content type is readable, 1 otherwise (each failure says what to check).

            Example:
              trawl sentinelone test-connection --config config.yaml --input s1
            """
        )
    )

    @OptionGroup var options: SentinelOneInputOptions

    func run() async throws {
        let (console, contents) = try self.options.configured()
        LoggingSystem.bootstrap { label in TrawlLogHandler(label: label, level: .warning) }
        let logger = Logger(label: "trawl")
        let results = await SentinelOneConnectionCheck.run(console: console, contents: contents, logger: logger)
        let unanswered = results.lazy.compactMap(\.error).first {
            SentinelOneConnectionCheck.consoleWide.contains($0.code)
        }
        let expiry = unanswered == nil ? try? await SentinelOneTokenExpiry.fetch(console, logger: logger) : nil
        try? await console.shutdown()
        print("SentinelOne console \(console.configuration.url):")
        for result in results { print("  \(result.line)") }
        if let expiry {
            print("  API token: \(expiry.isNear() ? "WARNING: " : "")\(expiry.description())")
        } else if let unanswered {
            let why = unanswered.code == .sentinelOneUnauthorized ? "the console refused it" : "no answer"
            print("  API token: expiry not checked (\(why))")
        } else {
            print("  API token: the console did not say when it expires")
        }
        if let behind = console.secondsBehindThisHost {
            print(
                behind > 5
                    ? "  Console clock: WARNING: \(behind) s behind this host's (the Date of its answers); deep_visibility, risks and the threat children services read up to query_lag_in_seconds before the console's time as its answers show it, and may miss records when it drifts further between them: sync both clocks (NTP)"
                    : "  Console clock: not behind this host's (within 5 s)"
            )
        }
        guard results.allSatisfy(\.readable) else { throw ExitCode(1) }
    }
}

/// `trawl sentinelone respond <action> --ids ...`.
struct SentinelOneRespondCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "respond",
        abstract: "Take a response action on endpoints (agent ids) or threats (threat ids).",
        discussion: helpParagraphs(
            """
            Actions on agents: disconnect, reconnect, initiate-scan. Actions on threats: kill, quarantine,
            un-quarantine, remediate (Windows and macOS only: threats on other endpoints are quarantined
            instead), rollback-remediation. The token's role must be Admin. Every call, and a dry run's, is
            appended to the audit log (time, requester, action, ids, result).

            Examples:
              trawl sentinelone respond disconnect -c config.yaml --input s1 \\
                  --ids 1234,5678
              trawl sentinelone respond remediate -c config.yaml --input s1 \\
                  --ids 9012 --dry-run
            """
        )
    )

    @Argument(help: "The action: \(SentinelOneResponseAction.allCases.map(\.rawValue).joined(separator: ", ")).")
    var action: String

    @Option(help: "Comma-separated agent or threat ids.")
    var ids: String

    @Flag(help: "Show the calls that would be made, without making them.")
    var dryRun = false

    @Option(help: "The audit log (JSON lines), appended to.")
    var auditLog = "trawl-sentinelone-audit.log"

    @Option(help: "Who asks, for the audit log (default: $USER).")
    var requester: String?

    @OptionGroup var options: SentinelOneInputOptions

    func run() async throws {
        guard let action = SentinelOneResponseAction(rawValue: self.action) else {
            printToStandardError(
                "Unknown action \"\(self.action)\"; actions: \(SentinelOneResponseAction.allCases.map(\.rawValue).joined(separator: ", ")).\n"
            )
            throw ExitCode(2)
        }
        let ids = self.ids.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        guard !ids.isEmpty else {
            printToStandardError("--ids names no id.\n")
            throw ExitCode(2)
        }
        let console = try self.options.console()
        LoggingSystem.bootstrap { label in TrawlLogHandler(label: label, level: .info) }
        let logger = Logger(label: "trawl")
        let responder = SentinelOneResponder(
            console: console,
            auditLogPath: self.auditLog,
            requester: self.requester ?? ProcessInfo.processInfo.environment["USER"] ?? "unknown"
        )
        do {
            let outcomes = try await responder.respond(action, ids: ids, dryRun: self.dryRun, logger: logger)
            try? await console.shutdown()
            for outcome in outcomes {
                if let affected = outcome.affected {
                    print("\(outcome.call.line): affected \(affected)")
                } else {
                    print("dry run, not sent: \(outcome.call.line)")
                }
            }
        } catch let error as TrawlError {
            try? await console.shutdown()
            logger.error("\(error)", metadata: ["error.id": "\(error.code.id)"])
            throw ExitCode(1)
        }
    }
}
