import NIOCore

/// How an object's (decompressed) bytes split into records: the processors of the S3 collectors' services.
public enum RecordFormat: Sendable, Equatable, CustomStringConvertible {
    /// One JSON value per line (Cloud Funnel, most SaaS exports); blank lines are skipped.
    case jsonLines
    /// One JSON document whose list field holds the records (CloudTrail's `Records`, or a dotted path through
    /// nested objects such as EventBridge's `detail.findings`); each element is a record.
    case jsonDocument(listField: String)
    /// One JSON array; each element is a record.
    case jsonArray
    /// Comma-separated values with a header line (RFC 4180 quoting); each row becomes a JSON object.
    case csv
    /// Tab-separated values with a header line; each row becomes a JSON object.
    case tsv
    /// VPC flow logs in text: a header line naming the fields, space-separated rows, `-` for absent; each row
    /// becomes a JSON object of the fields present.
    case vpcFlow
    /// CloudWatch Logs subscription data delivered to S3 by Firehose: each log event of each document is a
    /// record, as a JSON object with its log group and stream, or (`messageOnly`) its message text alone.
    case cloudWatchLogs(messageOnly: Bool)
    /// Each non-empty line is a record, as is.
    case lines
    /// The whole object is one record (at most `maxBytes`).
    case wholeObject(maxBytes: Int)
    /// Apache Parquet (Amazon Security Lake): each row is a record, rendered as a JSON object. Every other
    /// processor also reads an object that turns out to be Parquet this way; this one refuses anything else.
    case parquet

    public var description: String {
        switch self {
        case .jsonLines: return "json_lines"
        case .jsonDocument(let field): return "json_document (list field \(field))"
        case .jsonArray: return "json_array"
        case .csv: return "csv"
        case .tsv: return "tsv"
        case .vpcFlow: return "vpc_flow"
        case .cloudWatchLogs(let messageOnly):
            return messageOnly ? "cloudwatch_logs (messages only)" : "cloudwatch_logs"
        case .lines: return "lines"
        case .wholeObject: return "whole_object"
        case .parquet: return "parquet"
        }
    }

    /// A fresh splitter for one object, refusing records longer than `maxRecordBytes`. `columns` names the
    /// columns of `csv` and `tsv` objects that have no header line (every line is a row).
    public func makeSplitter(
        maxRecordBytes: Int = RecordFormat.defaultMaxRecordBytes,
        columns: [String]? = nil
    ) -> RecordSplitter {
        RecordSplitter(format: self, maxRecordBytes: maxRecordBytes, columns: columns)
    }

    /// Whether `record` is a CloudWatch Logs subscription document (`messageType`, `logEvents`), which the
    /// `cloudwatch_logs` processor splits into its log events: a service with another processor that meets
    /// one was likely chosen by mistake.
    public static func isCloudWatchLogsDocument(_ record: ByteBuffer) -> Bool {
        CloudWatchLogsSplitter.isDocument(record)
    }

    /// `record_max_bytes` by default: far above any real log record (a CloudTrail record, a CloudWatch Logs
    /// document of 1 MiB compressed), low enough that a few objects at once cannot exhaust memory.
    public static let defaultMaxRecordBytes = 16 << 20
}

/// Why an object's content does not fit its processor, for the SourceError 302 message.
public struct RecordFormatFailure: Error, Sendable, CustomStringConvertible {
    public var description: String

    /// A failure saying `description`; a reader adds where in the object it lies.
    public init(description: String) {
        self.description = description
    }
}
