import Foundation
import TrawlAWS
import TrawlCore
import TrawlFormats

#if canImport(Glibc)
import Glibc
#endif

/// `inputs.<name>.services.<service>` of the S3+SQS inputs (`aws_sqs`, `sentinelone_cloud_funnel`): the
/// queue to follow, how to acknowledge it, and how to turn its objects into events. The seeds' settings
/// keep their names and ranges.
public struct SQSObjectSettings: Decodable, Sendable {
    /// The queue's URL (`https://sqs.<region>.amazonaws.com/<account>/<name>`); or `queueName`.
    public var baseURL: String?
    public var queueName: String?
    public var queueOwnerAccountID: String?
    public var region: String
    /// One endpoint for S3, SQS and STS instead of AWS's (an emulator, a VPC endpoint proxy).
    public var endpointURL: String?
    /// The endpoint of one service, before `endpointURL`: services reached at different hosts, as FIPS
    /// endpoints (`s3-fips.<region>.amazonaws.com`) and VPC interface endpoints without private DNS are.
    public var s3EndpointURL: String?
    public var sqsEndpointURL: String?
    public var stsEndpointURL: String?
    public var s3Addressing: S3Client.Addressing?
    /// Delete each message once every event of its objects was delivered; false never deletes.
    public var ackMessages: Bool
    /// Whether `ack_messages` was written: the seeds' S3 collectors require it, Security Lake's does not.
    public var ackMessagesGiven: Bool
    public var visibilityTimeout: Int
    /// How often a message still being processed has its visibility extended; a third of the timeout by default.
    public var visibilityHeartbeat: Int
    public var waitTimeout: Int
    public var maxMessages: Int
    /// Messages (and so objects) processed at once. One more than the cores by default: while an object's
    /// last events are delivered and the next message is fetched and its object requested, the other objects
    /// keep every core busy (measured: 1 core 1.32 s with one at once, 1.21 s with two; 2 cores 0.90 s with
    /// two, 0.84 s with three; scripts/bench).
    public var concurrency: Int
    /// A message that is no notification is logged each time it is received; from this receive count on,
    /// it is reported as waiting for the queue's redrive policy.
    public var poisonReceiveCount: Int
    public var compressedEvents: Bool
    public var doNotSend: Bool
    public var debugMD5: Bool
    public var tag: String?
    /// Whether `tag` was written (a tag given in a bad format is reported as such, not also as missing).
    public var tagGiven: Bool
    public var keyTags: [RecordTagger.KeyTag]
    public var tagField: String?
    public var tagMapping: [String: String]
    public var tagDefault: String?
    public var fallbackTag: String?
    public var includeKeys: [KeyPattern]?
    public var excludeKeys: [KeyPattern]?
    public var listField: String
    /// `cloudwatch_logs`: each log event's message text alone, instead of a JSON object with its log group.
    public var cloudWatchMessageOnly: Bool
    /// What the objects' text is written in; converted to UTF-8 before it is split into records.
    public var encoding: TextEncoding
    public var wholeObjectMaxBytes: Int
    /// The column names of `csv` and `tsv` objects written without a header line (Cisco Umbrella's
    /// exports); nil when each object's first line names them.
    public var columns: [String]?
    /// The longest record held while its end has not arrived; longer fails the object (SourceError 302).
    public var recordMaxBytes: Int
    public var recordsPerCommit: Int
    public var ledgerRetentionHours: Int
    /// Fields hidden before delivery (the seeds' source events obfuscation).
    public var obfuscate: [RecordObfuscator.Rule]
    /// The secret of `hash` rules; from the environment (`${TRAWL_OBFUSCATION_KEY}`), never logged.
    public var obfuscationKey: String?
    /// OCSF records: the tag gains the record's `class_name` as a last word.
    public var tagPerClass: Bool
    /// Parquet rows keep their null fields (`"a":null`) instead of leaving them out.
    public var parquetKeepNulls: Bool
    /// Only these top-level fields of Parquet rows are read and sent; nil for all.
    public var parquetFields: [String]?
    /// Where Parquet objects are downloaded before they are read (they are read from their end).
    public var parquetSpoolDirectory: String
    /// The most a Parquet row group may claim uncompressed; a larger one is refused (SourceError 304).
    public var parquetMaxRowGroupMegabytes: Int
    public var common: CommonServiceSettings

