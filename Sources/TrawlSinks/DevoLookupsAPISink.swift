import Logging
import NIOCore
import NIOHTTP1
import TrawlCore

/// The `devo_lookups` output: lookup updates deployed through Devo's Lookups REST API
/// (`<url>/lookup/<domain>/<table>/deploy-csv`, Bearer token), the mechanism that replaces the legacy
/// `my.lookup.control` syslog protocol.
///
/// Each update is one multipart request, a `deploy-config` JSON part and a `csv` file part:
/// - a full update replaces the table (`PUT`, or `POST` when Devo answers 404 because the table is new);
/// - an incremental update sends its rows with `"append": true`, and its deletions in a second request
///   with `"append": true` and `"contribution": {"type": "del"}`.
/// Both are idempotent, so retrying an update that failed halfway is safe. Updates are sent in order; when
/// one fails, those before it are reported delivered (``PartialDelivery``).
public final class DevoLookupsAPISink: EventSink {
    public struct Configuration: Sendable {
        /// The Lookups API base, `https://api-us.devo.com/lookup-api` (or -eu, -ca, ...).
        public var url: String
        public var domain: String
        public var token: String
        public var timeout: Duration = .seconds(120)
        /// Where errors point in the configuration (`outputs.lookups.settings`).
        public var location: String
        /// The egress proxy of the environment; the one for `url` is used, unless `NO_PROXY` names its host.
        public var proxy = HTTPProxySettings()

        public init(url: String, domain: String, token: String, location: String) {
            self.url = url
            self.domain = domain
            self.token = token
            self.location = location
        }
    }

    public let name: String
    public let configuration: Configuration
    private let transport: DevoHTTPTransport
    private let logger: Logger
    private let boundary: @Sendable () -> String

    public init(
        name: String,
        configuration: Configuration,
        logger: Logger,
        boundary: @escaping @Sendable () -> String = { "trawl-\(UInt64.random(in: 0...UInt64.max))" }
    ) {
        self.name = name
        self.configuration = configuration
        self.logger = logger
        self.boundary = boundary
        self.transport = DevoHTTPTransport(
            output: name,
            url: configuration.url,
            location: configuration.location,
            timeout: configuration.timeout,
            proxy: configuration.proxy.server(forURL: configuration.url),
            logger: logger
        )
    }

    public var accepts: EventKinds { .lookups }

    public func write(_ batches: [EventBatch]) async throws {
        var updates: [(position: Int, update: LookupUpdate)] = []
        var malformed: [Int] = []
        var problem: LookupUpdateMalformed?
        for (position, event) in batches.flatMap(\.events).enumerated() {
            do {
                updates.append((position, try LookupUpdate(decoding: event.body)))
            } catch {
                malformed.append(position)
                problem = problem ?? error
            }
        }
        if let problem {
            throw EventsRefused.malformedLookups(
                malformed,
                problem,
                output: self.name,
                location: self.configuration.location
            )
        }
        try await sendInOrder(updates.map { ([$0.position], $0) }) { position, update in
            try await self.deploy(update, position: position)
        }
    }

    private func deploy(_ update: LookupUpdate, position: Int) async throws {
        switch update.mode {
        case .full:
            try await self.send(update, rows: update.rows, append: false, deletes: false, position: position)
        case .incremental:
            if !update.rows.isEmpty || update.deletions.isEmpty {
                try await self.send(update, rows: update.rows, append: true, deletes: false, position: position)
            }
            if !update.deletions.isEmpty {
                try await self.send(update, rows: update.deletions, append: true, deletes: true, position: position)
            }
        }
        self.logger.info(
            "Lookup \(update.table) deployed (\(update.mode.rawValue), \(update.rows.count) rows, \(update.deletions.count) deletions)",
            metadata: ["output.name": "\(self.name)", "lookup.table": "\(update.table)"]
        )
    }

