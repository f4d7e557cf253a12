/// The codes the core runtime raises. Collector libraries add their own codes in their own ranges:
/// SetupError 1-99, PersistenceError 200-299, SourceError 300-399, SinkError 500-599.
extension TrawlError.Code {
    public static let configurationUnreadable = Self(
        kind: "SetupError",
        id: 1,
        title: "configuration file cannot be read",
        cause: "The path given to --config does not exist or is not readable by the user running Trawl.",
        fix: "Check the path and its permissions; it is resolved from the current working directory."
    )
    public static let configurationSyntax = Self(
        kind: "SetupError",
        id: 2,
        title: "configuration is not valid YAML or JSON",
        cause: "The file has a syntax error (bad indentation, a tab, an unclosed quote or bracket).",
        fix: "Fix the syntax at the line and column given; `trawl validate --config FILE` re-checks it."
    )
    public static let environmentVariableMissing = Self(
        kind: "SetupError",
        id: 3,
        title: "environment variable referenced but not set",
        cause: "A value uses ${NAME} substitution and NAME is not in the environment of the Trawl process.",
        fix: "Export the variable before starting Trawl, or write ${NAME:-default} to give a default."
    )
    public static let settingMissing = Self(
        kind: "SetupError",
        id: 4,
        title: "required setting missing",
        cause: "A setting the collector needs is absent.",
        fix: "Add the setting at the path given."
    )
    public static let settingWrongType = Self(
        kind: "SetupError",
        id: 5,
        title: "setting not of expected type",
        cause: "The value has another type than expected (e.g. text where a number, or a list where an object).",
        fix: "Give the setting a value of the expected type."
    )
    public static let settingWrongFormat = Self(
        kind: "SetupError",
        id: 6,
        title: "setting does not match its expected format",
        cause: "The value has the right type but not the expected shape (URL, name, one of a fixed set of words).",
        fix: "Rewrite the value in the format given."
    )
    public static let settingOutOfRange = Self(
        kind: "SetupError",
        id: 7,
        title: "setting out of range",
        cause: "A number is below the minimum or above the maximum allowed.",
        fix: "Use a value within the limits given."
    )
    public static let settingUnknown = Self(
        kind: "SetupError",
        id: 8,
        title: "unknown setting",
        cause: "A key is not a setting of this section, usually a typo; Trawl refuses it rather than ignore it.",
        fix: "Remove the key or correct its spelling (the closest known setting is suggested)."
    )
    public static let historicalPollTooOld = Self(
        kind: "SetupError",
        id: 9,
        title: "historical_poll_datetime older than one year",
        cause:
            "The start date of a service's first pull is more than one year in the past, and the service has no saved state to resume from (one that has does not use the date).",
        fix: "Use a date no older than one year."
    )
    public static let historicalPollInFuture = Self(
        kind: "SetupError",
        id: 10,
        title: "historical_poll_datetime in the future",
        cause: "The start date for the first pull is after the current date.",
        fix: "Use a date no later than now."
    )
    public static let noEnabledInput = Self(
        kind: "SetupError",
        id: 11,
        title: "no enabled input",
        cause: "The inputs section is empty or every input has enabled: false, so Trawl would collect nothing.",
        fix: "Add an input under inputs, or set enabled: true on one."
    )
    public static let noOutput = Self(
        kind: "SetupError",
        id: 12,
        title: "no output",
        cause: "The outputs section is missing or empty, so collected events would have nowhere to go.",
        fix: "Add an output under outputs (type console, file, ...)."
    )
    public static let inputTypeUnknown = Self(
        kind: "SetupError",
        id: 13,
        title: "unknown input type",
        cause: "The input's type (or, without type, its name) is not a collector this Trawl build has.",
        fix: "Use one of the input types listed in the message."
    )
    public static let serviceUnknown = Self(
        kind: "SetupError",
        id: 14,
        title: "unknown service for this input",
        cause: "A key under services is not a service of this input type.",
        fix: "Use one of the services listed in the message."
    )
    public static let outputTypeUnknown = Self(
        kind: "SetupError",
        id: 15,
        title: "unknown output type",
        cause: "The output's type is not a sender this Trawl build has.",
        fix: "Use one of the output types listed in the message."
    )
    public static let inputIDDuplicated = Self(
        kind: "SetupError",
        id: 16,
        title: "input id used twice",
        cause: "Two inputs share an id; the id builds the persistence address, so their states would collide.",
        fix: "Give every input its own id."
    )
    public static let outputForKindMissing = Self(
        kind: "SetupError",
        id: 18,
        title: "no output takes what an input produces",
        cause:
            "An input produces lookup updates (or records) and no output takes them: lookups need a devo_lookups output or lookups: syslog on a syslog-framed output, records need any output but devo_lookups.",
        fix:
            "Add an output that takes them, e.g. a devo_lookups output for the Lookups REST API, or set lookups: syslog on a devo, relay, syslog, file or console output."
    )