    enum CodingKeys: String, CodingKey, CaseIterable {
        case baseURL = "base_url"
        case queueName = "queue_name"
        case queueOwnerAccountID = "queue_owner_account_id"
        case region
        case endpointURL = "endpoint_url"
        case s3EndpointURL = "s3_endpoint_url"
        case sqsEndpointURL = "sqs_endpoint_url"
        case stsEndpointURL = "sts_endpoint_url"
        case s3Addressing = "s3_addressing"
        case ackMessages = "ack_messages"
        case visibilityTimeout = "sqs_visibility_timeout"
        case visibilityHeartbeat = "sqs_visibility_heartbeat_in_seconds"
        case waitTimeout = "sqs_wait_timeout"
        case maxMessages = "sqs_max_messages"
        case concurrency
        case poisonReceiveCount = "poison_receive_count"
        case compressedEvents = "compressed_events"
        case doNotSend = "do_not_send"
        case debugMD5 = "debug_md5"
        case directMode = "direct_mode"
        case tag
        case keyTags = "key_tags"
        case tagField = "tag_field"
        case tagMapping = "tag_mapping"
        case tagDefault = "tag_default"
        case fallbackTag = "fallback_tag"
        case includeKeys = "include_keys"
        case excludeKeys = "exclude_keys"
        case listField = "list_field"
        case cloudWatchMessageOnly = "cloudwatch_message_only"
        case encoding
        case wholeObjectMaxBytes = "whole_object_max_bytes"
        case recordMaxBytes = "record_max_bytes"
        case recordsPerCommit = "records_per_commit"
        case ledgerRetentionHours = "ledger_retention_hours"
        case obfuscate
        case obfuscationKey = "obfuscation_key"
        case tagPerClass = "tag_per_class"
        case parquetKeepNulls = "parquet_keep_nulls"
        case parquetFields = "parquet_fields"
        case columns
        case parquetSpoolDirectory = "parquet_spool_directory"
        case parquetMaxRowGroupMegabytes = "parquet_max_row_group_megabytes"
        case requestPeriodInSeconds = "request_period_in_seconds"
        case resetPersistenceAuth = "reset_persistence_auth"
    }

    /// One `key_tags` entry.
    struct KeyTagSetting: Decodable {
        var tag: RecordTagger.KeyTag?

        enum CodingKeys: String, CodingKey, CaseIterable {
            case pattern
            case tag
        }

        init(from decoder: any Decoder) throws {
            let settings = SettingsReader(decoder, keys: CodingKeys.self)
            let pattern = settings.string(.pattern, required: true)
            let tag = settings.string(.tag, required: true, format: devoTagFormat, isValid: isDevoTag)
            if let pattern, let tag { self.tag = RecordTagger.KeyTag(pattern: KeyPattern(pattern), tag: tag) }
        }
    }

