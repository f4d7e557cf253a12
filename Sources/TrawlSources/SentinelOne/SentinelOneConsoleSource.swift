import TrawlCore

/// What the SentinelOne services share: a console whose connection pool lives as long as the service runs,
/// a content type, and their settings.
public protocol SentinelOneConsoleSource: PullingSource {
    var console: SentinelOneConsole { get }
    var content: SentinelOneContentType { get }
    var settings: SentinelOneServiceSettings { get }
}

extension SentinelOneConsoleSource {
    /// The Devo table: the configured `tag`, else the content type's.
    var tag: String { self.settings.tag ?? self.content.defaultTag }

    /// Runs the service's cycles, then closes the console's connections.
    public func withResources(_ body: () async throws -> Void) async throws {
        try await closing(self.console.shutdown, after: body)
    }

    /// Publishes `events` and waits until every output accepted them, so the caller may then save its
    /// position.
    func deliver(_ events: [Event], unit: String, context: PullContext) async throws {
        let acknowledgement = Acknowledgement(unit: unit)
        try await context.dispatcher.publish(events, acknowledgement: acknowledgement)
        acknowledgement.seal()
        try await acknowledgement.delivered()
    }
}
