import ArgumentParser
import CTrawlSystem
import Foundation
import Logging
import Metrics
import Prometheus
import ServiceLifecycle
import TrawlCore
import TrawlSources

/// The `trawl` command line.
public struct TrawlCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "trawl",
        abstract: "Collects security data from cloud sources and delivers it to Devo.",
        discussion: helpParagraphs(
            """
            Examples:
              trawl validate --config examples/quickstart.yaml
              trawl run --config examples/quickstart.yaml --once
              trawl run --config /etc/trawl/config.yaml
              trawl replay --config config.yaml --service cloudtrail exported/*.json.gz
              trawl backfill -c config.yaml --service cloudtrail s3://org-trail/AWSLogs/
              trawl aws test-connection -c config.yaml --service cloudtrail \\
                  s3://org-trail/AWSLogs/
              trawl sentinelone test-connection --config config.yaml --input s1
            """
        ),
        version: TrawlVersion.current,
        subcommands: [
            RunCommand.self, ValidateCommand.self, ReplayCommand.self, BackfillCommand.self, AWSCommand.self,
            SentinelOneCommand.self, VersionCommand.self,
        ]
    )

    public init() {}
}

/// `trawl run`: collect until stopped (SIGTERM/SIGINT drain in-flight work, save state and exit 0).
struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run the configured inputs and outputs.",
        discussion: helpParagraphs(
            """
            Runs every enabled input service every request_period_in_seconds and delivers to every output.
            SIGTERM, SIGINT or SIGHUP stop pulling, drain what is in flight (up to
            globals.shutdown_timeout_in_seconds), save state and exit 0; if an output could not deliver everything
            in time, the undelivered events are left uncommitted at their source and the exit status is 1. With
            --once each input service runs one pull cycle, then Trawl drains and exits: 0 when no error was logged,
            1 when one was (a failed pull cycle, a message left in the queue, an unreadable object, a failed
            write), so a scheduler notices.

            Examples:
              trawl run --config examples/quickstart.yaml --once
              S1_API_TOKEN=... trawl run --config /etc/trawl/config.yaml
            """
        )
    )

    @Option(name: [.short, .long], help: "The configuration file (YAML or JSON).")
    var config: String

    @Flag(help: "Run one pull cycle per input service, deliver, and exit.")
    var once = false

    func run() async throws {
        let plan = try loadPlan(self.config)
        let (logger, errors) = bootstrapLogging(plan)
        logger.info(
            "Trawl \(TrawlVersion.current) starting collector \(plan.globals.id) (\(plan.globals.name)): \(plan.services.count) input service(s), \(plan.outputs.count) output(s)\(self.once ? ", one pull cycle each" : "")"
        )
        try await execute(plan, once: self.once, logger: logger)
        if self.once { try exitIfErrorsWereLogged(errors, logger: logger) }
        logger.info("Trawl stopped")
    }
}

/// The configuration's plan, or exit status 2 after printing every error.
func loadPlan(_ path: String) throws -> TrawlPlan {
    do {
        return try TrawlPlan.make(configurationPath: path, environment: ProcessInfo.processInfo.environment)
    } catch {
        printToStandardError("Configuration \(path) is not valid.\n\(error)\n")
        throw ExitCode(2)
    }
}

/// A command's discussion as written in the source, where prose is wrapped at the source's width, made into
/// paragraphs for ArgumentParser to wrap at the terminal's: the lines of a paragraph are joined; blank lines,
/// indented lines (examples) and a line ending in ":" (their heading) stay as they are.
func helpParagraphs(_ text: String) -> String {
    var lines: [String] = []
    for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
        if let last = lines.last, !last.isEmpty, !last.hasPrefix(" "), !last.hasSuffix(":"), !line.isEmpty,
            !line.hasPrefix(" ")
        {
            lines[lines.count - 1] += " " + line
        } else {
            lines.append(String(line))
        }
    }
    return lines.joined(separator: "\n")
}

/// The one enabled service of `plan` named `name` (`<input>/<service>`, or `<service>` when unique) that has
/// `capability`, with it.
///
/// - Throws: exit status 2 after naming the services that have it, when none or several match.
func objectService<Capability>(
    _ name: String,
    in plan: TrawlPlan,
    _ capability: KeyPath<InputType.PlannedService, Capability?>,
    toDo verb: String
) throws -> (InputType.PlannedService, Capability) {
    let candidates = plan.services.filter { $0[keyPath: capability] != nil }
    let matches = candidates.filter { "\($0.input)/\($0.service)" == name || $0.service == name }
    guard matches.count == 1, let planned = matches.first, let found = planned[keyPath: capability] else {
        let names = candidates.map { "\($0.input)/\($0.service)" }.joined(separator: ", ")
        printToStandardError(
            "\(matches.isEmpty ? "No" : "More than one") enabled S3+SQS service matches \"\(name)\"; "
                + "services that can \(verb): \(names.isEmpty ? "none" : names).\n"
        )
        throw ExitCode(2)
    }
    return (planned, found)
}

/// Sends logs to standard error at the configured level; returns Trawl's logger and the tally of the
/// errors it will log.
func bootstrapLogging(_ plan: TrawlPlan) -> (Logger, LoggedErrorTally) {
    let level: Logger.Level = plan.globals.debugStatus ? .debug : .info
    let tally = LoggedErrorTally()
    LoggingSystem.bootstrap { label in TrawlLogHandler(label: label, level: level, tally: tally) }
    return (Logger(label: "trawl"), tally)
}

