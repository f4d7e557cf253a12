import Logging
import Metrics
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The log line format of the `trawl` command, close to the Devo collectors' so their users can read it:
/// `2026-11-23T10:22:57.146    INFO trawl -> message {key=value ...}`, written to standard error.
///
/// Every error logged is also counted in `trawl_errors_total`, labelled with its stable id (the `error.id`
/// metadata, e.g. `304`) or `unclassified`, so a dashboard sees errors by kind, and in `tally`
/// when one is given, so a run that ends can say whether it logged any.
public struct TrawlLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level
    private let label: String
    private let tally: LoggedErrorTally?

    public init(label: String, level: Logger.Level, tally: LoggedErrorTally? = nil) {
        self.label = label
        self.logLevel = level
        self.tally = tally
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { self.metadata[key] }
        set { self.metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var merged = self.metadata
        if let extra = event.metadata { merged.merge(extra) { $1 } }
        if event.level >= .error {
            let id = merged["error.id"].map { "\($0)" } ?? "unclassified"
            Counter(label: "trawl_errors_total", dimensions: [("error_id", id)]).increment()
            self.tally?.record(id)
        }
        let line = Self.format(
            timestamp: .now(),
            level: event.level,
            label: self.label,
            message: "\(event.message)",
            metadata: merged
        )
        var bytes = Array(line.utf8)
        _ = bytes.withUnsafeMutableBytes { writeAll(STDERR_FILENO, UnsafeRawBufferPointer($0)) }
    }

    /// One formatted line, ending in a newline.
    public static func format(
        timestamp: UTCTimestamp,
        level: Logger.Level,
        label: String,
        message: String,
        metadata: Logger.Metadata
    ) -> String {
        let name = level.rawValue.uppercased()
        let padded = String(repeating: " ", count: max(0, 8 - name.count)) + name
        var line = "\(timestamp.logPrefix) \(padded) \(label) -> \(message)"
        if !metadata.isEmpty {
            let pairs = metadata.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
            line += " {\(pairs.joined(separator: " "))}"
        }
        return line + "\n"
    }
}

/// The errors a process logged, by id: what `trawl run --once` and `trawl replay` read to exit non-zero
/// when something was left behind, as a scheduler running them needs to notice.
public final class LoggedErrorTally: Sendable {
    private let counts = Mutex<[String: Int]>([:])

    public init() {}

    /// Counts one error logged with `id` (an `error.id` such as `304`, or `unclassified`).
    public func record(_ id: String) {
        self.counts.withLock { $0[id, default: 0] += 1 }
    }

    /// How many errors were logged.
    public var total: Int { self.counts.withLock { $0.values.reduce(0, +) } }

    /// `SourceError 304 x2, unclassified x1`: the ids by count, most frequent first, named as the logs and
    /// docs/errors.md name them.
    public var summary: String {
        self.counts.withLock { counts in
            counts.sorted { ($1.value, $0.key) < ($0.value, $1.key) }
                .map { id, count in
                    let family = Int(id).flatMap(TrawlError.Code.family(ofID:)).map { "\($0) " } ?? ""
                    return "\(family)\(id) x\(count)"
                }
                .joined(separator: ", ")
        }
    }
}
