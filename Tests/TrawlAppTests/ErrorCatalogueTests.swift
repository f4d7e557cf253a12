import Foundation
import NIOCore
import Testing
import TrawlAWS
import TrawlApp
import TrawlCore
import TrawlFormats
import TrawlPostgres
import TrawlSinks
import TrawlSources
import TrawlTesting

/// Keeps docs/errors.md, the core's code catalogue and the tests in step: every documented id is defined in code
/// with the same words, and a scenario below makes Trawl produce it.
@Suite struct ErrorCatalogueTests {
    /// Rows of the sections for the core's codes (AWS's ApiError rows are checked by TrawlAWSTests).
    static func documentedRows() throws -> [Int: [String]] {
        // The core's and the sinks' codes share these sections.
        try ErrorCatalogueDocument.rows(kinds: ["SetupError", "PersistenceError", "SourceError", "SinkError"])
    }

    @Test func docsListExactlyTheCodesDefinedWithTheSameWords() throws {
        let rows = try Self.documentedRows()
        let catalogue =
            TrawlError.Code.coreCatalogue + TrawlError.Code.sinksCatalogue + TrawlError.Code.formatsCatalogue
            + TrawlError.Code.localFilesCatalogue
        #expect(Set(rows.keys) == Set(catalogue.map(\.id)))
        for code in catalogue {
            #expect(rows[code.id] == [code.title, code.cause, code.fix], "docs/errors.md row \(code.id)")
        }
    }

    @Test func everyCodesFamilyIsTheOneItsIdRangeNames() {
        let all =
            TrawlError.Code.coreCatalogue + TrawlError.Code.sinksCatalogue + TrawlError.Code.formatsCatalogue
            + TrawlError.Code.localFilesCatalogue + TrawlError.Code.awsCatalogue + TrawlError.Code.sentinelOneCatalogue
            + TrawlError.Code.cewlCatalogue
        for code in all {
            #expect(TrawlError.Code.family(ofID: code.id) == code.kind, "\(code) \(code.title)")
        }
    }

    @Test func everyDocumentedIdHasAScenario() throws {
        #expect(Set(try Self.documentedRows().keys) == Set(ErrorScenarios.all.keys))
    }

    /// The errors of validating one `aws_sqs` service, `service`, with its lines after `settings` and the
    /// input's `credentials` (YAML indented by four spaces).
    static func sqsErrors(credentials: String, service: String, settings: String) -> [TrawlError] {
        ErrorScenarios.errors(
            validating: """
                globals: {id: errors, persistence: {directory: ./state}}
                inputs:
                  s3:
                    id: 1
                    type: aws_sqs
                \(credentials)
                    services:
                      \(service):
                \(settings)
                outputs:
                  out: {type: file, settings: {path: ./out.log}}
                """
        )
    }

    /// Each bad value is one error: a quoted `ack_messages` was also reported as not given at all.
    @Test func aSettingWithABadValueIsReportedForItsValueNotAlsoAsMissing() {
        let errors = Self.sqsErrors(
            credentials: """
                    credentials:
                      aws_access_key_id: AKIDEXAMPLE
                      aws_secret_access_key: secret
                      aws_cross_account_role: arn:aws:iam::2222:role/short-account
                      aws_external_id: trawl-external-1
                """,
            service: "json_lines",
            settings: """
                        base_url: not-a-queue-url
                        region: us-east-1
                        ack_messages: "true"
                        tag: my.app.aws.events
                        tag_field: [eventSource]
                        tag_mapping: {s3.amazonaws.com: cloud.aws.s3}
                        obfuscation_key: short
                        obfuscate: [{path: user, action: hash}]
                """
        )
        #expect(errors.map(\.code.id).sorted() == [5, 5, 6, 6, 6, 6], "\(errors)")
    }