/// Exit status 1 after a run that ends by itself (`--once`, `replay`) logged errors: what they name was left
/// where it can be retried or inspected (a message in its queue, an uncommitted offset, a refused-events
/// file), and a scheduler should see that the run did not collect everything.
func exitIfErrorsWereLogged(_ errors: LoggedErrorTally, logger: Logger) throws {
    guard errors.total > 0 else { return }
    logger.warning(
        "Completed with \(errors.total) error(s) logged (\(errors.summary)); what they name was left to retry or inspect: exit status 1"
    )
    throw ExitCode(1)
}

/// Runs `plan` until stopped (or one cycle each with `once`); exit status 3 when it cannot start, 1 when
/// events were left undelivered.
func execute(_ plan: TrawlPlan, once: Bool, logger: Logger) async throws {
    do {
        var registry: PrometheusCollectorRegistry?
        if plan.globals.httpEndpoint.enabled {
            let metrics = PrometheusCollectorRegistry()
            MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: metrics))
            registry = metrics
        }
        let runtime: TrawlPlan.Runtime
        do {
            runtime = try plan.makeRuntime(runOnce: once, metricsRegistry: registry, logger: logger)
        } catch {
            logger.critical("\(error)", metadata: ["error.id": "\(error.code.id)"])
            throw ExitCode(3)
        }
        try await runtime.serviceGroup.run()
        let undelivered = runtime.dispatcher.eventsGivenUp + runtime.dispatcher.eventsInFlight
        guard undelivered == 0 else {
            logger.error(
                "Trawl stopped before delivering \(undelivered) event(s); their sources were not committed and they are pulled again at the next start"
            )
            throw ExitCode(1)
        }
    }
}

/// `trawl replay`: an S3+SQS service's processing over local files, delivered to the configured outputs.
struct ReplayCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replay",
        abstract: "Process local files as a configured S3+SQS service would process objects, and deliver them.",
        discussion: helpParagraphs(
            """
            Each file goes through the service's decompression (detected from its bytes), processor, key
            filters and tagging, and its records go to every configured output, exactly as if the service's
            queue had announced it. For backfills from exported objects and for trying a configuration on
            samples. Nothing is remembered: replaying a file twice delivers it twice. Files are read
            --concurrency at a time (the service's concurrency by default): each file's events stay in
            order, the files' interleave; --concurrency 1 delivers the files one after the other. Exits 1
            when a file could not be read, an event was not delivered or another error was logged.

            Examples:
              trawl replay --config config.yaml --service cloudtrail AWSLogs/**/*.json.gz
              trawl replay -c config.yaml --service sentinelone/cloud_funnel export/*.log.gz
            """
        )
    )

    @Option(name: [.short, .long], help: "The configuration file (YAML or JSON).")
    var config: String

    @Option(help: "The service whose processing to run: <input>/<service>, or <service> when unique.")
    var service: String

    @Option(help: "Files read at once (default: the service's concurrency; 1 keeps the files in order).")
    var concurrency: Int?

    @Argument(help: "The files to process.")
    var files: [String]

    func validate() throws {
        if let concurrency = self.concurrency, !(1...256).contains(concurrency) {
            throw ValidationError("--concurrency must be between 1 and 256, not \(concurrency).")
        }
    }

    func run() async throws {
        var plan = try loadPlan(self.config)
        let (planned, makeReplay) = try objectService(self.service, in: plan, \.makeReplay, toDo: "replay")
        let source = makeReplay(self.files, self.concurrency)
        var replay = planned
        replay.makeSource = { _, _, _ in source }
        plan.services = [replay]
        let (logger, errors) = bootstrapLogging(plan)
        logger.info(
            "Trawl \(TrawlVersion.current) replaying \(self.files.count) file(s) through \(planned.input)/\(planned.service) to \(plan.outputs.count) output(s)"
        )
        try await execute(plan, once: true, logger: logger)
        guard source.failures.value == 0 else {
            logger.error("\(source.failures.value) file(s) could not be replayed")
            throw ExitCode(1)
        }
        try exitIfErrorsWereLogged(errors, logger: logger)
        logger.info("Trawl stopped")
    }
}

/// `trawl validate`: check a configuration without running it.
struct ValidateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "validate",
        abstract: "Check a configuration file and list every error in it.",
        discussion: helpParagraphs(
            """
            Exits 0 when the configuration is valid, 2 otherwise, after listing each error with its id
            (see docs/errors.md), the setting's path and line, and how to fix it. Environment variables
            referenced as ${NAME} must be set, as for run.

            Example:
              trawl validate --config examples/quickstart.yaml
            """
        )
    )

    @Option(name: [.short, .long], help: "The configuration file (YAML or JSON).")
    var config: String

    func run() async throws {
        do {
            let plan = try TrawlPlan.make(
                configurationPath: self.config,
                environment: ProcessInfo.processInfo.environment
            )
            print(
                "Configuration \(self.config) is valid: collector \(plan.globals.id), \(plan.services.count) input service(s), \(plan.outputs.count) output(s)."
            )
        } catch {
            printToStandardError("Configuration \(self.config) is not valid.\n\(error)\n")
            throw ExitCode(2)
        }
    }
}

/// `trawl version`.
struct VersionCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "version",
        abstract: "Print Trawl's version.",
        discussion: "Example:\n  trawl version"
    )

    func run() async throws {
        print("trawl \(TrawlVersion.current)")
    }
}

func printToStandardError(_ text: String) {
    FileHandle.standardError.write(Data(text.utf8))
}

/// The entry point of the `trawl` executable, so it needs nothing but this library.
public enum TrawlMain {
    public static func run() async {
        // Keeps freed buffers from staying resident (see trawl_tune_malloc).
        _ = trawl_tune_malloc()
        await TrawlCommand.main()
    }
}
