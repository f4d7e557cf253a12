import ArgumentParser
import Logging
import TrawlCore
import TrawlSources

/// `trawl aws ...`: checks of the configured S3+SQS services against AWS.
struct AWSCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "aws",
        abstract: "Check the configured S3+SQS services' access to their queues and buckets.",
        subcommands: [AWSTestConnectionCommand.self]
    )
}

/// `trawl aws test-connection`: per S3+SQS service, its queue, dead-letter policy and buckets.
struct AWSTestConnectionCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "test-connection",
        abstract: "Check that S3+SQS services reach their queue and can list and read their buckets.",
        discussion: helpParagraphs(
            """
            For each enabled S3+SQS service (or the one --service names), with its credentials, role chain,
            region and endpoints: whether its queue is readable and how many messages wait in it; whether the
            queue has a dead-letter queue, which is what takes away the messages Trawl leaves in it (poison
            messages, objects it cannot read); and, for each s3://bucket/prefix given, whether it can be listed
            and the first object the service reads there can be read (its last byte only: GetObject and, for
            SSE-KMS, kms:Decrypt). Nothing is received from the queue and nothing is delivered.
            Exits 0 when every check passed (warnings included), 1 when one failed (each says what to check).

            Examples:
              trawl aws test-connection --config config.yaml
              trawl aws test-connection -c config.yaml --service cloudtrail \\
                  s3://org-trail/AWSLogs/
            """
        )
    )

    @Option(name: [.short, .long], help: "The configuration file (YAML or JSON).")
    var config: String

    @Option(help: "Only this S3+SQS service: <input>/<service>, or <service> when unique.")
    var service: String?

    @Argument(help: "Buckets to check: s3://bucket/prefix (the buckets the queue's notifications name).")
    var locations: [String] = []

    func validate() throws {
        for location in self.locations where S3BackfillSource.Location(url: location) == nil {
            throw ValidationError("\(location) is not s3://bucket/prefix with a valid bucket name.")
        }
    }

    func run() async throws {
        let plan = try loadPlan(self.config)
        let services: [(InputType.PlannedService, ObjectSourceMaker)]
        if let name = self.service {
            services = [try objectService(name, in: plan, \.makeObjectSource, toDo: "be checked")]
        } else {
            services = plan.services.compactMap { planned in planned.makeObjectSource.map { (planned, $0) } }
            guard !services.isEmpty else {
                printToStandardError("No enabled S3+SQS service in \(self.config).\n")
                throw ExitCode(2)
            }
        }
        let locations = self.locations.compactMap(S3BackfillSource.Location.init(url:))
        LoggingSystem.bootstrap { label in TrawlLogHandler(label: label, level: .warning) }
        let logger = Logger(label: "trawl")
        let store = try FileStateStore(directory: plan.globals.persistence.directory)
        var failed = false
        for (planned, makeObjectSource) in services {
            let key = StateKey(collectorID: plan.globals.id, input: planned.inputID, service: planned.service)
            let source = makeObjectSource(store, key, logger, .checking)
            var findings: [SQSObjectConnectionCheck.Finding] = []
            try await source.withResources {
                findings = await SQSObjectConnectionCheck.run(source, locations: locations, logger: logger)
            }
            print("\(planned.input)/\(planned.service):")
            for finding in findings {
                let mark =
                    switch finding.outcome {
                    case .ok: "ok"
                    case .warning: "WARNING"
                    case .failed: "FAILED"
                    }
                print("  \(mark): \(finding.line)")
                if finding.outcome == .failed { failed = true }
            }
        }
        if failed { throw ExitCode(1) }
    }
}