    /// One deploy-csv request: PUT, then POST when the table does not exist yet (nothing to do for a
    /// deletion from a table that does not exist).
    private func send(
        _ update: LookupUpdate,
        rows: [[LookupUpdate.Value]],
        append: Bool,
        deletes: Bool,
        position: Int
    ) async throws {
        let base =
            self.configuration.url.hasSuffix("/") ? String(self.configuration.url.dropLast()) : self.configuration.url
        let url = "\(base)/lookup/\(self.configuration.domain)/\(update.table)/deploy-csv"
        let boundary = self.boundary()
        let body = Self.multipartBody(update, rows: rows, append: append, deletes: deletes, boundary: boundary)
        let headers = [
            ("Authorization", "Bearer \(self.configuration.token)"),
            ("Content-Type", "multipart/form-data; boundary=\(boundary)"),
            ("Accept", "application/json"),
        ]
        for method in [HTTPMethod.PUT, .POST] {
            let answer = try await self.transport.send(method, url: url, shownURL: url, headers: headers, body: body)
            switch answer.status {
            case 200..<300:
                return
            case 404 where method == .PUT:
                if deletes { return }
                continue
            case 400, 409, 413, 422:
                throw EventsRefused(
                    positions: [position],
                    error: TrawlError(
                        .eventsUndeliverable,
                        "output \(self.name): Devo refused the \(update.mode.rawValue) update of lookup \(update.table) with \(answer.status) \(answer.body.prefix(300))",
                        location: self.configuration.location
                    )
                )
            default:
                throw self.transport.unexpected(answer, method, url)
            }
        }
    }

    /// The multipart/form-data body: the `deploy-config` JSON part and the `csv` file part.
    public static func multipartBody(
        _ update: LookupUpdate,
        rows: [[LookupUpdate.Value]],
        append: Bool,
        deletes: Bool,
        boundary: String
    ) -> ByteBuffer {
        var body = ByteBuffer()
        body.writeString("--\(boundary)\r\n")
        body.writeString("Content-Disposition: form-data; name=\"deploy-config\"\r\n")
        body.writeString("Content-Type: application/json\r\n\r\n")
        body.writeString(Self.deployConfig(update, append: append, deletes: deletes))
        body.writeString("\r\n--\(boundary)\r\n")
        body.writeString("Content-Disposition: form-data; name=\"csv\"; filename=\"\(update.table).csv\"\r\n")
        body.writeString("Content-Type: text/csv\r\n\r\n")
        body.writeString(Self.csv(update.columns, rows: rows))
        body.writeString("\r\n--\(boundary)--\r\n")
        return body
    }

    /// `{"keyField":"cve_id","columns":[{"name":"cve_id","type":"str"},...],"append":true,"contribution":{"type":"del"}}`
    public static func deployConfig(_ update: LookupUpdate, append: Bool, deletes: Bool) -> String {
        let columns = update.columns.map { "{\"name\":\(jsonString($0.name)),\"type\":\(jsonString($0.type))}" }
        var json = "{\"keyField\":\(jsonString(update.keyColumn)),\"columns\":[\(columns.joined(separator: ","))]"
        json += ",\"append\":\(append)"
        if deletes { json += ",\"contribution\":{\"type\":\"del\"}" }
        return json + "}"
    }

    /// RFC 4180 CSV: a header row of column names, then the rows; fields with a comma, quote or line break are
    /// quoted with inner quotes doubled; lines end with CRLF.
    public static func csv(_ columns: [LookupUpdate.Column], rows: [[LookupUpdate.Value]]) -> String {
        var text = columns.map { Self.csvField($0.name) }.joined(separator: ",") + "\r\n"
        for row in rows {
            text +=
                row.map { value in
                    switch value {
                    case .string(let string): Self.csvField(string)
                    case .int(let number): String(number)
                    case .float(let number): "\(number)"
                    }
                }.joined(separator: ",") + "\r\n"
        }
        return text
    }

    static func csvField(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else {
            return text
        }
        var quoted = "\""
        for character in text {
            quoted.append(character)
            if character == "\"" { quoted.append("\"") }
        }
        return quoted + "\""
    }

    public func close() async throws {
        try await self.transport.shutdown()
    }
}