    public init(from decoder: any Decoder) throws {
        let settings = SettingsReader(decoder, keys: CodingKeys.self)
        self.baseURL = settings.string(
            .baseURL,
            format: "a queue URL, e.g. https://sqs.us-east-1.amazonaws.com/123456789012/my-queue",
            isValid: { AWSEndpoint(url: $0) != nil && $0.split(separator: "/").count >= 4 }
        )
        self.queueName = settings.string(
            .queueName,
            format: "1-80 letters, digits, - and _ (.fifo allowed at the end)",
            isValid: isQueueName
        )
        self.queueOwnerAccountID = settings.string(
            .queueOwnerAccountID,
            format: "a 12-digit AWS account id",
            isValid: { $0.count == 12 && $0.allSatisfy(\.isNumber) }
        )
        let queueRegion = self.baseURL.flatMap { AWSEndpoint(url: $0)?.sqsRegion }
        let region = settings.string(
            .region,
            required: queueRegion == nil,
            format: "an AWS region such as us-east-1",
            isValid: isRegion
        )
        self.region = region ?? queueRegion ?? "us-east-1"
        if let queueRegion, !settings.contains(.region) {
            // Required as the seed has it; the fix can say which value, since base_url names it.
            settings.record(
                .settingMissing,
                "required setting region not found",
                at: CodingKeys.region,
                fix: "Add region: \(queueRegion), the region in base_url."
            )
        }
        if let region, let queueRegion, queueRegion != region {
            settings.record(
                .settingWrongFormat,
                "region is \(region) but base_url names a queue in \(queueRegion); requests signed for \(region) "
                    + "would be refused by SQS",
                at: CodingKeys.region,
                fix: "Set region to \(queueRegion), the region in base_url (or correct base_url)."
            )
        }
        func endpoint(_ key: CodingKeys, example: String) -> String? {
            settings.string(key, format: "an http(s) URL such as \(example)", isValid: { AWSEndpoint(url: $0) != nil })
        }
        self.endpointURL = endpoint(.endpointURL, example: "http://127.0.0.1:5000")
        self.s3EndpointURL = endpoint(.s3EndpointURL, example: "https://s3-fips.us-east-1.amazonaws.com")
        self.sqsEndpointURL = endpoint(.sqsEndpointURL, example: "https://sqs-fips.us-east-1.amazonaws.com")
        self.stsEndpointURL = endpoint(.stsEndpointURL, example: "https://sts-fips.us-east-1.amazonaws.com")
        self.s3Addressing = settings.string(.s3Addressing, allowed: S3Client.Addressing.allCases.map(\.rawValue))
            .flatMap(S3Client.Addressing.init(rawValue:))
        let ackMessages = settings.value(.ackMessages, as: Bool.self)
        self.ackMessages = ackMessages ?? true
        self.ackMessagesGiven = settings.contains(.ackMessages)
        self.visibilityTimeout = settings.int(.visibilityTimeout, default: 120, range: 120...43_200) ?? 120
        self.visibilityHeartbeat =
            settings.int(
                .visibilityHeartbeat,
                default: self.visibilityTimeout / 3,
                range: 1...(self.visibilityTimeout - 1)
            )
            ?? self.visibilityTimeout / 3
        self.waitTimeout = settings.int(.waitTimeout, default: 20, range: 0...20) ?? 20
        self.maxMessages = settings.int(.maxMessages, default: 10, range: 1...10) ?? 10
        let cores = max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
        self.concurrency = settings.int(.concurrency, default: cores + 1, range: 1...256) ?? cores + 1
        self.poisonReceiveCount = settings.int(.poisonReceiveCount, default: 5, range: 1...1_000) ?? 5
        self.compressedEvents = settings.bool(.compressedEvents, default: false)
        self.doNotSend = settings.bool(.doNotSend, default: false)
        self.debugMD5 = settings.bool(.debugMD5, default: false)
        _ = settings.bool(.directMode, default: false)
        self.tag = settings.string(.tag, format: devoTagFormat, isValid: isDevoTag)
        self.tagGiven = settings.contains(.tag)
        self.keyTags = (settings.value(.keyTags, as: [KeyTagSetting].self) ?? []).compactMap(\.tag)
        self.tagField = settings.string(
            .tagField,
            format: "a field name or dotted path such as eventSource or userIdentity.type",
            isValid: isFieldPath
        )
        self.tagMapping = settings.textMap(.tagMapping) ?? [:]
        for (value, tag) in self.tagMapping where !isDevoTag(tag) {
            settings.record(
                .settingWrongFormat,
                "tag_mapping maps \"\(value)\" to \"\(tag)\", which is not a Devo tag (\(devoTagFormat))",
                at: CodingKeys.tagMapping
            )
        }
        if !self.tagMapping.isEmpty, !settings.contains(.tagField) {
            settings.record(
                .settingMissing,
                "required setting tag_field not found: tag_mapping needs the record field it maps",
                at: CodingKeys.tagField,
                fix: "Add tag_field: the top-level field of each record whose value picks the tag (e.g. eventSource)."
            )
        }
        self.tagDefault = settings.string(.tagDefault, format: devoTagFormat, isValid: isDevoTag)
        self.fallbackTag = settings.string(.fallbackTag, format: devoTagFormat, isValid: isDevoTag)
        self.includeKeys = settings.value(.includeKeys, as: [String].self).map { $0.map(KeyPattern.init) }
        self.excludeKeys = settings.value(.excludeKeys, as: [String].self).map { $0.map(KeyPattern.init) }
        self.listField =
            settings.string(
                .listField,
                default: "Records",
                format: "the key of the list, or a dotted path to it, such as Records or detail.findings",
                isValid: isFieldPath
            ) ?? "Records"
        self.cloudWatchMessageOnly = settings.bool(.cloudWatchMessageOnly, default: false)
        self.encoding =
            settings.string(.encoding, allowed: TextEncoding.names).flatMap(TextEncoding.init(rawValue:)) ?? .utf8
        self.wholeObjectMaxBytes =
            settings.int(.wholeObjectMaxBytes, default: 8 << 20, range: 1...(64 << 20)) ?? 8 << 20
        self.recordMaxBytes =
            settings.int(
                .recordMaxBytes,
                default: RecordFormat.defaultMaxRecordBytes,
                range: 1_024...(1 << 30)
            ) ?? RecordFormat.defaultMaxRecordBytes
        self.recordsPerCommit = settings.int(.recordsPerCommit, default: 10_000, range: 1...1_000_000) ?? 10_000
        self.ledgerRetentionHours = settings.int(.ledgerRetentionHours, default: 168, range: 1...8_760) ?? 168
        let obfuscation = ObfuscationSettings(settings, rules: .obfuscate, key: .obfuscationKey)
        self.obfuscate = obfuscation.rules
        self.obfuscationKey = obfuscation.key
        self.tagPerClass = settings.bool(.tagPerClass, default: false)
        self.parquetKeepNulls = settings.bool(.parquetKeepNulls, default: false)
        self.columns = settings.value(.columns, as: [String].self)
        if let columns = self.columns,
            columns.isEmpty || columns.contains(where: \.isEmpty) || Set(columns).count < columns.count
        {
            settings.record(
                .settingWrongFormat,
                "columns must name each column once, none empty: \(columns)",
                at: CodingKeys.columns,
                fix: "List the names of the objects' columns in order, e.g. [timestamp, user, src_ip, action]."
            )
        }
        self.parquetFields = settings.value(.parquetFields, as: [String].self)
        if self.parquetFields?.isEmpty == true {
            settings.record(
                .settingWrongFormat,
                "parquet_fields is empty: every row would be {}",
                at: CodingKeys.parquetFields,
                fix:
                    "List the top-level fields to keep (e.g. [time, class_uid, actor, src_endpoint]), or remove parquet_fields to keep all."
            )
        }
        let temporary = ProcessInfo.processInfo.environment["TMPDIR"].flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp"
        self.parquetSpoolDirectory =
            settings.string(
                .parquetSpoolDirectory,
                format: "an existing directory",
                isValid: { isDirectory($0) }
            ) ?? temporary
        self.parquetMaxRowGroupMegabytes =
            settings.int(.parquetMaxRowGroupMegabytes, default: 1_024, range: 1...65_536) ?? 1_024
        self.common = settings.commonServiceSettings(
            requestPeriod: .requestPeriodInSeconds,
            resetPersistenceAuth: .resetPersistenceAuth,
            defaultPeriod: 5
        )
        if settings.contains(.baseURL) == settings.contains(.queueName) {
            let neither = !settings.contains(.baseURL)
            settings.record(
                .settingMissing,
                neither
                    ? "required setting base_url not found (or queue_name)" : "base_url and queue_name are both given",
                at: CodingKeys.baseURL,
                fix: neither
                    ? "Add base_url: the queue's URL, e.g. https://sqs.us-east-1.amazonaws.com/123456789012/my-queue (or queue_name with region)."
                    : "Give the queue as base_url (its URL) or as queue_name (with region), not both."
            )
        }
    }
}

let devoTagFormat = "dot-separated lowercase words, e.g. my.app.trawl.demo"

func isDirectory(_ path: String) -> Bool {
    var status = stat()
    return stat(path, &status) == 0 && (status.st_mode & S_IFMT) == S_IFDIR
}

func isQueueName(_ text: String) -> Bool {
    let name = text.hasSuffix(".fifo") ? String(text.dropLast(5)) : text
    return (1...80).contains(text.count)
        && name.utf8.allSatisfy {
            AWSPercentEncoding.isUnreserved($0) && $0 != UInt8(ascii: ".") && $0 != UInt8(ascii: "~")
        }
}

public func isRegion(_ text: String) -> Bool {
    let parts = text.split(separator: "-")
    return parts.count >= 3 && text.utf8.allSatisfy { ($0 >= 97 && $0 <= 122) || ($0 >= 48 && $0 <= 57) || $0 == 45 }
}
