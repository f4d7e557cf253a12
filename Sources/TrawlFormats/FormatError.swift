import TrawlCore

/// The codes for objects whose content Trawl cannot read: SourceErrors 301-305.
extension TrawlError.Code {
    public static let objectCorrupt = Self(
        kind: "SourceError",
        id: 301,
        title: "object cannot be decompressed",
        cause:
            "The object's bytes start like gzip, zstd, snappy or bzip2 but do not decompress (truncated upload, corrupt data, a checksum mismatch), or its first bytes are no such format's and not text (damaged magic bytes, or an object that is no log): with a suffix naming a compression (.gz, .zst, .sz, .bz2), control bytes; without one, control bytes that are not UTF-8.",
        fix:
            "Inspect the object named in the message (download it and run gzip -t or zstd -t); its message stays in the queue and goes to the dead-letter queue after its receive count."
    )
    public static let objectFormatMismatch = Self(
        kind: "SourceError",
        id: 302,
        title: "object content does not fit the service's processor",
        cause:
            "The processor expects another shape (a JSON document with a list field, a JSON array, a header line, JSON objects back to back with nothing but blanks between them) or a record exceeds the size limit.",
        fix:
            "Choose the service whose processor matches the objects (json_lines, json_document, json_array, csv, tsv, vpc_flow, cloudwatch_logs, lines, whole_object, parquet) or exclude these keys with exclude_keys; raise record_max_bytes (or whole_object_max_bytes) if its records are legitimately longer."
    )
    public static let notificationUnrecognised = Self(
        kind: "SourceError",
        id: 303,
        title: "SQS message is not an S3 notification",
        cause:
            "The message body is neither an S3 event, an SNS-wrapped S3 event, an EventBridge Object Created event, an s3:TestEvent nor a CrowdStrike FDR file list (or it names something that is no bucket name): something else writes to the queue.",
        fix:
            "Trawl leaves the message in the queue; give the queue a redrive policy so it moves to a dead-letter queue, and find what sends such messages."
    )

    public static let parquetUnreadable = Self(
        kind: "SourceError",
        id: 304,
        title: "Parquet object cannot be read",
        cause:
            "The object starts with the PAR1 magic but its footer, page headers or values are corrupt or truncated, it uses a Parquet feature Trawl's reader does not implement, or a row group claims more memory than parquet_max_row_group_megabytes allows; the message names the object, row group and column.",
        fix:
            "Download the object and open it with pyarrow (pyarrow.parquet.read_table) to see whether it is damaged; its message stays in the queue and goes to the dead-letter queue after its receive count. For an unsupported feature, report the file's created_by (pyarrow.parquet.read_metadata); for a legitimate row group past the limit, raise parquet_max_row_group_megabytes."
    )
    public static let recordNotObfuscatable = Self(
        kind: "SourceError",
        id: 305,
        title: "record cannot be obfuscated",
        cause:
            "The service has obfuscate rules but one of its records cannot be obfuscated: it is not a JSON object (the lines or whole_object processor, cloudwatch_message_only, a damaged record) or nests more than 64 levels deep along a rule's path; sending it unchanged could leak what the rules hide.",
        fix:
            "Use a processor that yields JSON objects for this service, or remove its obfuscate rules; the object's message stays in the queue until then."
    )

    /// Every code of the formats and S3 collectors, as listed in docs/errors.md.
    public static let formatsCatalogue: [Self] = [
        .objectCorrupt, .objectFormatMismatch, .notificationUnrecognised, .parquetUnreadable, .recordNotObfuscatable,
    ]
}
