import InMemoryLogging
import Logging

/// A logger whose records tests can read back.
public struct RecordingLogger: Sendable {
    public let logger: Logger
    public let handler: InMemoryLogHandler

    public init(label: String = "test", level: Logger.Level = .debug) {
        var handler = InMemoryLogHandler()
        handler.logLevel = level
        self.handler = handler
        self.logger = Logger(label: label) { _ in handler }
    }

    /// Every message logged so far, as text.
    public var messages: [String] { self.handler.entries.map { "\($0.message)" } }

    /// Every record as one line: level, message and metadata, to check what a log shows in full.
    public var lines: [String] {
        self.handler.entries.map { "\($0.level) \($0.message) \($0.metadata)" }
    }

    /// Messages containing `fragment`.
    public func messages(containing fragment: String) -> [String] {
        self.messages.filter { $0.contains(fragment) }
    }
}