    /// `columns` names the columns of headerless csv and tsv objects: on another processor it would do
    /// nothing, so it is refused where it stands, as are a repeated or empty name.
    @Test(arguments: [
        ("csv", "[time, user, action]", nil), ("tsv", "[a]", nil), ("json_lines", "[a]", "json_lines.columns"),
        ("csv", "[a, a]", "csv.columns"), ("csv", "[]", "csv.columns"),
    ])
    func columnsAreForCsvAndTsvAndNameEachColumnOnce(service: String, columns: String, errorAt: String?) {
        let errors = Self.sqsErrors(
            credentials: "    credentials: {aws_access_key_id: AKIAIOSFODNN7EXAMPLE, aws_secret_access_key: secret}",
            service: service,
            settings: """
                        queue_name: q
                        region: us-east-1
                        ack_messages: true
                        tag: my.app.aws.events
                        columns: \(columns)
                """
        )
        #expect(errors.map(\.code.id) == (errorAt == nil ? [] : [6]), "\(errors)")
        #expect(errors.first?.location?.hasPrefix("inputs.s3.services.\(errorAt ?? "")") ?? true)
    }

    @Test(arguments: ErrorScenarios.all.keys.sorted())
    func scenarioProducesItsError(id: Int) async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let produced = try await ErrorScenarios.all[id]!(directory)
        #expect(produced.contains(id), "scenario for \(id) produced \(produced)")
    }
}

/// One way to make Trawl raise each error id, returning the ids it raised.
enum ErrorScenarios {
    typealias Scenario = @Sendable (TemporaryDirectory) async throws -> [Int]

    static let validInput = """
        globals:
          id: errors
          persistence: {directory: ./state}
        inputs:
          files:
            id: 1
            type: local_files
            services:
              lines: {directory: ./data, tag: my.app.test.event}
        outputs:
          out: {type: file, settings: {path: ./out.log}}
        """

    /// The error ids from validating `yaml`.
    static func validate(_ yaml: String, environment: [String: String] = [:]) -> [Int] {
        self.errors(validating: yaml, environment: environment).map(\.code.id)
    }

    /// The errors from validating `yaml`, in the order `trawl validate` lists them.
    static func errors(validating yaml: String, environment: [String: String] = [:]) -> [TrawlError] {
        let diagnostics = ConfigurationDiagnostics()
        let document = ConfigurationDocument.parse(
            yaml,
            origin: "test.yaml",
            environment: environment,
            diagnostics: diagnostics
        )
        do {
            _ = try TrawlPlan.make(document: document, diagnostics: diagnostics)
            return []
        } catch {
            return error.errors
        }
    }

    static func replacing(_ old: String, with new: String) -> [Int] {
        validate(validInput.replacingOccurrences(of: old, with: new))
    }

    static func caught(_ body: () async throws -> Void) async -> [Int] {
        do {
            try await body()
            return []
        } catch let error as TrawlError {
            return [error.code.id]
        } catch let error as AcknowledgementRejected {
            return [error.code]
        } catch let refusal as EventsRefused {
            return [refusal.error.code.id]
        } catch {
            return []
        }
    }

