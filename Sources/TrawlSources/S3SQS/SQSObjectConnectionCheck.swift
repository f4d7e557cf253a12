import Foundation
import Logging
import TrawlAWS
import TrawlCore

/// `trawl aws test-connection`: whether an S3+SQS service's credentials (and role chain) reach its queue,
/// whether the queue has a dead-letter queue for the messages Trawl leaves in it, and whether the buckets
/// given can be listed and their objects read, so an IAM or KMS gap shows before the first pull and not as
/// messages piling up. Nothing is received from the queue: receiving would count towards its dead-letter
/// policy.
public enum SQSObjectConnectionCheck {
    /// One thing checked.
    public struct Finding: Sendable {
        public enum Outcome: Sendable { case ok, warning, failed }
        public var outcome: Outcome
        public var line: String
    }

    /// Checks `source`'s queue, and for each location lists it and reads the last byte of the first object
    /// the service's key filters keep.
    public static func run(
        _ source: SQSObjectSource,
        locations: [S3BackfillSource.Location],
        logger: Logger
    ) async -> [Finding] {
        var findings: [Finding] = []
        let settings = source.settings
        let queue = settings.baseURL ?? settings.queueName ?? "?"
        // One S3 client (so one credential provider, one role assumed) for the queue and every location: the
        // connection's, or a client of its own when the queue could not be reached.
        var s3: Result<S3Client, any Error>?
        do {
            let connection = try await source.connect(logger: logger, reportSettings: false)
            s3 = .success(connection.s3)
            let attributes = try await connection.sqs.queueAttributes(
                queueURL: connection.queueURL,
                names: [
                    "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible", "RedrivePolicy",
                    "MessageRetentionPeriod",
                ],
                logger: logger
            )
            let waiting = attributes["ApproximateNumberOfMessages"] ?? "?"
            let inFlight = attributes["ApproximateNumberOfMessagesNotVisible"] ?? "?"
            findings.append(
                Finding(
                    outcome: .ok,
                    line:
                        "SQS queue \(connection.queueARN): readable; \(waiting) message(s) waiting, \(inFlight) in flight"
                )
            )
            findings.append(Self.deadLetter(attributes["RedrivePolicy"], queue: connection.queueARN))
            if let warning = SQSObjectSource.ledgerRetentionWarning(
                attributes["MessageRetentionPeriod"],
                settings: settings
            ) {
                findings.append(Finding(outcome: .warning, line: warning))
            }
        } catch {
            findings.append(Finding(outcome: .failed, line: "SQS queue \(queue): NOT readable: \(Self.explain(error))"))
        }
        if locations.isEmpty {
            findings.append(
                Finding(
                    outcome: .warning,
                    line:
                        "S3: not checked; give the buckets the queue's notifications name (s3://bucket/prefix) to check listing and reading their objects"
                )
            )
        }
        let client = s3 ?? Result { try source.objectAccess().s3 }
        for location in locations {
            findings += await Self.check(location, s3: client, source: source, logger: logger)
        }
        return findings
    }

    /// The queue's redrive policy, which is what removes a message Trawl never deletes (a poison message, an
    /// object that cannot be read) from the queue.
    static func deadLetter(_ policy: String?, queue: String) -> Finding {
        struct RedrivePolicy: Decodable {
            var deadLetterTargetArn: String?
            var maxReceiveCount: String?

            init(from decoder: any Decoder) throws {
                let container = try decoder.container(keyedBy: CodingKeys.self)
                self.deadLetterTargetArn = try container.decodeIfPresent(String.self, forKey: .deadLetterTargetArn)
                if let count = try? container.decodeIfPresent(Int.self, forKey: .maxReceiveCount) {
                    self.maxReceiveCount = String(count)
                } else {
                    self.maxReceiveCount = try? container.decodeIfPresent(String.self, forKey: .maxReceiveCount)
                }
            }

            enum CodingKeys: String, CodingKey { case deadLetterTargetArn, maxReceiveCount }
        }
        guard let policy, let redrive = try? JSONDecoder().decode(RedrivePolicy.self, from: Data(policy.utf8)),
            let target = redrive.deadLetterTargetArn
        else {
            return Finding(
                outcome: .warning,
                line:
                    "SQS queue \(queue): no dead-letter queue. A message Trawl cannot process is left in the queue and received again and again; give the queue a redrive policy (a dead-letter queue and maxReceiveCount)"
            )
        }
        return Finding(
            outcome: .ok,
            line:
                "SQS queue \(queue): messages received \(redrive.maxReceiveCount ?? "?") times move to the dead-letter queue \(target)"
        )
    }

    private static func check(
        _ location: S3BackfillSource.Location,
        s3 client: Result<S3Client, any Error>,
        source: SQSObjectSource,
        logger: Logger
    ) async -> [Finding] {
        var s3: S3Client
        do {
            s3 = try client.get()
        } catch {
            return [Finding(outcome: .failed, line: "\(location): NOT listable: \(Self.explain(error))")]
        }
        var listing: S3ObjectListing?
        var elsewhere = ""
        while listing == nil {
            do {
                listing = try await s3.listObjects(
                    bucket: location.bucket,
                    prefix: location.prefix,
                    maxKeys: 100,
                    logger: logger
                )
            } catch let error as TrawlError {
                guard elsewhere.isEmpty, let moved = S3BackfillSource.client(s3, forBucketOf: error) else {
                    return [Finding(outcome: .failed, line: "\(location): NOT listable: \(Self.explain(error))")]
                }
                s3 = moved
                elsewhere = " (the bucket is in \(moved.region), not the service's region)"
            } catch {
                return [Finding(outcome: .failed, line: "\(location): NOT listable: \(Self.explain(error))")]
            }
        }
        let listed = Finding(outcome: .ok, line: "\(location): listable\(elsewhere)")
        let object = listing?.objects.first { summary in
            !summary.isFolderMarker && source.configuration.reads(key: summary.key)
        }
        guard let object else {
            return [
                listed,
                Finding(outcome: .warning, line: "\(location): no object the service reads in its first 100 keys"),
            ]
        }
        let name = "s3://\(location.bucket)/\(object.key)"
        do {
            // The last byte: GetObject and, for SSE-KMS objects, kms:Decrypt, without downloading the object.
            let stream = try await s3.getObject(
                bucket: location.bucket,
                key: object.key,
                offset: max(0, object.size - 1),
                maxResumes: 0,
                logger: logger
            )
            for try await _ in stream {}
            return [listed, Finding(outcome: .ok, line: "\(name): readable")]
        } catch {
            return [listed, Finding(outcome: .failed, line: "\(name): NOT readable: \(Self.explain(error))")]
        }
    }

    private static func explain(_ error: any Error) -> String {
        guard let error = error as? TrawlError else { return "\(error)" }
        var text = "\(error.code): \(error.message)"
        if let underlying = error.underlying { text += " (\(underlying))" }
        return text + ". \(error.fix)"
    }
}
