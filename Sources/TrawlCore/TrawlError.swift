/// An error a Trawl user can act on: a stable numeric id, what went wrong, where, why and how to fix it.
///
/// Modelled on `ServiceGroupError`: a struct with a nested extensible ``Code`` rather than a public enum,
/// so later collectors add codes without breaking callers. Every code is catalogued in `docs/errors.md`.
public struct TrawlError: Error, Sendable, CustomStringConvertible {
    /// A stable error id with its family (`SetupError`, `PersistenceError`, ...), generic cause and fix.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        /// The family the seeds' troubleshooting tables group errors by.
        public var kind: String
        /// The number users search the docs and logs for; never reused for another meaning.
        public var id: Int
        /// A one-line title of the problem.
        public var title: String
        /// Why this typically happens.
        public var cause: String
        /// What the user should do.
        public var fix: String

        public init(kind: String, id: Int, title: String, cause: String, fix: String) {
            self.kind = kind
            self.id = id
            self.title = title
            self.cause = cause
            self.fix = fix
        }

        /// The family an id belongs to, by the ranges docs/errors.md assigns (SetupError 1-99,
        /// PersistenceError 200-299, SourceError 300-399, ApiError 400-499, SinkError 500-599).
        public static func family(ofID id: Int) -> String? {
            switch id {
            case 1...99: "SetupError"
            case 200...299: "PersistenceError"
            case 300...399: "SourceError"
            case 400...499: "ApiError"
            case 500...599: "SinkError"
            default: nil
            }
        }

        public static func == (lhs: Code, rhs: Code) -> Bool { lhs.id == rhs.id }
        public func hash(into hasher: inout Hasher) { hasher.combine(self.id) }
        public var description: String { "\(self.kind) \(self.id)" }
    }

    /// The error code; equality of errors is not defined, compare codes.
    public var code: Code
    /// What exactly is wrong, naming the setting, file or object concerned.
    public var message: String
    /// The setting path (`inputs.s1.services.events.request_period_in_seconds`) or resource, when there is one.
    public var location: String?
    /// A fix more specific than the code's generic one, when the context allows it.
    public var specificFix: String?
    /// The lower-level error that caused this one.
    public var underlying: (any Error)?

    public init(
        _ code: Code,
        _ message: String,
        location: String? = nil,
        fix: String? = nil,
        underlying: (any Error)? = nil
    ) {
        self.code = code
        self.message = message
        self.location = location
        self.specificFix = fix
        self.underlying = underlying
    }

    /// The fix to show: the specific one when known, else the code's generic one.
    public var fix: String { self.specificFix ?? self.code.fix }

    /// `SetupError 4 at inputs.x.id: ... Fix: ...`, the line `trawl validate` prints.
    public var description: String {
        var text = "\(self.code.kind) \(self.code.id)"
        if let location { text += " at \(location)" }
        text += ": \(self.message)"
        if let underlying { text += " (\(underlying))" }
        text += ". Fix: \(self.fix)"
        return text
    }
}