    static let all: [Int: Scenario] = [
        1: { directory in
            do {
                _ = try TrawlPlan.make(configurationPath: "\(directory.path)/missing.yaml", environment: [:])
                return []
            } catch let error as ConfigurationInvalid {
                return error.errors.map(\.code.id)
            }
        },
        2: { _ in validate("globals: [unclosed\n  id: 1") },
        3: { _ in replacing("id: errors", with: "id: ${TRAWL_TEST_SURELY_UNSET}") },
        4: { _ in replacing("  id: errors\n", with: "") },
        5: { _ in replacing("  id: errors\n", with: "  id: errors\n  queue_max_events: lots\n") },
        6: { _ in replacing("my.app.test.event", with: "Not A Tag") },
        7: { _ in replacing("tag: my.app.test.event}", with: "tag: my.app.test.event, request_period_in_seconds: 0}") },
        8: { _ in replacing("tag: my.app.test.event}", with: "tag: my.app.test.event, request_perod_in_seconds: 5}") },
        9: { directory in
            // Read without complaint (a service with saved state does not use it); refused where a service
            // with none would start from it.
            let read = historical("2000-01-01T00:00:00Z")
            _ = try directory.write(
                "old-start.yaml",
                """
                globals: {id: errors, persistence: {directory: ./state}}
                inputs:
                  s1:
                    id: 7
                    type: sentinelone
                    credentials: {console_url: "http://127.0.0.1:\(try PeerProcess.refusingPort())", api_token: t}
                    services:
                      threats: {historical_poll_datetime: "2000-01-01T00:00:00Z"}
                outputs:
                  out: {type: file, settings: {path: ./out.log}}

                """
            )
            let run = try await BuiltExecutable.run(
                "trawl",
                arguments: ["run", "--config", "old-start.yaml", "--once"],
                workingDirectory: directory.path
            )
            guard read.isEmpty, run.error.contains("where s1/threats would start as it has no saved state") else {
                return read
            }
            return [9]
        },
        10: { _ in historical("2999-01-01T00:00:00Z") },
        11: { _ in replacing("type: local_files", with: "type: local_files\n    enabled: false") },
        12: { _ in replacing("  out: {type: file, settings: {path: ./out.log}}", with: "  {}") },
        13: { _ in replacing("type: local_files", with: "type: carrier_pigeon") },
        14: { _ in replacing("lines: {", with: "bogus: {") },
        15: { _ in replacing("type: file,", with: "type: kafka,") },
        16: { _ in
            validate(
                validInput.replacingOccurrences(
                    of: "outputs:",
                    with: """
                          again:
                            id: 1
                            type: local_files
                            services:
                              lines: {directory: ./data, tag: my.app.test.event}
                        outputs:
                        """
                )
            )
        },
        200: { directory in
            try directory.write("c/1/s.json", "not json")
            return await caught { _ = try await persistence(directory).load() }
        },
        201: { directory in
            try FileManager.default.createDirectory(
                atPath: "\(directory.path)/c/1/s.json/x",
                withIntermediateDirectories: true
            )
            return await caught { try await persistence(directory).save(0) }
        },
        202: { directory in
            let file = try directory.write("file", "")
            return await caught { _ = try FileStateStore(directory: file) }
        },
        300: { directory in
            let source = LocalFilesSource(
                name: "files/lines",
                settings: try localFilesSettings(directory: "\(directory.path)/absent"),
                persistence: try persistence(directory, as: LocalFilesSource.State.self)
            )
            let dispatcher = EventDispatcher(queues: [], maxBatchEvents: 10)
            return await caught {
                _ = try await source.pull(
                    PullContext(pullingID: .now(), dispatcher: dispatcher, logger: RecordingLogger().logger)
                )
            }
        },
        301: { directory in
            try await sqsScenario(
                directory,
                service: "json_lines",
                objects: [
                    [
                        "key": "cut.gz", "text": String(repeating: "{\"a\":1}\n", count: 500), "compression": "gzip",
                        "truncate": "40",
                    ]
                ]
            )
        },
        302: { directory in
            try await sqsScenario(
                directory,
                service: "json_array",
                objects: [["key": "object.json", "text": "{\"a\":1}"]]
            )
        },
        303: { directory in
            try await sqsScenario(directory, service: "json_lines", objects: [], bodies: ["not a notification"])
        },
        304: { directory in
            try await sqsScenario(
                directory,
                service: "json_lines",
                objects: [["key": "fake.parquet", "text": "PAR1 starts like Parquet, ends like it: PAR1"]]
            )
        },
        305: { directory in
            try await sqsScenario(
                directory,
                service: "lines",
                objects: [["key": "plain.log", "text": "user=alice logged in\n"]],
                settings: ", obfuscate: [{path: user, action: mask}]"
            )
        },
        306: { directory in
            try directory.write("data/one-line.log", String(repeating: "x", count: 4_096))
            let source = LocalFilesSource(
                name: "files/lines",
                settings: try SettingsFixture.valid(
                    LocalFilesSettings.self,
                    yaml: "{directory: \"\(directory.path)/data\", tag: my.app.test.event, record_max_bytes: 1024}"
                ),
                persistence: try persistence(directory, as: LocalFilesSource.State.self)
            )
            let dispatcher = EventDispatcher(queues: [], maxBatchEvents: 10)
            return await caught {
                _ = try await source.pull(
                    PullContext(pullingID: .now(), dispatcher: dispatcher, logger: RecordingLogger().logger)
                )
            }
        },
        500: { directory in
            let sink = FileSink(
                name: "out",
                path: directory.path,
                framer: DevoSyslogFramer(hostname: "h"),
                logger: RecordingLogger().logger
            )
            return await caught {
                try await sink.write([EventBatch(events: [], acknowledgement: Acknowledgement(unit: "u"))])
            }
        },
        17: { _ in
            replacing(
                "out: {type: file, settings: {path: ./out.log}}",
                with: "out: {type: devo, settings: {chain_filename: ./certs/chain.crt, "
                    + "cert_filename: ./certs/domain.crt, key_filename: ./certs/domain.key}}"
            )
        },
        19: { _ in
            replacing(
                "out: {type: file, settings: {path: ./out.log}}",
                with: "out: {type: file, settings: {path: /dev/null}}"
            )
        },
        502: { _ in
            let sink = try SyslogStreamSink(
                name: "relay",
                configuration: .init(
                    host: "127.0.0.1",
                    port: try PeerProcess.refusingPort(),
                    tls: nil,
                    location: "relay"
                ),
                framer: DevoSyslogFramer(hostname: "h"),
                logger: RecordingLogger().logger
            )
            return await caught {
                try await sink.write([
                    EventBatch(events: [Event.test("x")], acknowledgement: Acknowledgement(unit: "u"))
                ])
            }
        },
        503: { _ in
            // A receiver that answers the TLS greeting with HTTP.
            let plain = try await PeerProcess(
                [PeerProcess.python, "\(RepositoryFiles.root)/Tests/Support/peers/canned_http.py", "400", "{}", "no"],
                port: 0
            )
            defer { plain.stop() }
            let sink = try SyslogStreamSink(
                name: "devo",
                configuration: .init(
                    host: "127.0.0.1",
                    port: plain.port,
                    tls: SyslogTLSFiles(certificate: nil, key: nil, chainCA: nil),
                    location: "devo"
                ),
                framer: DevoSyslogFramer(hostname: "h"),
                logger: RecordingLogger().logger
            )
            return await caught {
                try await sink.write([
                    EventBatch(events: [Event.test("x")], acknowledgement: Acknowledgement(unit: "u"))
                ])
            }
        },
        18: { _ in
            // A lookup update reaches a pipeline whose only output takes records.
            let dispatcher = EventDispatcher(
                queues: [BoundedEventQueue(maxBufferedEvents: 10)],
                accepts: [.records],
                maxBatchEvents: 10
            )
            let acknowledgement = Acknowledgement(unit: "u")
            let update = LookupUpdate(table: "t", columns: [.init("k", type: "str")], mode: .full, rows: [])
            try await dispatcher.publish(
                [Event.lookup(update, metadata: Event.test("x").metadata)],
                acknowledgement: acknowledgement
            )
            acknowledgement.seal()
            return await caught { try await acknowledgement.delivered() }
        },
        504: { _ in
            let sink = SyslogDatagramSink(
                name: "syslog",
                configuration: .init(host: "127.0.0.1", port: 9, maxMessageBytes: 480, location: "syslog"),
                framer: DevoSyslogFramer(hostname: "h"),
                logger: RecordingLogger().logger
            )
            return await caught {
                try await sink.write([
                    EventBatch(
                        events: [Event.test(String(repeating: "x", count: 500))],
                        acknowledgement: Acknowledgement(unit: "u")
                    )
                ])
            }
        },
        505: { _ in
            let server = try await RecordingHTTPServer { _ in (401, "{}") }
            let sink = DevoHTTPSink(
                name: "devo_http",
                configuration: .init(url: server.url, domain: "d", token: "t", hostname: "h", location: "devo_http"),
                logger: RecordingLogger().logger
            )
            let produced = await caught {
                try await sink.write([
                    EventBatch(events: [Event.test("x")], acknowledgement: Acknowledgement(unit: "u"))
                ])
            }
            try await sink.close()
            try await server.stop()
            return produced
        },
        203: { directory in
            // The spool's file name is taken by a directory.
            try FileManager.default.createDirectory(
                atPath: "\(directory.path)/c1/spool/devo.spool",
                withIntermediateDirectories: true
            )
            let store = try FileStateStore(directory: directory.path)
            return await caught {
                _ = try EventSpool(store: store, collectorID: "c1", output: "devo", maxBytes: 1 << 20)
            }
        },
        205: { directory in
            // Three spooled records, the second damaged: it is copied aside and overwritten, the third kept.
            let store = try FileStateStore(directory: directory.path)
            let spool = try EventSpool(store: store, collectorID: "c1", output: "devo", maxBytes: 1 << 20)
            for body in ["a", "b", "c"] { _ = try spool.append([Event.test(body)]) }
            var bytes = try Data(contentsOf: URL(fileURLWithPath: spool.path))
            bytes[bytes.count / 2] ^= 0xFF
            closeWhileNoChildStarts { spool.close() }
            try bytes.write(to: URL(fileURLWithPath: spool.path))
            let reopened = try EventSpool(store: store, collectorID: "c1", output: "devo", maxBytes: 1 << 20)
            return reopened.damage.map { [$0.code.id] } ?? []
        },
        204: { _ in
            // A database where nothing listens.
            let store = PostgresStateStore(
                settings: PersistenceSettings.PostgresSettings(
                    host: "127.0.0.1",
                    port: try PeerProcess.refusingPort(),
                    database: "trawl",
                    username: "trawl",
                    password: nil,
                    tls: "disable"
                ),
                logger: RecordingLogger().logger
            )
            return await withTaskGroup(of: [Int].self) { group in
                group.addTask {
                    await store.run()
                    return []
                }
                let produced = await caught {
                    _ = try await store.load(StateKey(collectorID: "c", input: "1", service: "s"))
                }
                group.cancelAll()
                return produced
            }
        },
        501: { _ in
            let queue = BoundedEventQueue(maxBufferedEvents: 10)
            queue.finish()
            let acknowledgement = Acknowledgement(unit: "u")
            let event = Event.test("x")
            _ = await caught {
                try await EventDispatcher(queues: [queue], maxBatchEvents: 10).publish(
                    [event],
                    acknowledgement: acknowledgement
                )
            }
            acknowledgement.seal()
            return await caught { try await acknowledgement.delivered() }
        },
    ]

