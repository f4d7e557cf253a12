import TrawlCore
import TrawlFormats

/// `inputs.<name>.services.lines` of a `local_files` input.
public struct LocalFilesSettings: Decodable, Sendable {
    /// The directory whose files are read; each line of each file is one event.
    public var directory: String
    /// Only files whose name ends with this are read (all files when empty).
    public var fileSuffix: String
    /// The Devo table the events go to.
    public var tag: String
    /// Most lines acknowledged and committed together.
    public var linesPerCommit: Int
    /// The longest line held while its newline has not arrived; a longer one stops the file there
    /// (SourceError 306) instead of growing in memory without bound.
    public var recordMaxBytes: Int
    /// The files' character encoding; lines are delivered as UTF-8. A byte order mark at the start of a file
    /// overrides it.
    public var encoding: TextEncoding
    public var common: CommonServiceSettings

    enum CodingKeys: String, CodingKey, CaseIterable {
        case directory
        case fileSuffix = "file_suffix"
        case tag
        case linesPerCommit = "lines_per_commit"
        case recordMaxBytes = "record_max_bytes"
        case encoding
        case requestPeriodInSeconds = "request_period_in_seconds"
        case resetPersistenceAuth = "reset_persistence_auth"
    }

    public init(from decoder: any Decoder) throws {
        let settings = SettingsReader(decoder, keys: CodingKeys.self)
        self.directory = settings.string(.directory, required: true) ?? ""
        self.fileSuffix = settings.string(.fileSuffix, default: "") ?? ""
        self.tag =
            settings.string(
                .tag,
                required: true,
                format: "dot-separated lowercase words, e.g. my.app.trawl.demo",
                isValid: isDevoTag
            ) ?? ""
        self.linesPerCommit = settings.int(.linesPerCommit, default: 1_000, range: 1...1_000_000) ?? 1_000
        self.recordMaxBytes =
            settings.int(.recordMaxBytes, default: RecordFormat.defaultMaxRecordBytes, range: 1_024...(1 << 30))
            ?? RecordFormat.defaultMaxRecordBytes
        self.encoding =
            settings.string(.encoding, allowed: TextEncoding.names).flatMap(TextEncoding.init(rawValue:)) ?? .utf8
        self.common = settings.commonServiceSettings(
            requestPeriod: .requestPeriodInSeconds,
            resetPersistenceAuth: .resetPersistenceAuth,
            defaultPeriod: 60
        )
    }
}

/// A Devo table name: at least two dot-separated words of lowercase letters, digits, `_` and `-`.
public func isDevoTag(_ text: String) -> Bool {
    let parts = text.split(separator: ".", omittingEmptySubsequences: false)
    return parts.count >= 2
        && parts.allSatisfy { part in
            !part.isEmpty
                && part.utf8.allSatisfy { ($0 >= 97 && $0 <= 122) || ($0 >= 48 && $0 <= 57) || $0 == 95 || $0 == 45 }
        }
}
