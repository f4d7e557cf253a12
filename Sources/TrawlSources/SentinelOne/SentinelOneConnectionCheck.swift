import Logging
import TrawlCore

/// `trawl sentinelone test-connection`: whether the console answers at its URL, accepts the token, and lets
/// the token's role read each content type, so a misconfiguration shows before the first pull.
public enum SentinelOneConnectionCheck {
    /// What the console said for one content type.
    public struct Result: Sendable {
        public var content: SentinelOneContentType
        /// Nil when the role can read it.
        public var error: TrawlError?

        public var readable: Bool { self.error == nil }

        /// `agents (/agents): readable`, or the failure and what to check.
        public var line: String {
            guard let error else { return "\(self.content.service) (\(self.content.path)): readable" }
            var text = "\(self.content.service) (\(self.content.path)): NOT readable: \(error.code): \(error.message)"
            if error.code == .sentinelOneForbidden {
                text += ". The token's role needs \(self.content.permission)"
            } else {
                text += ". \(error.fix)"
            }
            return text
        }
    }

    /// Errors that every content type would meet alike: the first is reported for all.
    public static let consoleWide: Set<TrawlError.Code> = [
        .sentinelOneUnreachable, .sentinelOneUnauthorized, .sentinelOneRedirected,
    ]

    /// Asks the console for one record of each content type. A console that cannot be reached, refuses the
    /// token itself (401) or redirects answers every content type the same: the others are reported with that
    /// error without asking, instead of each waiting out the connect timeout and retries (minutes in all).

    public static func run(
        console: SentinelOneConsole,
        contents: [SentinelOneContentType] = SentinelOneContentType.listed + [.installedApplications],
        logger: Logger
    ) async -> [Result] {
        var results: [Result] = []
        for content in contents {
            if let last = results.last?.error, Self.consoleWide.contains(last.code) {
                results.append(Result(content: content, error: last))
                continue
            }
            do {
                let answer = try await console.get(content.path, query: [("limit", "1")], logger: logger)
                _ = try SentinelOnePage(answer, resource: "\(console.configuration.url)\(content.path)")
                results.append(Result(content: content, error: nil))
            } catch let error as TrawlError {
                results.append(Result(content: content, error: error))
            } catch {
                results.append(
                    Result(content: content, error: TrawlError(.sentinelOneUnreachable, "\(error)"))
                )
            }
        }
        return results
    }
}