    static func persistence<T: Codable & Sendable>(
        _ directory: TemporaryDirectory,
        as type: T.Type = Int.self
    ) throws -> ServicePersistence<T> {
        ServicePersistence(
            store: try FileStateStore(directory: directory.path),
            key: StateKey(collectorID: "c", input: "1", service: "s"),
            resetPersistenceAuth: "",
            logger: RecordingLogger().logger
        )
    }

    static func localFilesSettings(directory: String) throws -> LocalFilesSettings {
        try SettingsFixture.valid(
            LocalFilesSettings.self,
            yaml: "{directory: \"\(directory)\", tag: my.app.test.event}"
        )
    }

    /// A service section with a `historical_poll_datetime`, as the API collectors will have.
    struct HistoricalSettings: Decodable {
        enum CodingKeys: String, CodingKey, CaseIterable {
            case historicalPollDatetime = "historical_poll_datetime"
        }

        init(from decoder: any Decoder) throws {
            let settings = SettingsReader(decoder, keys: CodingKeys.self)
            _ = settings.historicalPollDatetime(.historicalPollDatetime, now: .now())
        }
    }

    static func historical(_ value: String) -> [Int] {
        SettingsFixture.decode(HistoricalSettings.self, yaml: "historical_poll_datetime: \"\(value)\"").errors.map(
            \.code.id
        )
    }
}

/// Runs `trawl run --once` over a moto queue announcing `objects` (or carrying `bodies`) and returns the
/// error ids its log shows.
func sqsScenario(
    _ directory: TemporaryDirectory,
    service: String,
    objects: [[String: String]],
    bodies: [String] = [],
    settings: String = ""
) async throws -> [Int] {
    let fixture = try await MotoBucketQueue.make(notify: bodies.isEmpty)
    try await fixture.put(objects)
    try await fixture.send(bodies)
    let (_, log) = try await S3CollectorsEndToEndTests.runOnce(
        S3CollectorsEndToEndTests.configuration([
            ("s3", "aws_sqs", service, fixture.serviceSettings + ", tag: my.app.test.event" + settings)
        ]),
        in: directory
    )
    return log.matches(of: /(?:SourceError|ApiError) (\d+)/).compactMap { Int($0.output.1) }
}
