import Foundation
import Logging
import NIOCore
import TrawlCore

/// A response action on endpoints or threats (the seed's Respond function).
public enum SentinelOneResponseAction: String, Sendable, CaseIterable {
    case disconnect
    case reconnect
    case initiateScan = "initiate-scan"
    case kill
    case quarantine
    case unquarantine = "un-quarantine"
    case remediate
    case rollbackRemediation = "rollback-remediation"

    /// The API path under `/web/api/v2.1`.
    public var path: String {
        switch self {
        case .disconnect: "/agents/actions/disconnect"
        case .reconnect: "/agents/actions/connect"
        case .initiateScan: "/agents/actions/initiate-scan"
        case .kill, .quarantine, .unquarantine, .remediate, .rollbackRemediation: "/threats/mitigate/\(self.rawValue)"
        }
    }

    /// Whether the ids name agents (else threats).
    public var targetsAgents: Bool { self.path.hasPrefix("/agents/") }
}

/// Takes response actions on a console and writes each to an audit log. Only a token of the Admin role may;
/// a Viewer token gets ApiError 441. Remediate applies to Windows and macOS endpoints only: for threats on
/// any other endpoint a quarantine is performed instead, as the seed does.
public struct SentinelOneResponder: Sendable {
    /// One call the responder makes (or, in a dry run, would make).
    public struct Call: Sendable, Equatable {
        public var action: SentinelOneResponseAction
        public var ids: [String]
        public var body: String

        public var line: String { "POST \(SentinelOneConsole.apiPath)\(self.action.path) \(self.body)" }
    }

    /// What a call did.
    public struct Outcome: Sendable {
        public var call: Call
        /// Endpoints or threats the console says it acted on; nil in a dry run.
        public var affected: Int?
    }

    public let console: SentinelOneConsole
    /// Where every action is recorded, one JSON object per line.
    public let auditLogPath: String
    /// Who asked (the operator's name), for the audit log.
    public let requester: String

    public init(console: SentinelOneConsole, auditLogPath: String, requester: String) {
        self.console = console
        self.auditLogPath = auditLogPath
        self.requester = requester
    }

    /// The calls `action` on `ids` takes: for remediate, the threats on endpoints that are neither Windows
    /// nor macOS are quarantined instead (their operating system is read from the console).
    public func plan(_ action: SentinelOneResponseAction, ids: [String], logger: Logger) async throws -> [Call] {
        guard action == .remediate else { return [Self.call(action, ids)] }
        let answer = try await self.console.get(
            "/threats",
            query: [("ids", ids.joined(separator: ",")), ("limit", "1000")],
            logger: logger
        )
        let page = try SentinelOnePage(answer, resource: "\(self.console.configuration.url)/threats")
        var remediable: [String] = []
        var others: [String] = []
        for record in page.records {
            let object = try? JSONSerialization.jsonObject(with: Data(record.bytes.readableBytesView)) as? [String: Any]
            let id = object?["id"] as? String ?? ""
            let system = ((object?["agentRealtimeInfo"] as? [String: Any])?["agentOsType"] as? String ?? "")
                .lowercased()
            if system == "windows" || system == "macos" { remediable.append(id) } else { others.append(id) }
        }
        let unknown = ids.filter { !remediable.contains($0) && !others.contains($0) }
        if !unknown.isEmpty {
            logger.warning("No threat with id(s) \(unknown.joined(separator: ", ")) on the console: left out")
        }
        if !others.isEmpty {
            logger.warning(
                "Threat(s) \(others.joined(separator: ", ")) are on endpoints that are neither Windows nor macOS: remediate does not apply there, they are quarantined instead"
            )
        }
        return (remediable.isEmpty ? [] : [Self.call(.remediate, remediable)])
            + (others.isEmpty ? [] : [Self.call(.quarantine, others)])
    }

