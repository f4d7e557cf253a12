import Foundation
import Testing
import TrawlTesting

/// `trawl run` with the S3+SQS inputs against moto, as a user runs it: a configuration file, the binary,
/// and the delivered lines in the file output.
@Suite struct S3CollectorsEndToEndTests {
    /// A configuration with one S3+SQS input per entry of `inputs` (name: (type, service, settings)).
    static func configuration(
        _ inputs: [(name: String, type: String, service: String, settings: String)],
        waitTimeout: Int = 1
    ) -> String {
        var text = """
            globals: {id: s3-test, hostname: vm, persistence: {directory: ./state}}
            inputs:

            """
        for (index, input) in inputs.enumerated() {
            text += """
                  \(input.name):
                    id: \(index + 1)
                    type: \(input.type)
                    credentials: {aws_access_key_id: AKIDEXAMPLEKEY123456, aws_secret_access_key: testing}
                    services:
                      \(input.service): {\(input.settings), ack_messages: true, sqs_wait_timeout: \(waitTimeout)}

                """
        }
        text += """
            outputs:
              out: {type: file, settings: {path: ./out.log}}

            """
        return text
    }

    /// Runs `trawl replay --config config.yaml ARGUMENTS` in `directory`; returns its status and stderr (the log).
    static func replay(_ arguments: [String], in directory: TemporaryDirectory) async throws -> (Int32, String) {
        let (status, _, log) = try await BuiltExecutable.run(
            "trawl",
            arguments: ["replay", "--config", "config.yaml"] + arguments,
            workingDirectory: directory.path
        )
        return (status, log)
    }

    /// Runs `trawl run --once` in `directory` with `configuration`; returns its status and stderr (the log).
    static func runOnce(
        _ configuration: String,
        in directory: TemporaryDirectory,
        environment: [String: String] = [:]
    ) async throws -> (Int32, String) {
        try directory.write("config.yaml", configuration)
        let (status, _, log) = try await BuiltExecutable.run(
            "trawl",
            arguments: ["run", "--once", "--config", "config.yaml"],
            workingDirectory: directory.path,
            environment: environment
        )
        return (status, log)
    }