    public static let stateUnreadable = Self(
        kind: "PersistenceError",
        id: 200,
        title: "saved state cannot be read",
        cause: "The state file exists but is not valid Trawl state (edited by hand, or written by another program).",
        fix: "Inspect the file; move it aside to start this service afresh, or restore it from a backup."
    )
    public static let stateWriteFailed = Self(
        kind: "PersistenceError",
        id: 201,
        title: "state cannot be saved",
        cause: "Writing or syncing the state file failed (disk full, permissions, read-only filesystem).",
        fix: "Free disk space or fix the permissions of the persistence directory; the last good state is kept."
    )
    public static let persistenceDirectoryUnusable = Self(
        kind: "PersistenceError",
        id: 202,
        title: "persistence directory cannot be used",
        cause:
            "The directory in globals.persistence.directory cannot be created or is not a directory, or a file in it that Trawl locks (a service's lease, the objects being read) cannot be opened or locked (a filesystem without working locks).",
        fix:
            "Point globals.persistence.directory at a writable directory on a filesystem with working locks (a local one; NFS with its lock service)."
    )

    public static let spoolFailed = Self(
        kind: "PersistenceError",
        id: 203,
        title: "output spool cannot be used",
        cause:
            "The on-disk spool of an output (globals.persistence.directory/<id>/spool) cannot be opened, written or read (disk full, permissions), or another running Trawl with the same persistence directory and globals.id holds it.",
        fix:
            "Free disk space or fix the permissions of the persistence directory; give each instance that shares the directory its own globals.instance. Events not yet spooled stay unacknowledged and are pulled again."
    )
    public static let stateDatabaseFailed = Self(
        kind: "PersistenceError",
        id: 204,
        title: "state database cannot be used",
        cause:
            "The PostgreSQL database of globals.persistence (type: postgres) cannot be reached, refuses the user or password, or a statement on Trawl's tables failed.",
        fix:
            "Check host, port, database, username, password and tls in globals.persistence, that the server accepts this host and the user may create tables; the service tries again at its next cycle and commits nothing meanwhile."
    )
    public static let spoolDamaged = Self(
        kind: "PersistenceError",
        id: 205,
        title: "output spool was damaged",
        cause:
            "Opening an output's spool found a record whose checksum fails or whose length is damaged (damage by the disk or filesystem, or a power loss), so it cannot be read as events, or a saved head offset inside a record. Unless the damage is the last append of a crash, its events were acknowledged to their source when spooled.",
        fix:
            "Everything from the damage on was copied to the file the message names, beside the spool; the damaged stretches were overwritten by records of no events, and every whole record before and after them is delivered (a stretch with no whole record after it is cut). Only the events of the damaged records are not sent again by Trawl: check the disk, and re-collect that period from the source if they matter. A head inside a record resumes from that record's start, which may send its events twice."
    )
    public static let sourceReadFailed = Self(
        kind: "SourceError",
        id: 300,
        title: "source data cannot be read",
        cause: "A file or object the input should read is missing or unreadable.",
        fix: "Check the path and permissions; the input retries on its next pull cycle."
    )

    public static let sinkWriteFailed = Self(
        kind: "SinkError",
        id: 500,
        title: "output cannot write",
        cause: "The output failed to write or flush a batch (path not writable, disk full, peer gone).",
        fix: "Fix the output's destination; Trawl retries with backoff and commits nothing until it succeeds."
    )
    public static let sinkUndeliveredAtShutdown = Self(
        kind: "SinkError",
        id: 501,
        title: "events not delivered before shutdown",
        cause: "Trawl stopped while an output was still failing or slow; those events were not acknowledged.",
        fix: "Nothing is lost: their source was not committed and they are pulled again at the next start."
    )

    /// Every code the core defines, for documentation and coverage tests.
    public static let coreCatalogue: [Self] = [
        .configurationUnreadable, .configurationSyntax, .environmentVariableMissing, .settingMissing,
        .settingWrongType, .settingWrongFormat, .settingOutOfRange, .settingUnknown, .historicalPollTooOld,
        .historicalPollInFuture, .noEnabledInput, .noOutput, .inputTypeUnknown, .serviceUnknown,
        .outputTypeUnknown, .inputIDDuplicated, .outputForKindMissing, .stateUnreadable, .stateWriteFailed,
        .persistenceDirectoryUnusable, .spoolFailed, .stateDatabaseFailed, .spoolDamaged, .sourceReadFailed,
        .sinkWriteFailed, .sinkUndeliveredAtShutdown,
    ]
}