    static func call(_ action: SentinelOneResponseAction, _ ids: [String]) -> Call {
        let filter = "{\"filter\":{\"ids\":[\(ids.map(jsonString).joined(separator: ","))]}"
        return Call(action: action, ids: ids, body: action == .initiateScan ? filter + ",\"data\":{}}" : filter + "}")
    }

    /// Takes `action` on `ids` (or, with `dryRun`, only plans it), recording every call in the audit log.
    ///
    /// - Throws: ApiError 441 (``TrawlError``) when the token's role is not Admin, and the console's other
    ///   errors; what was done before is in the audit log.
    public func respond(
        _ action: SentinelOneResponseAction,
        ids: [String],
        dryRun: Bool,
        logger: Logger
    ) async throws -> [Outcome] {
        try self.checkAuditLog()
        let calls = try await self.plan(action, ids: ids, logger: logger)
        var outcomes: [Outcome] = []
        for call in calls {
            if dryRun {
                try self.audit(call, requested: action, result: "dry run: not sent")
                outcomes.append(Outcome(call: call, affected: nil))
                continue
            }
            do {
                let answer = try await self.console.post(call.action.path, json: Array(call.body.utf8), logger: logger)
                let object = try? JSONSerialization.jsonObject(with: Data(answer.readableBytesView)) as? [String: Any]
                guard let affected = (object?["data"] as? [String: Any])?["affected"] as? Int else {
                    throw TrawlError(
                        .sentinelOneAnswerUnreadable,
                        "\(call.line) was sent, but its answer does not say how many were affected; it starts with \(String(buffer: answer).prefix(120).debugDescription)",
                        location: "\(self.console.configuration.url)\(call.action.path)",
                        fix:
                            "Look the action up in the console's activity log before repeating it; check console_url and any proxy in between."
                    )
                }
                try self.audit(call, requested: action, result: "affected \(affected)")
                outcomes.append(Outcome(call: call, affected: affected))
            } catch var error as TrawlError {
                if error.code == .sentinelOneForbidden {
                    error.specificFix =
                        "Response actions need a token of the Admin role (a Viewer may only collect): use an Admin user's or service user's token."
                }
                try self.audit(call, requested: action, result: "failed: \(error.code): \(error.message)")
                throw error
            }
        }
        return outcomes
    }

    /// Fails before anything is sent when the audit log cannot be written.
    func checkAuditLog() throws {
        guard let file = FileHandle(forWritingAtPath: self.auditLogPath) ?? Self.create(self.auditLogPath) else {
            throw self.auditLogUnwritable()
        }
        try? file.close()
    }

    private func auditLogUnwritable() -> TrawlError {
        TrawlError(
            .stateWriteFailed,
            "the audit log \(self.auditLogPath) cannot be written",
            location: self.auditLogPath,
            fix: "Point --audit-log at a writable file: no action is taken without its record."
        )
    }

    /// Appends one line to the audit log: when, who, what, on which ids, and the result.
    func audit(_ call: Call, requested: SentinelOneResponseAction, result: String) throws {
        let entry: [String: Any] = [
            "time": UTCTimestamp.now().sentinelOneText, "requester": self.requester,
            "console": self.console.configuration.url, "requested": requested.rawValue,
            "action": call.action.rawValue, "endpoint": "\(SentinelOneConsole.apiPath)\(call.action.path)",
            "ids": call.ids, "result": result,
        ]
        var line = try JSONSerialization.data(withJSONObject: entry, options: [.sortedKeys])
        line.append(0x0a)
        guard let file = FileHandle(forWritingAtPath: self.auditLogPath) ?? Self.create(self.auditLogPath) else {
            throw self.auditLogUnwritable()
        }
        defer { try? file.close() }
        try file.seekToEnd()
        try file.write(contentsOf: line)
        try file.synchronize()
    }

    private static func create(_ path: String) -> FileHandle? {
        guard FileManager.default.createFile(atPath: path, contents: nil) else { return nil }
        return FileHandle(forWritingAtPath: path)
    }
}