    @Test func cloudFunnelAndCloudTrailObjectsReachTheFileOutputOnceEach() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let funnel = try await MotoBucketQueue.make()
        let trail = try await MotoBucketQueue.make()
        let categories = ["process", "dns", "file", "registry", "ip"]
        let funnelLines = (0..<40).map {
            #"{"event.category":"\#(categories[$0 % 5])","event.type":"T","event.time":17000000\#($0),"src.process.name":"p\#($0).exe"}"#
        }
        try await funnel.put([
            [
                "key": "s1/cloud_funnel/2026/11/23/account_id=1/a.log.gz",
                "text": funnelLines[0..<25].joined(separator: "\n"), "compression": "gzip",
            ],
            [
                "key": "s1/cloud_funnel/2026/11/23/account_id=1/b.log.gz",
                "text": funnelLines[25...].joined(separator: "\n"), "compression": "zstd",
            ],
        ])
        let trailRecords = (0..<3).map { #"{"eventVersion":"1.08","eventName":"Call\#($0)","awsRegion":"us-east-1"}"# }
        try await trail.put([
            [
                "key": "AWSLogs/123456789012/CloudTrail/us-east-1/2026/11/23/x.json.gz",
                "text": "{\"Records\":[\(trailRecords.joined(separator: ","))]}", "compression": "gzip",
            ],
            [
                "key": "AWSLogs/123456789012/CloudTrail-Digest/us-east-1/2026/11/23/d.json.gz", "text": "{}",
                "compression": "gzip",
            ],
        ])
        let (status, log) = try await Self.runOnce(
            Self.configuration([
                ("s1", "sentinelone_cloud_funnel", "cloud_funnel", funnel.serviceSettings),
                ("trail", "aws_sqs", "cloudtrail", trail.serviceSettings),
            ]),
            in: directory
        )
        #expect(status == 0, "\(log)")
        let delivered = try String(contentsOfFile: "\(directory.path)/out.log", encoding: .utf8)
            .split(separator: "\n").map(String.init)
        let expected =
            funnelLines.enumerated().map {
                "<14>Jan  1 00:00:00 vm edr.sentinelone.dv.\(categories[$0.offset % 5]): \($0.element)"
            }
            + trailRecords.map { "<14>Jan  1 00:00:00 vm cloud.aws.cloudtrail.events: \($0)" }
        #expect(delivered.sorted() == expected.sorted())
        #expect(log.contains("Extracting records from S3 files."))
        #expect(
            log.contains(
                "(Partial) Number of messages per tag sent so far in this partial pull cycle: {'edr.sentinelone.dv.dns': 8"
            )
        )
        #expect(log.contains("The data is up to date!"))
        #expect(try await funnel.messagesLeft() == 0)
        #expect(try await trail.messagesLeft() == 0)
    }

    /// A stop while the queue is empty cut the long poll short: it waited up to sqs_wait_timeout (20 s) for
    /// SQS's empty answer, past a container runtime's default 10 s before SIGKILL.
    @Test func aStopDuringAnEmptyLongPollEndsItInsteadOfWaitingItOut() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let queue = try await MotoBucketQueue.make()
        try directory.write(
            "config.yaml",
            Self.configuration([("trail", "aws_sqs", "cloudtrail", queue.serviceSettings)], waitTimeout: 20)
        )
        let trawl = try BuiltExecutable(
            "trawl",
            arguments: ["run", "--config", "config.yaml"],
            workingDirectory: directory.path
        )
        let polling = await eventually { trawl.standardError.contains("Records are pullable") }
        #expect(polling, "\(trawl.standardError)")
        try await Task.sleep(for: .milliseconds(500))
        let (status, took) = await trawl.stop()
        #expect(status == 0, "\(trawl.standardError)")
        // Waiting out the poll would take about 19.5 s more; the bound leaves the rest to load.
        #expect(took < .seconds(19), "the stop took \(took), waiting out the 20 s long poll")
        #expect(trawl.standardError.contains("Trawl stopped"))
        #expect(!trawl.standardError.contains("The data is up to date!"), "a cut poll does not claim the queue empty")
    }

    @Test func behindAnEgressProxyEveryAWSRequestGoesThroughItAndEveryRecordArrives() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let proxy = try await ForwardProxy(directory: directory.path)
        defer { proxy.stop() }
        let funnel = try await MotoBucketQueue.make()
        let lines = (0..<30).map { #"{"event.category":"dns","event.type":"T","n":\#($0)}"# }
        try await funnel.put([
            ["key": "s1/cloud_funnel/p.log.gz", "text": lines.joined(separator: "\n"), "compression": "gzip"]
        ])
        let (status, log) = try await Self.runOnce(
            Self.configuration([("s1", "sentinelone_cloud_funnel", "cloud_funnel", funnel.serviceSettings)]),
            in: directory,
            environment: ["HTTP_PROXY": proxy.url]
        )
        #expect(status == 0, "\(log)")
        let delivered = try String(contentsOfFile: "\(directory.path)/out.log", encoding: .utf8)
        #expect(delivered.split(separator: "\n").count == 30)
        #expect(try await funnel.messagesLeft() == 0)
        // SQS and S3 (moto serves both on one port): every connection was a tunnel through the proxy.
        #expect(!proxy.tunnels.isEmpty)
        #expect(Set(proxy.tunnels) == [String(funnel.moto.endpoint.dropFirst("http://".count))])
        #expect(!log.contains(proxy.password))
    }

    @Test func eachAWSServiceGoesToTheEndpointNamedForItBeforeTheSharedOne() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let funnel = try await MotoBucketQueue.make()
        let lines = (0..<5).map { #"{"event.category":"file","n":\#($0)}"# }
        try await funnel.put([
            ["key": "s1/cloud_funnel/p.log.gz", "text": lines.joined(separator: "\n"), "compression": "gzip"]
        ])
        let role =
            try await funnel.moto.fixtureJSON(["command": "create-role", "name": "reader-\(funnel.bucket)"])["arn"]
            as! String
        let moto = funnel.moto.endpoint
        // The shared endpoint is a closed port: every request must go to the service's own endpoint.
        let settings = """
            base_url: "\(funnel.queueURL)", region: us-east-1, endpoint_url: "http://127.0.0.1:9", \
            s3_endpoint_url: "\(moto)", sqs_endpoint_url: "\(moto)", sts_endpoint_url: "\(moto)"
            """
        let configuration = Self.configuration([("s1", "sentinelone_cloud_funnel", "cloud_funnel", settings)])
            .replacingOccurrences(
                of: "aws_secret_access_key: testing}",
                with: "aws_secret_access_key: testing, aws_cross_account_role: \"\(role)\"}"
            )
        let (status, log) = try await Self.runOnce(configuration, in: directory)
        #expect(status == 0, "\(log)")
        #expect(log.contains("Obtained AWS credentials") && log.contains(role), "the role was assumed")
        let delivered = try String(contentsOfFile: "\(directory.path)/out.log", encoding: .utf8)
        #expect(delivered.split(separator: "\n").count == 5)
        #expect(try await funnel.messagesLeft() == 0)
    }

    @Test func aMalformedProxyVariableIsOneSetupErrorHowEverManyInputsAndOutputsReadIt() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let settings = "queue_name: q, region: us-east-1"
        try directory.write(
            "config.yaml",
            Self.configuration([
                ("s1", "sentinelone_cloud_funnel", "cloud_funnel", settings),
                ("trail", "aws_sqs", "cloudtrail", settings),
            ])
                + """
                  devo: {type: devo_http, settings: {url: "https://http-us.devo.io", domain: acme, token: a5370g9e8f7d7edf9d0123456789abcd}}

                """
        )
        let (status, output, log) = try await BuiltExecutable.run(
            "trawl",
            arguments: ["validate", "--config", "config.yaml"],
            workingDirectory: directory.path,
            environment: ["HTTPS_PROXY": "socks5://user:hunter2@proxy.corp:1080"]
        )
        let text = output + log
        #expect(status != 0)
        #expect(text.components(separatedBy: "SetupError 6 at environment HTTPS_PROXY").count == 2, "\(text)")
        #expect(text.contains("only http:// proxies are supported, not socks5://"))
        #expect(!text.contains("hunter2"))
    }

    @Test func cloudWatchLogsWrittenByFirehoseAreDeliveredPerLogEventAndRoutedByLogGroup() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let documents = [
            #"{"messageType":"DATA_MESSAGE","owner":"123456789012","logGroup":"/aws/lambda/auth","logStream":"s1","subscriptionFilters":["f"],"logEvents":[{"id":"1","timestamp":1763990000000,"message":"login failed for root"}]}"#,
            #"{"messageType":"CONTROL_MESSAGE","owner":"CloudwatchLogs","logGroup":"","logStream":"","subscriptionFilters":[],"logEvents":[{"id":"","timestamp":1,"message":"CWL CONTROL MESSAGE: Checking health of destination Firehose."}]}"#,
            #"{"messageType":"DATA_MESSAGE","owner":"123456789012","logGroup":"vpc-flows","logStream":"eni","subscriptionFilters":["f"],"logEvents":[{"id":"2","timestamp":1763990001000,"message":"2 123456789012 eni-0f1e 10.0.0.5 10.0.1.9 443 51000 6 10 840 1763990000 1763990060 ACCEPT OK"}]}"#,
        ]
        var object: [UInt8] = []
        for document in documents { object += try await PeerCompressor.compress(Array(document.utf8), format: "gzip") }
        try Data(object).write(to: URL(fileURLWithPath: "\(directory.path)/firehose-1"))
        try directory.write(
            "config.yaml",
            Self.configuration([
                (
                    "logs", "aws_sqs", "cloudwatch_logs",
                    "queue_name: unused, region: us-east-1, tag: my.app.cloudwatch.logs, tag_field: logGroup, tag_mapping: {vpc-flows: my.app.vpc.flows}"
                )
            ])
        )
        let (status, log) = try await Self.replay(["--service", "cloudwatch_logs", "firehose-1"], in: directory)
        #expect(status == 0, "\(log.suffix(3_000))")
        let delivered = try String(contentsOfFile: "\(directory.path)/out.log", encoding: .utf8)
        #expect(
            delivered == """
                <14>Jan  1 00:00:00 vm my.app.cloudwatch.logs: {"owner":"123456789012","logGroup":"/aws/lambda/auth","logStream":"s1","id":"1","timestamp":1763990000000,"message":"login failed for root"}
                <14>Jan  1 00:00:00 vm my.app.vpc.flows: {"owner":"123456789012","logGroup":"vpc-flows","logStream":"eni","id":"2","timestamp":1763990001000,"message":"2 123456789012 eni-0f1e 10.0.0.5 10.0.1.9 443 51000 6 10 840 1763990000 1763990060 ACCEPT OK"}

                """
        )
    }

    @Test func replayRunsTheServicesProcessingOverLocalFilesAndReportsUnreadableOnes() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let records = ["a", "b"].map { file in
            (0..<4).map { #"{"eventVersion":"1.08","eventName":"Replayed\#(file)\#($0)"}"# }
        }
        for (index, (name, format)) in [("a.json.gz", "gzip"), ("b.json.zst", "zstd")].enumerated() {
            let document = Array("{\"Records\":[\(records[index].joined(separator: ","))]}".utf8)
            let bytes = try await PeerCompressor.compress(document, format: format)
            try Data(bytes).write(to: URL(fileURLWithPath: "\(directory.path)/\(name)"))
        }
        try directory.write("CloudTrail-Digest/d.json", #"{"awsAccountId":"1"}"#)
        try directory.write("broken.json", #"{"Records":[{"a":"#)
        try directory.write(
            "config.yaml",
            Self.configuration([
                (
                    "trail", "aws_sqs", "cloudtrail",
                    "base_url: \"https://sqs.us-east-1.amazonaws.com/123456789012/unused\", region: us-east-1"
                )
            ])
        )
        let (status, log) = try await Self.replay(
            [
                "--concurrency", "1", "--service", "cloudtrail", "a.json.gz", "b.json.zst",
                "./CloudTrail-Digest/d.json",
                "broken.json",
            ],
            in: directory
        )
        #expect(status == 1, "\(log)")
        #expect(log.contains("SourceError 302"))
        // Where the damage lies, for whoever opens the file: the record `{"a":` begins at byte 12.
        #expect(
            log.contains(
                "(at the end, 17 bytes of text; its unfinished record starts at byte 12 of the text, after 0 record(s))"
            ),
            "\(log)"
        )
        #expect(log.contains("1 file(s) could not be replayed"))
        let lines = records.map { file in file.map { "<14>Jan  1 00:00:00 vm cloud.aws.cloudtrail.events: \($0)\n" } }
        let inOrder = try String(contentsOfFile: "\(directory.path)/out.log", encoding: .utf8)
        #expect(inOrder == (lines[0] + lines[1]).joined(), "one file at a time: the files in the order given")

        // Several files at once: every record once, each file's in order.
        try FileManager.default.removeItem(atPath: "\(directory.path)/out.log")
        let (again, concurrentLog) = try await Self.replay(
            ["--concurrency", "4", "--service", "cloudtrail", "a.json.gz", "b.json.zst"],
            in: directory
        )
        #expect(again == 0, "\(concurrentLog)")
        let delivered = try String(contentsOfFile: "\(directory.path)/out.log", encoding: .utf8)
            .split(separator: "\n").map { "\($0)\n" }
        #expect(delivered.sorted() == (lines[0] + lines[1]).sorted())
        for file in lines { #expect(delivered.filter(file.contains) == file) }

        let (unknown, message) = try await Self.replay(["--service", "nothing", "a.json.gz"], in: directory)
        #expect(unknown == 2)
        #expect(message.contains("services that can replay: trail/cloudtrail"))
    }

    @Test func a200MegabyteObjectIsDeliveredWithPeakMemoryUnder150Megabytes() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let fixture = try await MotoBucketQueue.make()
        let count = 200_000
        let answer = try await fixture.moto.fixtureJSON([
            "command": "put-lines", "bucket": fixture.bucket,
            "objects": [["key": "s1/cloud_funnel/big.log.gz", "prefix": "big", "count": "\(count)", "size": "1060"]],
        ])
        let uncompressed = (answer["s1/cloud_funnel/big.log.gz"] as? [String: Any])?["uncompressed"] as? Int ?? 0
        #expect(uncompressed >= 200_000_000)
        try directory.write(
            "config.yaml",
            Self.configuration([("s1", "sentinelone_cloud_funnel", "cloud_funnel", fixture.serviceSettings)])
        )
        let trawl = try BuiltExecutable(
            "trawl",
            arguments: ["run", "--once", "--config", "config.yaml"],
            workingDirectory: directory.path
        )
        let status = await trawl.waitForExit(timeout: .seconds(600))
        #expect(status == 0, "\(trawl.standardError.suffix(2_000))")
        let peak = trawl.peakResidentBytes
        #expect(peak > 0 && peak < 150 << 20, "peak RSS \(peak >> 20) MiB")
        var lines = 0
        let file = try FileHandle(forReadingFrom: URL(fileURLWithPath: "\(directory.path)/out.log"))
        while let chunk = try file.read(upToCount: 1 << 22), !chunk.isEmpty {
            lines += chunk.reduce(into: 0) { $0 += $1 == 0x0a ? 1 : 0 }
        }
        #expect(lines == count)
        #expect(try await fixture.messagesLeft() == 0)
        print("200 MB object: peak RSS \(peak >> 20) MiB, \(lines) lines delivered")
    }
}
